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

import copy
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, BatchRule, Changes
from alerts.verdict import Verdict
from geofence import INSIDE, OUTSIDE
from geofence.distance import distance_m
from geofence.zoneset import ZoneSet

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange

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


class PassThroughRule(BatchRule):
    """Segments from each fresh fix's predecessor (same device) crossing an exclusion zone."""

    kinds = frozenset({KIND})

    def __init__(self, roster: Roster):
        self.roster = roster
        self._applies = _applies(roster, 0)

    def patched(self, roster: Roster, change: RosterChange) -> PassThroughRule:
        """After a registry change: the new assignments' flags added, the dead ones off."""
        new = copy.copy(self)
        new.roster = roster
        new._applies = np.concatenate([self._applies, _applies(roster, change.first_new)])
        new._applies[change.dead] = False
        return new

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if not batch.any_fresh:
            return out
        r, decided = self.roster, batch.decided
        fix_batch, rows = decided.batch, decided.rows
        k = np.flatnonzero(self._applies[decided.pair_assignment]
                           & (decided.verdicts == Verdict.COMPLIANT)
                           & batch.fresh[decided.pair_fix])
        if not len(k):
            return out
        ts, lon, lat = fix_batch.ts[rows], fix_batch.lon[rows], fix_batch.lat[rows]
        acc, dev = fix_batch.accuracy_m[rows], decided.device_no
        # Each fix's predecessor: the previous fix of its device in this batch, else the
        # newest one before it.
        by_dev = np.lexsort((ts, dev))
        prev = np.full(len(rows), -1, dtype=np.int64)
        same = dev[by_dev][1:] == dev[by_dev][:-1]
        prev[by_dev[1:][same]] = by_dev[:-1][same]
        fix = decided.pair_fix[k]
        p = prev[fix]
        act = r.activity
        d = dev[fix]
        p_ts = np.where(p >= 0, ts[np.maximum(p, 0)], act.fix_ts[d])
        p_lon = np.where(p >= 0, lon[np.maximum(p, 0)], act.lon[d])
        p_lat = np.where(p >= 0, lat[np.maximum(p, 0)], act.lat[d])
        p_acc = np.where(p >= 0, acc[np.maximum(p, 0)], act.acc[d])
        near = (ts[fix] - p_ts <= MAX_GAP_S) & (ts[fix] > p_ts)  # NaN: False
        k, fix, p_ts, p_lon, p_lat, p_acc = (x[near] for x in (k, fix, p_ts, p_lon, p_lat, p_acc))
        if not len(k):
            return out
        zone = r.assignments.zone[decided.pair_assignment[k]]
        hits = passes(r.zoneset, p_lon, p_lat, p_acc, lon[fix], lat[fix], acc[fix], zone)
        for j in np.flatnonzero(hits).tolist():
            a = int(decided.pair_assignment[k[j]])
            zone_key = r.key_of_assignment[a]
            if staging.has_state(zone_key) and staging.state(zone_key).open:
                continue  # already in an episode about this zone
            key = EpisodeKey(zone_key.supervisee_id, zone_key.subject, KIND)
            device = fix_batch.device_id[int(rows[fix[j]])]
            for verdict, t, x, y in ((Verdict.VIOLATING, p_ts[j], p_lon[j], p_lat[j]),
                                     (Verdict.COMPLIANT, ts[fix[j]], lon[fix[j]], lat[fix[j]])):
                out.fold(staging, key, verdict, float(t), float(x), float(y), device, SEVERITY, 1)
        return out


def _applies(roster: Roster, start: int) -> np.ndarray:
    """Whether the rule watches each assignment from ``start`` on: one of an exclusion zone,
    of a person whose plan applies it."""
    kinds, zone = roster.zoneset.zones.kinds, roster.assignments.zone[start:]
    if 8 * len(zone) < len(kinds):  # (a few, after a change)
        exclusion = np.fromiter((kinds[z] == "exclusion" for z in zone.tolist()), dtype=bool,
                                count=len(zone))
    else:
        exclusion = np.fromiter(map("exclusion".__eq__, kinds), dtype=bool,
                                count=len(kinds))[zone]
    return exclusion & roster.plans_apply(KIND, start)
