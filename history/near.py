"""Who was near a point: from the fixes the cell index returned (a superset of the disk), the
people within the radius, each with their closest fix, how many fixes lay within the radius,
when (visits), and the gaps in their coverage over the window.

Distances are geodesic on WGS 84 (pyproj), the same a brute-force check computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]
GEOD = Geod(ellps="WGS84")


@dataclass(slots=True)
class Candidates:
    """Fixes from the index, one row each."""

    supervisee_id: npt.NDArray[np.object_]
    device_id: npt.NDArray[np.object_]
    ts: FloatArray
    lon: FloatArray
    lat: FloatArray
    accuracy_m: FloatArray


@dataclass(slots=True)
class Nearby:
    """One person found within the radius."""

    supervisee_id: str
    closest_m: float
    closest_ts: float
    closest_device_id: str
    closest_lon: float
    closest_lat: float
    closest_accuracy_m: float
    fixes_within: int
    visits: list[tuple[float, float, int]]  # (first, last fix time within R, fixes)
    fixes: list[tuple[str, float, float, float, float, float]] = field(default_factory=list)
    # (device, ts, lon, lat, accuracy_m, distance_m), at most max_fixes, closest first
    gaps: list[tuple[float, float]] = field(default_factory=list)


def distances_m(lon: float, lat: float, lons: FloatArray, lats: FloatArray) -> FloatArray:
    if len(lons) == 0:
        return np.zeros(0)
    _, _, d = GEOD.inv(np.full(len(lons), lon), np.full(len(lons), lat), lons, lats)
    return np.asarray(d, dtype=np.float64)


def nearby(c: Candidates, lon: float, lat: float, radius_m: float, visit_gap_s: float = 600.0,
           max_fixes: int = 100) -> list[Nearby]:
    """The people with at least one fix within ``radius_m`` of (lon, lat), closest first."""
    d = distances_m(lon, lat, c.lon, c.lat)
    inside = np.flatnonzero(d <= radius_m)
    if not len(inside):
        return []
    who = c.supervisee_id[inside]
    out = []
    for person in sorted(set(who.tolist())):
        rows = inside[who == person]
        rows = rows[np.argsort(c.ts[rows], kind="stable")]
        best = rows[int(np.argmin(d[rows]))]
        t = c.ts[rows]
        cuts = np.flatnonzero(np.diff(t) > visit_gap_s) + 1
        visits = [(float(t[g[0]]), float(t[g[-1]]), len(g)) for g in np.split(np.arange(len(t)),
                                                                               cuts)]
        shown = rows[np.argsort(d[rows], kind="stable")[:max_fixes]]
        out.append(Nearby(
            person, float(d[best]), float(c.ts[best]), str(c.device_id[best]),
            float(c.lon[best]), float(c.lat[best]), float(c.accuracy_m[best]), len(rows), visits,
            [(str(c.device_id[i]), float(c.ts[i]), float(c.lon[i]), float(c.lat[i]),
              float(c.accuracy_m[i]), float(d[i])) for i in shown.tolist()]))
    out.sort(key=lambda n: n.closest_m)
    return out
