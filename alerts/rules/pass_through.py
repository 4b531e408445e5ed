"""Pass-through: the straight path between two fixes crosses an exclusion zone.

A device reporting every minute can drive through a school campus between two fixes that are
both outside it. The segment between consecutive fixes of a device is tested when both ends are
certainly outside the zone (else the exclusion rule itself decides) and they are at most
:data:`MAX_GAP_S` apart (beyond that the straight line says little about the road taken).

It passes *certainly* through when some point of the segment lies inside the zone by more than
the larger accuracy of its two ends: each end is off by at most its accuracy, so the true
straight segment lies within that distance of the measured one. Such a segment raises one alert,
opened and cleared at once (the crossing is over when it is known).

>>> from geofence.zones import Zone
>>> from geofence.zoneset import ZoneSet
>>> zs = ZoneSet([Zone.from_feature({"type": "Feature", "id": "school",
...     "properties": {"kind": "exclusion", "radius_m": 100},
...     "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}})])
>>> passes(zs, np.array([-0.01, -0.01]), np.array([0.0, 0.0015]), np.array([10.0, 10.0]),
...        np.array([0.01, 0.01]), np.array([0.0, 0.0015]), np.array([10.0, 10.0]),
...        np.array([0, 0])).tolist()
[True, False]
"""

from __future__ import annotations

import numpy as np

from geofence import INSIDE, OUTSIDE
from geofence.distance import distance_m
from geofence.zoneset import ZoneSet

KIND = "pass_through"
SEVERITY = "high"
MAX_GAP_S = 300.0
STEP_M = 5.0  # spacing of the points tested along a segment
MAX_STEPS = 2000


def passes(zoneset: ZoneSet, lon0: np.ndarray, lat0: np.ndarray, acc0: np.ndarray,
           lon1: np.ndarray, lat1: np.ndarray, acc1: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """Per segment (and zone): whether it certainly passes through while both ends are certainly
    outside."""
    n = len(zone)
    out = np.zeros(n, dtype=bool)
    if not n:
        return out
    ends_lon, ends_lat = np.concatenate([lon0, lon1]), np.concatenate([lat0, lat1])
    ends = zoneset.classify(ends_lon, ends_lat, np.concatenate([acc0, acc1]),
                            np.arange(2 * n), np.concatenate([zone, zone]))
    outside = (ends[:n] == OUTSIDE) & (ends[n:] == OUTSIDE)
    idx = np.arange(2 * n)
    meets = zoneset.segment_enters(ends_lon, ends_lat, idx[:n], idx[n:], zone)
    cand = np.flatnonzero(outside & meets)
    if not len(cand):
        return out
    length = distance_m(lon0[cand], lat0[cand], lon1[cand], lat1[cand])
    steps = np.clip(np.ceil(length / STEP_M).astype(np.int64), 1, MAX_STEPS) + 1
    seg = np.repeat(np.arange(len(cand)), steps)
    start = np.cumsum(steps) - steps
    f = (np.arange(len(seg)) - np.repeat(start, steps)) / np.repeat(steps - 1, steps)
    c = cand[seg]
    lon = lon0[c] + f * (lon1[c] - lon0[c])
    lat = lat0[c] + f * (lat1[c] - lat0[c])
    acc = np.maximum(acc0[c], acc1[c])
    inside = zoneset.classify(lon, lat, acc, np.arange(len(seg)), zone[c]) == INSIDE
    hit = np.zeros(len(cand), dtype=bool)
    np.logical_or.at(hit, seg, inside)
    out[cand] = hit
    return out
