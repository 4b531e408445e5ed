"""Who was with whom: people within ``radius_m`` of each other for at least ``min_s``.

Time is cut into steps of ``step_s`` (60 s) from the window's start. In each step a person is
where their newest fix before the step's end puts them (any of their devices), provided that
fix is no more than ``hold_s`` older than the step's start — a person who sends one fix every
five minutes is placed in the minutes between, one whose devices fell silent is placed nowhere
(unknown is not absent, and never "together"). Two people are together in a step when both
are placed and their great-circle distance is at most ``radius_m``. A *meeting* is a run of
consecutive steps together lasting at least ``min_s``; its span runs from the first step's
start to the last step's end.

The same definition answers two questions:

- :func:`with_person` — who was with this person over a period (one against everyone whose
  fixes came near their path; the candidates are found in the database by the cell index);
- :func:`colocations` — every pair of people together over a period (the nightly pass that
  keeps the gathering history): one placement per person per step, a grid join per step on
  cells at least ``radius_m`` wide, then exact distances for the pairs in neighbouring cells.

:func:`colocations_reference` answers by brute force (every pair in every step), for tests.

>>> ts = np.array([0.0, 60.0, 120.0, 180.0])
>>> a = Placed.of(np.array(["a"] * 4 + ["b"] * 4, dtype=object), np.tile(ts, 2),
...               np.array([10.0] * 4 + [10.0001] * 4), np.array([50.0] * 8),
...               start=0.0, end=240.0)
>>> [(m.a, m.b, m.start, m.end) for m in colocations(a, radius_m=50.0, min_s=120.0)]
[('a', 'b', 0.0, 240.0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import h3
import numpy as np
import numpy.typing as npt

from history.cells import cells_of, haversine_m

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_M_PER_DEG = 111_194.93  # metres per degree of a great circle (mean Earth radius)


@dataclass(frozen=True, slots=True)
class Meeting:
    """Two people together from ``start`` to ``end`` (seconds), ``steps`` steps in a row."""

    a: str
    b: str
    start: float
    end: float
    steps: int
    closest_m: float
    closest_ts: float  # the end of the step in which they were closest
    lon: float  # midpoint of the two placements when closest
    lat: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class Placed:
    """Each person's placement in each step: ``lon[p, k]`` / ``lat[p, k]``, NaN where unknown.
    Step ``k`` covers ``[start + k·step_s, start + (k+1)·step_s)``."""

    people: list[str]
    lon: FloatArray  # (people, steps)
    lat: FloatArray
    start: float
    step_s: float

    @property
    def steps(self) -> int:
        return self.lon.shape[1]

    @classmethod
    def of(cls, person: npt.NDArray[np.object_], ts: FloatArray, lon: FloatArray,
           lat: FloatArray, *, start: float, end: float, step_s: float = 60.0,
           hold_s: float = 300.0) -> Placed:
        """Place everyone from their fixes (one row each, any order; ``person`` names whose).
        Fixes before ``start - hold_s`` cannot place anyone and may be left out."""
        steps = max(int(math.ceil((end - start) / step_s)), 0)
        people, who = np.unique(person.astype(str), return_inverse=True)
        out_lon = np.full((len(people), steps), np.nan)
        out_lat = np.full((len(people), steps), np.nan)
        if steps and len(ts):
            # Newest fix per person at or before each step's end: sort by (person, ts), then for
            # each step end the last fix not after it.
            order = np.lexsort((ts, who))
            w, t = who[order], ts[order]
            x, y = lon[order], lat[order]
            ends = start + step_s * np.arange(1, steps + 1)
            bounds = np.searchsorted(w, np.arange(len(people) + 1))
            for p in range(len(people)):
                lo, hi = bounds[p], bounds[p + 1]
                tp = t[lo:hi]
                # A fix exactly at a step's end belongs to the next step.
                i = np.searchsorted(tp, ends, side="left") - 1
                j = np.maximum(i, 0)
                ok = (i >= 0) & (tp[j] >= ends - step_s - hold_s)
                out_lon[p, ok] = x[lo:hi][j[ok]]
                out_lat[p, ok] = y[lo:hi][j[ok]]
        return cls(people.tolist(), out_lon, out_lat, start, step_s)


def _runs(steps: IntArray, min_steps: int) -> list[tuple[int, int]]:
    """Runs of consecutive step numbers (sorted, distinct) at least ``min_steps`` long, as
    (first, last)."""
    if not len(steps):
        return []
    cuts = np.flatnonzero(np.diff(steps) != 1) + 1
    firsts = np.concatenate(([0], cuts))
    lasts = np.concatenate((cuts - 1, [len(steps) - 1]))
    keep = lasts - firsts + 1 >= min_steps
    return list(zip(steps[firsts[keep]].tolist(), steps[lasts[keep]].tolist(), strict=True))


def _meetings(placed: Placed, a: IntArray, b: IntArray, k: IntArray, d: FloatArray,
              min_s: float) -> list[Meeting]:
    """Meetings from the (person a, person b, step, distance) rows found together."""
    if not len(a):
        return []
    min_steps = max(int(math.ceil(min_s / placed.step_s - 1e-9)), 1)
    order = np.lexsort((k, b, a))
    a, b, k, d = a[order], b[order], k[order], d[order]
    new_pair = np.flatnonzero((np.diff(a) != 0) | (np.diff(b) != 0)) + 1
    starts = np.concatenate(([0], new_pair))
    ends = np.concatenate((new_pair, [len(a)]))
    out = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        for first, last in _runs(k[s:e], min_steps):
            lo = s + int(np.searchsorted(k[s:e], first))
            hi = s + int(np.searchsorted(k[s:e], last)) + 1
            c = lo + int(np.argmin(d[lo:hi]))
            pa, pb, kc = int(a[c]), int(b[c]), int(k[c])
            out.append(Meeting(
                placed.people[pa], placed.people[pb],
                placed.start + first * placed.step_s, placed.start + (last + 1) * placed.step_s,
                last - first + 1, float(d[c]), placed.start + (kc + 1) * placed.step_s,
                float((placed.lon[pa, kc] + placed.lon[pb, kc]) / 2),
                float((placed.lat[pa, kc] + placed.lat[pb, kc]) / 2)))
    out.sort(key=lambda m: (m.start, m.a, m.b))
    return out


def colocations(placed: Placed, radius_m: float, min_s: float) -> list[Meeting]:
    """Every pair of people together for at least ``min_s`` (``a`` < ``b`` by id), by start.

    Per step, everyone placed is put on a grid of cells at least ``radius_m`` wide (an
    equirectangular projection at the largest |latitude| present, which shrinks east–west
    distances, never stretches them: two people within ``radius_m`` are always in the same or
    neighbouring cells); the pairs of neighbouring cells are joined by sorting, and only they
    get the exact distance."""
    p_idx, k_idx = np.nonzero(~np.isnan(placed.lon))
    if len(p_idx) < 2:
        return []
    lon, lat = placed.lon[p_idx, k_idx], placed.lat[p_idx, k_idx]
    coslat = math.cos(math.radians(min(float(np.max(np.abs(lat))), 89.0)))
    cell = radius_m / _M_PER_DEG  # degrees of latitude per grid cell
    gx = np.floor(lon * coslat / cell).astype(np.int64)
    gy = np.floor(lat / cell).astype(np.int64)
    # One key per (step, gx, gy), with room for neighbours: gx, gy shifted to be ≥ 1.
    gx -= gx.min() - 1
    gy -= gy.min() - 1
    ny = int(gy.max()) + 2
    nx = int(gx.max()) + 2
    key = (k_idx.astype(np.int64) * nx + gx) * ny + gy
    order = np.argsort(key, kind="stable")
    skey = key[order]
    a_all, b_all = [], []
    # Half the neighbourhood (self, east, north-east, north, north-west) sees each pair of
    # cells once; within the same cell, only i < j.
    for dx, dy in ((0, 0), (1, 0), (1, 1), (0, 1), (-1, 1)):
        target = key + dx * ny + dy
        lo = np.searchsorted(skey, target, side="left")
        hi = np.searchsorted(skey, target, side="right")
        n = hi - lo
        if not n.any():
            continue
        src = np.repeat(np.arange(len(key)), n)
        offs = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        dst = order[np.repeat(lo, n) + offs]
        if dx == 0 and dy == 0:
            keep = src < dst
            src, dst = src[keep], dst[keep]
        a_all.append(src)
        b_all.append(dst)
    if not a_all:
        return []
    src = np.concatenate(a_all)
    dst = np.concatenate(b_all)
    # Each pair in person order, so that its distance is computed as the reference computes it.
    swap = p_idx[src] > p_idx[dst]
    src, dst = np.where(swap, dst, src), np.where(swap, src, dst)
    d = haversine_m(lon[src], lat[src], lon[dst], lat[dst])
    close = d <= radius_m
    src, dst = src[close], dst[close]
    return _meetings(placed, p_idx[src], p_idx[dst], k_idx[src], d[close], min_s)


def colocations_reference(placed: Placed, radius_m: float, min_s: float) -> list[Meeting]:
    """:func:`colocations` by brute force: every pair of people in every step."""
    rows_a, rows_b, rows_k, rows_d = [], [], [], []
    n = len(placed.people)
    for k in range(placed.steps):
        for i in range(n):
            if math.isnan(placed.lon[i, k]):
                continue
            for j in range(i + 1, n):
                if math.isnan(placed.lon[j, k]):
                    continue
                d = float(haversine_m(placed.lon[i, k], placed.lat[i, k],
                                      placed.lon[j, k], placed.lat[j, k]))
                if d <= radius_m:
                    rows_a.append(i)
                    rows_b.append(j)
                    rows_k.append(k)
                    rows_d.append(d)
    return _meetings(placed, np.asarray(rows_a, dtype=np.int64),
                     np.asarray(rows_b, dtype=np.int64), np.asarray(rows_k, dtype=np.int64),
                     np.asarray(rows_d, dtype=np.float64), min_s)


def with_person(placed: Placed, person: str, radius_m: float, min_s: float) -> list[Meeting]:
    """The meetings of ``person`` with everyone else placed (``a`` is always ``person``), by
    start: a distance per step against each other person, no grid needed."""
    if person not in placed.people:
        return []
    me = placed.people.index(person)
    others = np.array([p for p in range(len(placed.people)) if p != me], dtype=np.int64)
    if not len(others):
        return []
    d = haversine_m(placed.lon[me][None, :], placed.lat[me][None, :],
                    placed.lon[others], placed.lat[others])
    with np.errstate(invalid="ignore"):
        o, k = np.nonzero(d <= radius_m)  # NaN (unknown) compares false
    found = _meetings(placed, np.full(len(o), me, dtype=np.int64), others[o],
                      k.astype(np.int64), d[o, k], min_s)
    return sorted(found, key=lambda m: (m.start, m.b))


def path_cells(placed: Placed, person: str, radius_m: float, hold_s: float
               ) -> tuple[list[int], list[float], list[float]]:
    """The cells any fix placing someone within ``radius_m`` of ``person`` must lie in, each
    with the time span in which it matters (``[t0, t1)``): the cover of the disk around each of
    the person's placements, widened by the placement's step and ``hold_s``. A superset: what
    the database returns is narrowed by :func:`with_person`."""
    if person not in placed.people:
        return [], [], []
    me = placed.people.index(person)
    k = np.flatnonzero(~np.isnan(placed.lon[me]))
    if not len(k):
        return [], [], []
    centre = cells_of(placed.lon[me, k], placed.lat[me, k])
    # Ring r of the hexagonal grid lies at least 1.5·r·edge from the centre cell; the edge
    # (circumradius) measured on the first cell with a 15 % margin either way, as
    # history.cells.disk_cover does. A fix within radius_m of a placement lies in a cell whose
    # centre is within radius_m plus a circumradius of the placement, itself within one
    # circumradius of its cell's centre.
    b = h3.api.basic_int
    clat, clon = b.cell_to_latlng(int(centre[0]))
    verts = np.asarray(b.cell_to_boundary(int(centre[0])))
    circum = float(np.max(haversine_m(clon, clat, verts[:, 1], verts[:, 0])))
    rings = int(math.ceil((radius_m + 2 * circum * 1.15) / (1.5 * circum * 0.85)))
    t0: dict[int, float] = {}
    t1: dict[int, float] = {}
    step_start = placed.start + k * placed.step_s
    uniq, inv = np.unique(centre, return_inverse=True)
    first = np.full(len(uniq), np.inf)
    last = np.full(len(uniq), -np.inf)
    np.minimum.at(first, inv, step_start)
    np.maximum.at(last, inv, step_start + placed.step_s)
    disk = b.grid_disk
    for c, a, b in zip(uniq.tolist(), first.tolist(), last.tolist(), strict=True):
        for n in disk(c, rings):
            t0[n] = min(t0.get(n, a), a)
            t1[n] = max(t1.get(n, b), b)
    cells = sorted(t0)
    return (cells, [t0[c] - hold_s - placed.step_s for c in cells], [t1[c] for c in cells])
