"""Where a person spends their time (their "home range"): observed time per H3 cell over a
period, and the smallest sets of cells that hold half and 95 % of it (the core and the range).

Each fix stands for the time until the person's next fix (any device), at most ``hold_s``: a
stretch without fixes longer than that counts only its first ``hold_s``, so a device that was
off adds no time anywhere — the shares are of the *observed* time. Cells are H3 hexagons
(resolution 9: ~0.1 km², about a city block).

>>> ts = np.array([0.0, 60.0, 120.0, 180.0, 4000.0])
>>> lon = np.array([10.0, 10.0, 10.0, 10.02, 10.02]); lat = np.full(5, 50.0)
>>> d = density(ts, lon, lat, hold_s=600.0)
>>> [(round(c.share, 3), c.seconds) for c in d.cells]
[(0.769, 600.0), (0.231, 180.0)]
>>> d.core_50, d.core_95
(1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np
import numpy.typing as npt

from history.cells import cells_of

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CellTime:
    cell: int
    seconds: float
    share: float  # of all observed time
    rank: int  # 0: the cell with the most time


@dataclass(frozen=True, slots=True)
class Density:
    cells: list[CellTime]  # most time first
    observed_s: float
    core_50: int  # the first this many cells hold at least half the observed time
    core_95: int


def density(ts: FloatArray, lon: FloatArray, lat: FloatArray, resolution: int = 9,
            hold_s: float = 600.0, end: float | None = None) -> Density:
    """Observed time per cell from one person's fixes (any order, any devices); the last fix
    stands until ``end`` (at most ``hold_s``; without ``end``, for nothing)."""
    if not len(ts):
        return Density([], 0.0, 0, 0)
    order = np.argsort(ts, kind="stable")
    t = np.asarray(ts, dtype=np.float64)[order]
    nxt = np.append(t[1:], t[-1] if end is None else max(end, t[-1]))
    held = np.minimum(nxt - t, hold_s)
    cells = cells_of(np.asarray(lon)[order], np.asarray(lat)[order], resolution)
    uniq, inv = np.unique(cells, return_inverse=True)
    seconds = np.bincount(inv, weights=held, minlength=len(uniq))
    total = float(seconds.sum())
    rank = np.lexsort((uniq, -seconds))
    out, cum, core_50, core_95 = [], 0.0, 0, 0
    for r, k in enumerate(rank.tolist()):
        share = float(seconds[k] / total) if total > 0 else 0.0
        out.append(CellTime(int(uniq[k]), float(seconds[k]), share, r))
        cum += share
        if not core_50 and cum >= 0.5 - 1e-12:
            core_50 = r + 1
        if not core_95 and cum >= 0.95 - 1e-12:
            core_95 = r + 1
    return Density(out, total, core_50 or len(out), core_95 or len(out))


def cell_polygon(cell: int) -> list[list[float]]:
    """The hexagon (or pentagon) of ``cell`` as a closed GeoJSON ring, lon/lat."""
    ring = [[lng, lat] for lat, lng in h3.api.basic_int.cell_to_boundary(cell)]
    return [*ring, ring[0]]
