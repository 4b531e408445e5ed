"""Who was near a point: the people within the radius, each with their closest fix, how many fixes
lay within the radius, when (visits), the closest fixes, and the gaps in their coverage over the
window.

:func:`nearby` is the reference: the exact geodesic distance (pyproj, the same a brute-force check
computes) of every candidate fix. :func:`nearby_planar` gives the same answer for a fraction of
the cost: a local planar distance on the WGS 84 ellipsoid (:func:`planar_scale`, within 5 mm of
the geodesic up to 5 km at |latitude| ≤ 80°, measured against pyproj) decides inside or outside
for every fix farther than :func:`margin_m` from the circle, and only the fixes near the circle
and each person's closest few get the geodesic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]
GEOD = Geod(ellps="WGS84")
_A = 6_378_137.0
_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)


@dataclass(slots=True)
class Candidates:
    """Fixes, one row each."""

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


def planar_scale(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude (before the cosine of the mean latitude) and of latitude
    at ``lat``: the prime-vertical and meridional radii of curvature of WGS 84. The distance
    ``hypot((lon - lon0) · kx · cos(mean lat), (lat - lat0) · ky)`` is what the database
    computes per fix.

    >>> kx, ky = planar_scale(30.0)
    >>> lon1, lat1, _ = GEOD.fwd(-97.7, 30.0, 37.0, 1500.0)
    >>> d = math.hypot((lon1 + 97.7) * kx * math.cos(math.radians((lat1 + 30.0) / 2)),
    ...                (lat1 - 30.0) * ky)
    >>> abs(d - 1500.0) < 0.005
    True
    """
    s = math.sin(math.radians(lat))
    w = math.sqrt(1.0 - _E2 * s * s)
    return math.radians(1.0) * _A / w, math.radians(1.0) * _A * (1.0 - _E2) / w ** 3


def margin_m(radius_m: float) -> float:
    """How far from the circle the planar distance is not trusted to decide inside or outside
    (ten times its largest error measured up to 5 km)."""
    return 0.05 + 1e-5 * radius_m


def nearby_planar(c: Candidates, lon: float, lat: float, radius_m: float,
                  visit_gap_s: float = 600.0, max_fixes: int = 100) -> list[Nearby]:
    """:func:`nearby`'s answer, with the exact geodesic distance computed only for the fixes
    that decide it: those within :func:`margin_m` of the circle by the planar distance, and
    each person's closest few (the ``max_fixes`` closest by the planar distance and any within
    twice the margin of the last of them). The others are inside or outside by the planar
    distance alone, which errs by far less than the margin."""
    if not len(c.ts):
        return []
    kx, ky = planar_scale(lat)
    planar = np.hypot((c.lon - lon) * kx * np.cos(np.radians((c.lat + lat) / 2)),
                      (c.lat - lat) * ky)
    margin = margin_m(radius_m)
    inner = radius_m - margin
    near = np.flatnonzero(planar <= radius_m + margin)
    if not len(near):
        return []
    people, which = np.unique(c.supervisee_id[near].astype(str), return_inverse=True)
    by_person = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[by_person], np.arange(len(people) + 1))
    out = []
    for k, sid in enumerate(people.tolist()):
        rows = near[by_person[bounds[k]:bounds[k + 1]]]
        p = planar[rows]
        top = min(len(rows), max(max_fixes, 1))
        kth = np.partition(p, top - 1)[top - 1]
        cand = rows[(p <= kth + 2 * margin) | (p >= inner)]
        d = distances_m(lon, lat, c.lon[cand], c.lat[cand])
        inside = d <= radius_m
        sure = rows[p < inner]
        border_in = cand[inside & (planar[cand] >= inner)]
        within = np.concatenate((sure, border_in))
        if not len(within):
            continue
        t = np.sort(c.ts[within])
        cuts = np.flatnonzero(np.diff(t) > visit_gap_s) + 1
        firsts = np.concatenate(([0], cuts))
        lasts = np.concatenate((cuts - 1, [len(t) - 1]))
        visits = [(float(t[a]), float(t[b]), int(b - a + 1))
                  for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True)]
        cand, d = cand[inside], d[inside]
        order = np.lexsort((c.ts[cand], d))  # closest first, then earliest
        best = int(cand[order[0]])
        out.append(Nearby(
            sid, float(d[order[0]]), float(c.ts[best]), str(c.device_id[best]),
            float(c.lon[best]), float(c.lat[best]), float(c.accuracy_m[best]), len(within),
            visits,
            [(str(c.device_id[cand[i]]), float(c.ts[cand[i]]), float(c.lon[cand[i]]),
              float(c.lat[cand[i]]), float(c.accuracy_m[cand[i]]), float(d[i]))
             for i in order[:max_fixes].tolist()]))
    out.sort(key=lambda n: (n.closest_m, n.supervisee_id))
    return out


def nearby(c: Candidates, lon: float, lat: float, radius_m: float, visit_gap_s: float = 600.0,
           max_fixes: int = 100) -> list[Nearby]:
    """The reference answer from every candidate fix: the people with at least one fix within
    ``radius_m`` of (lon, lat), closest first."""
    d = distances_m(lon, lat, c.lon, c.lat)
    inside = np.flatnonzero(d <= radius_m)
    if not len(inside):
        return []
    who = c.supervisee_id[inside]
    out = []
    for p in sorted(set(who.tolist())):
        rows = inside[who == p]
        rows = rows[np.argsort(c.ts[rows], kind="stable")]
        best = rows[int(np.argmin(d[rows]))]
        t = c.ts[rows]
        cuts = np.flatnonzero(np.diff(t) > visit_gap_s) + 1
        visits = [(float(t[g[0]]), float(t[g[-1]]), len(g)) for g in np.split(np.arange(len(t)),
                                                                               cuts)]
        shown = rows[np.argsort(d[rows], kind="stable")[:max_fixes]]
        out.append(Nearby(
            p, float(d[best]), float(c.ts[best]), str(c.device_id[best]),
            float(c.lon[best]), float(c.lat[best]), float(c.accuracy_m[best]), len(rows), visits,
            [(str(c.device_id[i]), float(c.ts[i]), float(c.lon[i]), float(c.lat[i]),
              float(c.accuracy_m[i]), float(d[i])) for i in shown.tolist()]))
    out.sort(key=lambda n: n.closest_m)
    return out


def coverage_gaps(ts: FloatArray, lo: float, hi: float, gap_s: float
                  ) -> list[tuple[float, float]]:
    """The stretches of ``[lo, hi)`` longer than ``gap_s`` without a fix, from the times of all
    of a person's fixes in that window (any order); the window's ends count, and no fix at all
    is no gap (nobody was found).

    >>> coverage_gaps(np.array([2000.0, 100.0, 160.0, 1500.0, 2060.0]), 0.0, 3000.0, 600.0)
    [(160.0, 1500.0), (2060.0, 3000.0)]
    """
    if not len(ts):
        return []
    t = np.sort(ts)
    out = [(lo, float(t[0]))] if t[0] - lo > gap_s else []
    steps = np.flatnonzero(np.diff(t) > gap_s)
    out += [(float(t[i]), float(t[i + 1])) for i in steps.tolist()]
    if hi - t[-1] > gap_s:
        out.append((float(t[-1]), hi))
    return out
