"""The naive detector Cordon is compared against: a plain inside/outside test on every fix.

This is what a general-purpose tracking server does (Traccar's ``geofenceEnter`` /
``geofenceExit``): each fix is a point, inside or outside each zone, with no use of its accuracy
radius, no confirmation by a second fix and no test of the segment between fixes. It runs on
exactly the fixes Cordon receives — the fleet's messages decoded by Cordon's own decoder
(:func:`devices.formats.decode_message`) — so the two are scored on equal terms
(:mod:`benchmarks.detection_scoring`).

Rules, per supervisee, over the fixes of all their devices merged in fix-time order (ties in
arrival order):

- each **exclusion** zone of theirs: an ``exclusion_entry`` alert each time a fix is inside after
  the previous fix was not (their first fix inside counts too);
- each **inclusion** zone (the county): an ``inclusion_exit`` alert each time a fix is outside
  after the previous one was inside (a first fix outside says nothing: no known state to leave);
- **curfew**: while the schedule is in force, a ``curfew`` alert each time a fix is outside the
  home circle after one inside, or when the first fix of that curfew window is outside.

Circles are tested by local metric distance from the centre (``<=`` radius is inside), polygons
by planar lon/lat containment (:func:`shapely.contains_xy`), as in the labels. An alert opens and
is raised at the fix time of the fix that starts it, and clears at the fix time of the first later
fix of the supervisee that does not continue the violation — back in compliance, or the first fix
of the next curfew window — or never (``None``).

Scale: messages are decoded a chunk at a time; each chunk is tested zone by zone against the
fixes of the supervisees that have the zone, all vectorised; only a supervisee index, the fix
time and "at home" are kept per fix (plus the rare violating (fix, zone) pairs), and the runs of
violation are found with array operations once every fix is in.

    python -m benchmarks.naive_baseline [--supervisees N] [--days D] [--seed S]

Progress goes to stderr; the last line on stdout is the JSON result (the score of the naive
detector against the fleet's labels).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

from benchmarks.detection_scoring import AlertRecord, score
from devices.formats import Fix, Limits, decode_message
from geofence.schedules import Schedule
from simulators.geo import degrees_for, distance_m
from simulators.wire import SimMessage, is_event_topic

__all__ = ["NaiveDetector", "naive_alerts"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CHUNK_MESSAGES = 100_000


@dataclass(frozen=True, slots=True)
class _Zone:
    id: str
    kind: str  # "exclusion" | "inclusion"
    bounds: tuple[float, float, float, float]  # lon/lat box around it, for a cheap pre-filter
    geometry: Any  # prepared shapely polygon; None for a circle
    centre: tuple[float, float] = (0.0, 0.0)
    radius_m: float = 0.0

    @classmethod
    def from_feature(cls, feature: Mapping[str, Any]) -> _Zone:
        props = feature.get("properties") or {}
        geom = shape(feature["geometry"])
        if geom.geom_type == "Point":
            r = float(props["radius_m"])
            pad = degrees_for(r, geom.y) * 1.01
            return cls(str(feature["id"]), props["kind"],
                       (geom.x - pad, geom.y - pad, geom.x + pad, geom.y + pad), None,
                       (geom.x, geom.y), r)
        shapely.prepare(geom)
        return cls(str(feature["id"]), props["kind"], tuple(geom.bounds), geom)

    def contains(self, lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
        x0, y0, x1, y1 = self.bounds
        out = np.zeros(len(lon), dtype=bool)
        near = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        if len(near):
            if self.geometry is None:
                d = distance_m(self.centre[0], self.centre[1], lon[near], lat[near])
                out[near] = d <= self.radius_m
            else:
                out[near] = shapely.contains_xy(self.geometry, lon[near], lat[near])
        return out


class NaiveDetector:
    """Feed it messages (:meth:`feed`, any number of times, in delivery order), then read
    :meth:`alerts`. Built from a registry as :meth:`simulators.fleet.Fleet.registry` gives it."""

    def __init__(self, registry: Mapping[str, Any], limits: Limits | None = None):
        self.limits = limits or Limits()
        features = {str(z["id"]): z for z in registry["zones"]}
        sups = list(registry["supervisees"])
        self.supervisees: list[str] = [s["id"] for s in sups]
        index = {sid: i for i, sid in enumerate(self.supervisees)}
        self._device_sup = {d["id"]: index[d["supervisee_id"]] for d in registry["devices"]
                            if d.get("supervisee_id") in index}
        # Supervisees with the same zones (everyone in a county) are tested together.
        self.zones: list[_Zone] = []
        zone_no: dict[str, int] = {}
        groups: dict[tuple[int, ...], int] = {}
        sup_group = []
        for s in sups:
            zs = []
            for zid in s.get("zone_ids") or ():
                if zid not in zone_no:
                    zone_no[zid] = len(self.zones)
                    self.zones.append(_Zone.from_feature(features[zid]))
                zs.append(zone_no[zid])
            sup_group.append(groups.setdefault(tuple(sorted(zs)), len(groups)))
        self._groups = list(groups)
        self._sup_group = np.array(sup_group, dtype=np.int64)
        n = len(sups)
        self._home = np.full((n, 3), np.nan)  # lon, lat, radius
        self._schedules: list[Schedule] = []
        sched_no: dict[str, int] = {}
        self._sup_schedule = np.full(n, -1, dtype=np.int64)
        for i, s in enumerate(sups):
            home, curfew = s.get("home_zone_id"), s.get("curfew")
            if not home or not curfew:
                continue
            geom = features[home]["geometry"]
            lon, lat = geom["coordinates"]
            self._home[i] = (lon, lat, float(features[home]["properties"]["radius_m"]))
            key = json.dumps(curfew, sort_keys=True)
            if key not in sched_no:
                sched_no[key] = len(self._schedules)
                self._schedules.append(Schedule.from_dict(curfew))
            self._sup_schedule[i] = sched_no[key]
        self._sup: list[npt.NDArray[np.int32]] = []
        self._ts: list[FloatArray] = []
        self._at_home: list[npt.NDArray[np.bool_]] = []
        self._pair_fix: list[IntArray] = []  # violating (fix, zone) pairs
        self._pair_zone: list[IntArray] = []
        self.n_fixes = 0
        self.n_messages = 0
        self.n_rejections = 0

    # --- input ---------------------------------------------------------------------------------

    def feed(self, messages: Iterable[SimMessage]) -> None:
        """Decode and test a chunk of messages (event messages are skipped: no fixes)."""
        fixes: list[Fix] = []
        for m in messages:
            self.n_messages += 1
            if is_event_topic(m.topic):
                continue
            d = decode_message(m.topic, m.payload, received_at=m.deliver_at, limits=self.limits)
            fixes.extend(d.fixes)
            self.n_rejections += len(d.rejections)
        get = self._device_sup.get
        sup = np.fromiter((get(f.device_id, -1) for f in fixes), dtype=np.int32,
                          count=len(fixes))
        keep = np.flatnonzero(sup >= 0)  # victims' phones are nobody's fixes here
        sup = sup[keep]
        ts = np.fromiter((f.ts for f in fixes), dtype=np.float64, count=len(fixes))[keep]
        lon = np.fromiter((f.lon for f in fixes), dtype=np.float64, count=len(fixes))[keep]
        lat = np.fromiter((f.lat for f in fixes), dtype=np.float64, count=len(fixes))[keep]
        base = self.n_fixes
        group = self._sup_group[sup]
        for g, zone_nos in enumerate(self._groups):
            idx = np.flatnonzero(group == g)
            if not len(idx) or not zone_nos:
                continue
            for z in zone_nos:
                zone = self.zones[z]
                inside = zone.contains(lon[idx], lat[idx])
                bad = idx[inside if zone.kind == "exclusion" else ~inside]
                self._pair_fix.append(bad.astype(np.int64) + base)
                self._pair_zone.append(np.full(len(bad), z, dtype=np.int64))
        home = self._home[sup]
        with np.errstate(invalid="ignore"):
            at_home = distance_m(home[:, 0], home[:, 1], lon, lat) <= home[:, 2]
        self._sup.append(sup)
        self._ts.append(ts)
        self._at_home.append(at_home)
        self.n_fixes += len(sup)

    def feed_all(self, messages: Iterable[SimMessage], chunk: int = CHUNK_MESSAGES) -> None:
        it = iter(messages)
        while batch := list(islice(it, chunk)):
            self.feed(batch)

    # --- output --------------------------------------------------------------------------------

    def alerts(self) -> list[AlertRecord]:
        """Every alert of the fixes fed so far, sorted by (opened_at, supervisee, kind)."""
        if not self.n_fixes:
            return []
        sup = np.concatenate(self._sup)
        ts = np.concatenate(self._ts)
        order = np.lexsort((ts, sup))  # stable: equal fix times stay in arrival order
        pos = np.empty(len(order), dtype=np.int64)
        pos[order] = np.arange(len(order))
        s, t = sup[order], ts[order]
        first = np.r_[True, s[1:] != s[:-1]]
        out: list[AlertRecord] = []

        def emit(kind: str, starts: IntArray, clears: IntArray) -> None:
            n = len(t)
            for a, c in zip(starts.tolist(), clears.tolist(), strict=True):
                cleared = float(t[c]) if c < n and s[c] == s[a] else None
                out.append(AlertRecord(self.supervisees[s[a]], kind, float(t[a]), float(t[a]),
                                       cleared))

        pair_fix = pos[np.concatenate(self._pair_fix)] if self._pair_fix else pos[:0]
        pair_zone = np.concatenate(self._pair_zone) if self._pair_zone else pos[:0]
        by = np.lexsort((pair_fix, pair_zone))
        pair_fix, pair_zone = pair_fix[by], pair_zone[by]
        cuts = np.r_[np.flatnonzero(np.r_[True, pair_zone[1:] != pair_zone[:-1]]),
                     len(pair_zone)] if len(pair_zone) else np.zeros(1, dtype=np.int64)
        for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            zone = self.zones[int(pair_zone[lo])]
            p = pair_fix[lo:hi]
            starts, clears = _runs(p, first[p])
            if zone.kind == "exclusion":
                emit("exclusion_entry", starts, clears)
            else:  # leaving requires having been seen inside
                keep = ~first[starts]
                emit("inclusion_exit", starts[keep], clears[keep])

        window = self._curfew_windows(s, t)
        at_home = np.concatenate(self._at_home)[order]
        p = np.flatnonzero((window >= 0) & ~at_home)
        starts, clears = _runs(p, first[p] | (window[p] != window[np.maximum(p - 1, 0)]))
        emit("curfew", starts, clears)
        out.sort(key=lambda a: (a.opened_at, a.supervisee, a.kind))
        return out

    def _curfew_windows(self, s: npt.NDArray[np.int32], t: FloatArray) -> IntArray:
        """Per fix (sorted), a number for the curfew window in force at its time, or -1."""
        window = np.full(len(t), -1, dtype=np.int64)
        sched = self._sup_schedule[s]
        base = 0
        for k, schedule in enumerate(self._schedules):
            idx = np.flatnonzero(sched == k)
            if not len(idx):
                continue
            tk = t[idx]
            spans = np.array(schedule.intervals(float(tk.min()), float(tk.max()) + 1.0))
            spans = spans.reshape(-1, 2)
            i = np.searchsorted(spans[:, 0], tk, side="right") - 1
            active = (i >= 0) & (tk < spans[np.maximum(i, 0), 1]) if len(spans) else i >= 0
            window[idx] = np.where(active, i + base, -1)
            base += len(spans)
        return window


def _runs(p: IntArray, brk: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """Runs of consecutive positions in sorted ``p`` (violating fixes), also cut where ``brk``:
    the first position of each run, and the position just after its last one.

    >>> [x.tolist() for x in _runs(np.array([2, 3, 4, 7, 8]), np.array([0, 0, 1, 0, 0], bool))]
    [[2, 4, 7], [4, 5, 9]]
    """
    if not len(p):
        return p, p
    new = np.r_[True, np.diff(p) != 1] | brk
    heads = np.flatnonzero(new)
    tails = np.r_[heads[1:] - 1, len(p) - 1]
    return p[heads], p[tails] + 1


def naive_alerts(messages: Iterable[SimMessage], registry: Mapping[str, Any],
                 chunk: int = CHUNK_MESSAGES) -> list[AlertRecord]:
    """The naive detector's alerts on a stream of messages, for :func:`score`."""
    detector = NaiveDetector(registry)
    detector.feed_all(messages, chunk)
    return detector.alerts()


def main(argv: Sequence[str] | None = None) -> None:
    from simulators.fleet import Fleet, FleetConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--supervisees", type=int, default=100)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=300.0, help="seconds, see score()")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    fleet = Fleet(FleetConfig(supervisees=args.supervisees, seed=args.seed, days=args.days))
    print(f"[naive] fleet built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    detector = NaiveDetector(fleet.registry())
    t1 = time.perf_counter()
    it = iter(fleet.messages())
    while batch := list(islice(it, CHUNK_MESSAGES)):
        detector.feed(batch)
        print(f"[naive] {detector.n_messages} messages, {detector.n_fixes} fixes",
              file=sys.stderr, flush=True)
    alerts = detector.alerts()
    elapsed = time.perf_counter() - t1
    result = score(fleet.labels(), alerts, fleet.scenarios(), fleet.start, fleet.end,
                   args.tolerance)
    result |= {"detector": "naive", "messages": detector.n_messages, "fixes": detector.n_fixes,
               "rejections": detector.n_rejections, "alert_count": len(alerts),
               "seconds": round(elapsed, 1), "supervisees": args.supervisees,
               "seed": args.seed}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
