"""The evaluation step: a batch of fixes and device events → verdicts → episode changes.

Built from the registry (who wears which device, which zones, pairings, protection orders and
plans apply to whom); rebuilt when the registry changes, while the episode state in the
:class:`~alerts.episodes.EpisodeTracker` and the device :class:`~alerts.activity.Activity` live
on. Three entry points:

- :meth:`Evaluator.decide` — the geofence decisions of a batch (pure, may run ahead);
- :meth:`Evaluator.fold` — fold a decided batch into the staged episodes, rule by rule;
- :meth:`Evaluator.tick` — the clock's rules: lost contact, a device that died silently, no GPS
  fix, a curfew that begins while the person is away or silent.

After a batch has been stored, :meth:`Evaluator.record` remembers what each device did last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from alerts.activity import RECENT_FIXES, Activity
from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.plans import DEFAULT_PLAN, SupervisionPlan
from alerts.rules import ZONE_RULES, device_off, lost_contact, no_fix, pass_through, zone_rule_name
from alerts.rules import separation as sep
from alerts.rules import victim as vic
from alerts.rules.battery import LowBatteryRule
from alerts.rules.curfew import UNVERIFIED_KIND
from alerts.rules.tamper import SEVERITY as TAMPER_SEVERITY
from alerts.rules.tamper import TAMPER_EVENTS
from alerts.suppressions import Suppressions
from alerts.verdict import Verdict
from devices.events import DeviceEvent
from devices.fixes import FixBatch, newest_of_each
from devices.models import Device, Pairing, ProtectionOrder, Supervisee
from geofence import OUTSIDE
from geofence.assignments import Assignment, AssignmentSet
from geofence.distance import distance_m
from geofence.schedules import Schedule
from geofence.zones import Zone
from geofence.zoneset import ZoneSet


@dataclass(frozen=True, slots=True)
class Decided:
    """A batch's verdicts, one per (fix, assignment) pair, fixes in fold order."""

    batch: FixBatch
    rows: np.ndarray  # batch rows in fold order: by supervisee, fix time, device
    device_no: np.ndarray  # the device of each of those rows
    pair_fix: np.ndarray  # index into ``rows``
    pair_assignment: np.ndarray
    pair_rule: np.ndarray
    verdicts: np.ndarray
    battery_verdicts: np.ndarray  # per battery level (rows) and fix in ``rows`` (columns)
    numbering: Sequence[str]  # the device ids ``device_no`` counts in: the deciding evaluator's
    events: tuple[DeviceEvent, ...] = field(default=())  # by device, then time


@dataclass(slots=True)
class _Fold:
    """One fold's context: the staging and the changes so far."""

    staging: Staging
    changes: list[AlertChange] = field(default_factory=list)

    def add(self, change: AlertChange | None) -> None:
        if change is not None:
            self.changes.append(change)


class Evaluator:
    def __init__(
        self,
        devices: Mapping[str, Device],
        supervisees: Mapping[str, Supervisee],
        zones: Sequence[Zone],
        *,
        plans: Mapping[str, SupervisionPlan] | None = None,
        pairings: Iterable[Pairing] = (),
        orders: Iterable[ProtectionOrder] = (),
        suppressions: Suppressions | None = None,
        activity: Activity | None = None,
        accuracy_factor: float = 1.0,
    ):
        """``accuracy_factor`` scales each fix's reported accuracy before any rule reads it:
        devices report radii of different confidence (Android: 68 %), and a rule that calls a
        fix certain trusts that radius."""
        plans = plans or {}
        zoneset = ZoneSet(zones)
        self.zoneset = zoneset
        self.accuracy_factor = accuracy_factor
        self._devices = devices
        self._supervisees = supervisees
        self.plan_of = {s.id: plans.get(s.plan_id or "", DEFAULT_PLAN)
                        for s in supervisees.values()}
        self.suppressions = suppressions or Suppressions()
        self.assignments = AssignmentSet(zoneset, [
            Assignment(s.id, z, zoneset.zones[zoneset.index[z]].schedule)
            for s in supervisees.values() for z in s.zone_ids if z in zoneset.index
        ])
        # Devices are numbered; a device's supervisee by number, for the assignment set.
        self._device_ids = list(devices)
        self._device_no = {d: i for i, d in enumerate(self._device_ids)}
        self._subject_of_device = self.assignments.subject_numbers(
            [devices[d].supervisee_id or "" for d in self._device_ids])
        self._rules = list(ZONE_RULES.values())
        rule_no = {name: i for i, name in enumerate(ZONE_RULES)}
        self._rule_of_assignment = np.asarray(
            [rule_no[zone_rule_name(zoneset.zones[z])] for z in self.assignments.zone],
            dtype=np.int64)
        asg = self.assignments.assignments
        self._key_of_assignment = [
            EpisodeKey(a.subject, a.zone_id, self._rules[r].alert_kind)
            for a, r in zip(asg, self._rule_of_assignment, strict=True)
        ]
        plan_of_asg = [self.plan_of[a.subject] for a in asg]
        self._enabled = np.fromiter(
            (p.applies(k.kind) for p, k in zip(plan_of_asg, self._key_of_assignment, strict=True)),
            dtype=bool, count=len(asg))
        # Confirmation per assignment; 0 and NaN: the tracker's (the engine's settings).
        self._confirm = np.fromiter((p.confirm_fixes or 0 for p in plan_of_asg),
                                    dtype=np.int64, count=len(asg))
        self._confirm_gap = np.fromiter(
            (np.nan if p.confirm_gap_s is None else p.confirm_gap_s for p in plan_of_asg),
            dtype=np.float64, count=len(asg))
        self._pass_through = np.fromiter(
            (zoneset.zones[z].kind == "exclusion" and p.applies(pass_through.KIND)
             for z, p in zip(self.assignments.zone, plan_of_asg, strict=True)),
            dtype=bool, count=len(asg))
        self._curfews: dict[Schedule, list[int]] = {}
        for i, a in enumerate(asg):
            if a.schedule is not None and self._key_of_assignment[i].kind == "curfew":
                self._curfews.setdefault(a.schedule, []).append(i)
        # Which assignments may have an episode or a streak under way (a superset): a compliant
        # verdict on any other changes nothing and is skipped without a look at the state.
        self._live: np.ndarray | None = None
        self.battery = LowBatteryRule()
        # Subjects (devices, supervisees) that may have an episode of these kinds under way.
        self._watch: dict[str, set[str]] | None = None

        # Per device: its supervisee's number among all supervisees, interval, and the rules
        # about pairs of devices.
        self._supervisee_ids = sorted(supervisees)
        self._sup_no = sup_no = {s: i for i, s in enumerate(self._supervisee_ids)}
        self._sup_of_device = np.fromiter(
            (sup_no.get(devices[d].supervisee_id or "", -1) for d in self._device_ids),
            dtype=np.int64, count=len(self._device_ids))
        plans_of_device = [self._plan_of_device(d) for d in self._device_ids]
        self._device_off_pct = np.fromiter((p.device_off_battery_pct for p in plans_of_device),
                                           dtype=np.float64, count=len(plans_of_device))
        self._no_fix_after = np.fromiter((p.no_fix_after_s for p in plans_of_device),
                                         dtype=np.float64, count=len(plans_of_device))
        self._grace = np.fromiter((self.plan_of[s].lost_contact_grace_s
                                   for s in self._supervisee_ids), dtype=np.float64,
                                  count=len(self._supervisee_ids))
        self._interval = np.fromiter(
            (devices[d].report_interval_s or self._plan_of_device(d).report_interval_s
             for d in self._device_ids), dtype=np.float64, count=len(self._device_ids))
        self._off_after = device_off.off_after_s(
            self._interval,
            np.fromiter((devices[d].kind == "bracelet" for d in self._device_ids), dtype=bool,
                        count=len(self._device_ids)),
            np.fromiter((p.lost_contact_grace_s for p in plans_of_device), dtype=np.float64,
                        count=len(plans_of_device)))
        self._pairing_of: dict[str, Pairing] = {}
        for p in pairings:
            if p.bracelet_id in devices and p.phone_id in devices:
                self._pairing_of[p.bracelet_id] = p
                self._pairing_of[p.phone_id] = p
        self._orders_of: dict[str, list[ProtectionOrder]] = {}
        for o in orders:
            if o.device_id in devices and o.supervisee_id in supervisees:
                self._orders_of.setdefault(o.supervisee_id, []).append(o)
                self._orders_of.setdefault(o.device_id, []).append(o)
        self.activity = (activity.renumbered(self._device_ids) if activity is not None
                         else Activity(self._device_ids))
        self.last_tick: float | None = None  # carried over when the registry is reloaded
        by_sup = np.argsort(self._sup_of_device, kind="stable")
        bounds = np.searchsorted(self._sup_of_device[by_sup], np.arange(len(supervisees) + 1))
        # The device numbers of supervisee k: _devices_of_sup[k].
        self._devices_of_sup = [by_sup[bounds[k]:bounds[k + 1]] for k in range(len(supervisees))]

    # --- registry ----------------------------------------------------------------------------

    def knows(self, device_id: str) -> bool:
        return device_id in self._devices

    def supervisee_of(self, device_id: str) -> str | None:
        return self._devices[device_id].supervisee_id

    def device_numbers(self, device_ids: np.ndarray) -> np.ndarray:
        """Each device's number (all must be registered)."""
        return np.fromiter(map(self._device_no.__getitem__, device_ids.tolist()),
                           dtype=np.int64, count=len(device_ids))

    def _plan_of_device(self, device_id: str) -> SupervisionPlan:
        sid = self._devices[device_id].supervisee_id
        return self.plan_of.get(sid, DEFAULT_PLAN) if sid else DEFAULT_PLAN

    # --- deciding and folding ----------------------------------------------------------------

    def evaluate(self, batch: FixBatch, staging: Staging,
                 events: Sequence[DeviceEvent] = ()) -> list[AlertChange]:
        """:meth:`decide`, then :meth:`fold`."""
        return self.fold(self.decide(batch, events), staging)

    def decide(self, batch: FixBatch, events: Sequence[DeviceEvent] = ()) -> Decided:
        """The verdicts of a batch, ready to fold. Pure: depends on the registry only, so it
        can run while the previous batch is being stored."""
        if self.accuracy_factor != 1.0:
            batch = replace(batch, accuracy_m=batch.accuracy_m * self.accuracy_factor)
        device_no = self.device_numbers(batch.device_id)
        subject = self._subject_of_device[device_no]
        order = np.lexsort((device_no, batch.ts, subject))
        device_no, ts, subject = device_no[order], batch.ts[order], subject[order]
        # A fix repeated within the batch counts once.
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = (device_no[1:] != device_no[:-1]) | (ts[1:] != ts[:-1])
        if not keep.all():
            order, device_no, ts, subject = order[keep], device_no[keep], ts[keep], subject[keep]
        d = self.assignments.evaluate_numbered(
            subject, ts, batch.lon[order], batch.lat[order], batch.accuracy_m[order]
        )
        pair_rule = self._rule_of_assignment[d.assignment]
        verdicts = np.full(len(d), Verdict.UNKNOWN, dtype=np.int8)
        for i, rule in enumerate(self._rules):
            mask = pair_rule == i
            verdicts[mask] = rule.verdicts(d.decision[mask])
        verdicts[~self._enabled[d.assignment]] = Verdict.UNKNOWN
        return Decided(batch, order, device_no, d.fix, d.assignment, pair_rule, verdicts,
                       self.battery.verdicts(batch.battery[order]), self._device_ids,
                       tuple(sorted(events, key=lambda e: (e.device_id, e.ts))))

    def fold(self, decided: Decided, staging: Staging) -> list[AlertChange]:
        """Fold decided verdicts into the staged episodes.

        Fixes no newer than the last one already evaluated for their device (late or repeated)
        are skipped: they are stored, but cannot reopen or clear a settled episode.
        """
        f = _Fold(staging)
        batch, rows = decided.batch, decided.rows
        fresh = np.zeros(len(rows), dtype=bool)
        if len(rows):
            devices = batch.device_id.tolist()
            ts = batch.ts[rows]
            clock = np.fromiter((staging.device_clock(devices[r]) for r in rows.tolist()),
                                dtype=np.float64, count=len(rows))
            fresh = ts > clock
        if fresh.any():
            self._advance_clocks(staging, decided.device_no[fresh], batch.ts[rows][fresh])
            self._fold_zones(decided, fresh, f)
            self._fold_pass_through(decided, fresh, f)
            self._fold_battery(decided, fresh, f)
            self._fold_pairs(decided, fresh, f)
            self._fold_victims(decided, fresh, f)
        if decided.events:
            self._fold_events(decided.events, f)
        self._fold_heard_from(decided, fresh, f)
        return f.changes

    def _fold_zones(self, decided: Decided, fresh: np.ndarray, f: _Fold) -> None:
        batch, rows = decided.batch, decided.rows
        verdicts, assignment = decided.verdicts.copy(), decided.pair_assignment
        if self.suppressions:
            for k in np.flatnonzero(verdicts == Verdict.VIOLATING).tolist():
                key = self._key_of_assignment[assignment[k]]
                if self.suppressions.covers(key.supervisee_id, key.kind,
                                            float(batch.ts[rows[decided.pair_fix[k]]])):
                    verdicts[k] = Verdict.COMPLIANT
        live = self._live_assignments(f.staging)
        live[assignment[verdicts == Verdict.VIOLATING]] = True
        foldable = (verdicts != Verdict.UNKNOWN) & live[assignment] & fresh[decided.pair_fix]
        devices = batch.device_id
        for k in np.flatnonzero(foldable).tolist():
            row = int(rows[decided.pair_fix[k]])
            a = int(assignment[k])
            f.add(f.staging.fold(
                self._key_of_assignment[a], Verdict(int(verdicts[k])), float(batch.ts[row]),
                float(batch.lon[row]), float(batch.lat[row]), devices[row],
                self._rules[decided.pair_rule[k]].severity, int(self._confirm[a]) or None,
                max_gap_s=None if np.isnan(self._confirm_gap[a]) else float(self._confirm_gap[a]),
            ))

    def _fold_pass_through(self, decided: Decided, fresh: np.ndarray, f: _Fold) -> None:
        """Segments from each fix's predecessor (same device) crossing an exclusion zone."""
        batch, rows = decided.batch, decided.rows
        k = np.flatnonzero(self._pass_through[decided.pair_assignment]
                           & (decided.verdicts == Verdict.COMPLIANT) & fresh[decided.pair_fix])
        if not len(k):
            return
        ts, lon, lat = batch.ts[rows], batch.lon[rows], batch.lat[rows]
        acc, dev = batch.accuracy_m[rows], decided.device_no
        # Each fix's predecessor: the previous fix of its device in this batch, else the
        # newest one before it.
        by_dev = np.lexsort((ts, dev))
        prev = np.full(len(rows), -1, dtype=np.int64)
        same = dev[by_dev][1:] == dev[by_dev][:-1]
        prev[by_dev[1:][same]] = by_dev[:-1][same]
        fix = decided.pair_fix[k]
        p = prev[fix]
        act = self.activity
        d = dev[fix]
        p_ts = np.where(p >= 0, ts[np.maximum(p, 0)], act.fix_ts[d])
        p_lon = np.where(p >= 0, lon[np.maximum(p, 0)], act.lon[d])
        p_lat = np.where(p >= 0, lat[np.maximum(p, 0)], act.lat[d])
        p_acc = np.where(p >= 0, acc[np.maximum(p, 0)], act.acc[d])
        near = (ts[fix] - p_ts <= pass_through.MAX_GAP_S) & (ts[fix] > p_ts)  # NaN: False
        k, fix, p_ts, p_lon, p_lat, p_acc = (x[near] for x in (k, fix, p_ts, p_lon, p_lat, p_acc))
        if not len(k):
            return
        zone = self.assignments.zone[decided.pair_assignment[k]]
        hits = pass_through.passes(self.zoneset, p_lon, p_lat, p_acc, lon[fix], lat[fix],
                                   acc[fix], zone)
        for j in np.flatnonzero(hits).tolist():
            a = int(decided.pair_assignment[k[j]])
            zone_key = self._key_of_assignment[a]
            if f.staging.has_state(zone_key) and f.staging.state(zone_key).open:
                continue  # already in an episode about this zone
            key = EpisodeKey(zone_key.supervisee_id, zone_key.subject, pass_through.KIND)
            row = int(rows[fix[j]])
            device = batch.device_id[row]
            for verdict, t, x, y in ((Verdict.VIOLATING, p_ts[j], p_lon[j], p_lat[j]),
                                     (Verdict.COMPLIANT, ts[fix[j]], lon[fix[j]], lat[fix[j]])):
                f.add(f.staging.fold(key, verdict, float(t), float(x), float(y), device,
                                     pass_through.SEVERITY, 1))

    def _fold_battery(self, decided: Decided, fresh: np.ndarray, f: _Fold) -> None:
        """Fold battery readings into each device's low-battery episodes (see
        :mod:`alerts.rules.battery`). Only low readings, and the readings of devices that had
        one, can change anything; the rest are skipped."""
        verdicts = decided.battery_verdicts
        low = (verdicts == Verdict.VIOLATING).any(axis=0) & fresh
        batch, rows = decided.batch, decided.rows
        devices = batch.device_id[rows]
        watch = self._watched(f.staging, "battery")
        if watch:
            low |= fresh & np.fromiter(map(watch.__contains__, devices.tolist()), dtype=bool,
                                       count=len(rows))
        for i in np.flatnonzero(low).tolist():
            row = int(rows[i])
            self._fold_battery_reading(devices[i], float(batch.ts[row]), float(batch.lon[row]),
                                       float(batch.lat[row]), verdicts[:, i].tolist(), f)

    def _fold_battery_reading(self, device: str, ts: float, lon: float, lat: float,
                              verdicts: list[int], f: _Fold) -> None:
        supervisee = self._devices[device].supervisee_id
        if supervisee is None:
            return
        self._watched(f.staging, "battery").add(device)
        plan = self.plan_of[supervisee]
        for level, verdict in zip(self.battery.levels, verdicts, strict=True):
            if plan.applies(level.alert_kind):
                f.add(f.staging.fold(EpisodeKey(supervisee, device, level.alert_kind),
                                     self._suppressed(supervisee, level.alert_kind, ts, verdict),
                                     ts, lon, lat, device, level.severity))

    def _fold_pairs(self, decided: Decided, fresh: np.ndarray, f: _Fold) -> None:
        """Bracelet–phone distance of each pairing with a fix in the batch, at its newest."""
        if not self._pairing_of:
            return
        batch, rows = decided.batch, decided.rows
        touched = {self._pairing_of[d] for d in set(batch.device_id[rows[fresh]].tolist())
                   if d in self._pairing_of}
        newest = self._newest_fixes(decided, fresh)
        for p in touched:
            b, ph = newest.get(p.bracelet_id), newest.get(p.phone_id)
            if b is None or ph is None:
                continue
            plan = self.plan_of[p.supervisee_id]
            if not plan.applies(sep.KIND):
                continue
            skew = b[0] - ph[0]
            v = int(sep.separation_verdicts(
                distance_m([b[1]], [b[2]], [ph[1]], [ph[2]]), np.array([b[3] + ph[3]]),
                np.array([skew]), plan.separation_m)[0])
            key = EpisodeKey(p.supervisee_id, p.bracelet_id, sep.KIND)
            if v == Verdict.COMPLIANT and f.staging.link_lost(p.bracelet_id):
                continue  # the bracelet says the link is lost: positions do not clear it
            t = max(b[0], ph[0])
            f.add(f.staging.fold(
                key, self._suppressed(p.supervisee_id, sep.KIND, t, v), t, b[1], b[2],
                p.bracelet_id, sep.SEVERITY, 1,
                plan.separation_s if v == Verdict.VIOLATING else 0.0, plan.confirm_gap_s))

    def _newest_fixes(self, decided: Decided, fresh: np.ndarray
                      ) -> dict[str, tuple[float, float, float, float]]:
        """(ts, lon, lat, accuracy) of the newest known fix of each device, this batch
        included (devices of this batch and of their pairs)."""
        batch, rows = decided.batch, decided.rows
        out: dict[str, tuple[float, float, float, float]] = {}
        act = self.activity
        for d in set(batch.device_id[rows].tolist()):
            p = self._pairing_of.get(d)
            for other in (p.bracelet_id, p.phone_id) if p else (d,):
                n = self._device_no[other]
                if not np.isnan(act.fix_ts[n]):
                    out[other] = (float(act.fix_ts[n]), float(act.lon[n]), float(act.lat[n]),
                                  float(act.acc[n]))
        sel = np.flatnonzero(fresh)
        if len(sel):
            last = sel[newest_of_each(decided.device_no[sel], batch.ts[rows[sel]])]
            for i in last.tolist():
                r = int(rows[i])
                d = batch.device_id[r]
                if d not in out or batch.ts[r] > out[d][0]:
                    out[d] = (float(batch.ts[r]), float(batch.lon[r]), float(batch.lat[r]),
                              float(batch.accuracy_m[r]))
        return out

    def _fold_victims(self, decided: Decided, fresh: np.ndarray, f: _Fold) -> None:
        """Distance to each protected victim, at every fix of either side, in time order."""
        if not self._orders_of:
            return
        batch, rows = decided.batch, decided.rows
        sel = [int(i) for i in np.flatnonzero(fresh).tolist()
               if self._orders_for_fix(batch.device_id[rows[i]])]
        if not sel:
            return
        act = self.activity
        by_order: dict[ProtectionOrder, list[int]] = {}
        for i in sel:
            for o in self._orders_for_fix(batch.device_id[rows[i]]):
                by_order.setdefault(o, []).append(int(rows[i]))
        for o, order_rows in by_order.items():
            plan = self.plan_of[o.supervisee_id]
            if not plan.applies(vic.KIND):
                continue
            vn = self._device_no[o.device_id]
            # Two estimates of where the victim is: the newest fix, and the best recent one (see
            # Activity: a stale precise fix, aged at a walking pace, may say more than a fresh
            # vague one). Each bounds the victim's position; both hold, so either may decide.
            best = (float(act.best_ts[vn]), float(act.best_lon[vn]), float(act.best_lat[vn]),
                    float(act.best_acc[vn]))
            newest = (float(act.fix_ts[vn]), float(act.lon[vn]), float(act.lat[vn]),
                      float(act.acc[vn]))
            person = self._newest_of_supervisee(o.supervisee_id)
            key = EpisodeKey(o.supervisee_id, o.victim_id, vic.KIND)
            for r in sorted(order_rows, key=lambda r: batch.ts[r]):
                here = (float(batch.ts[r]), float(batch.lon[r]), float(batch.lat[r]),
                        float(batch.accuracy_m[r]))
                if batch.device_id[r] == o.device_id:
                    if math.isnan(newest[0]) or here[0] >= newest[0]:
                        newest = here
                    if not here[3] > best[3] + vic.DRIFT_M_PER_S * (here[0] - best[0]):
                        best = here
                else:
                    person = here
                if math.isnan(best[0]) or person is None or math.isnan(person[0]):
                    continue
                estimates = [best] if math.isnan(newest[0]) or newest == best else [best, newest]
                verdicts = vic.proximity_verdicts(
                    distance_m([person[1]] * len(estimates), [person[2]] * len(estimates),
                               [e[1] for e in estimates], [e[2] for e in estimates]),
                    np.full(len(estimates), person[3]), np.array([e[3] for e in estimates]),
                    np.array([person[0] - e[0] for e in estimates]), o.enter_m, o.exit_m)
                v = int(vic.combined_verdict(verdicts))
                victim = max(estimates, key=lambda e: e[0])
                t = max(person[0], victim[0])
                f.add(f.staging.fold(key, self._suppressed(o.supervisee_id, vic.KIND, t, v), t,
                                     person[1], person[2], batch.device_id[r], vic.SEVERITY,
                                     plan.confirm_fixes, max_gap_s=plan.confirm_gap_s))

    def _orders_for_fix(self, device_id: str) -> list[ProtectionOrder]:
        if device_id in self._orders_of:  # a victim's phone
            return self._orders_of[device_id]
        sid = self._devices[device_id].supervisee_id
        return self._orders_of.get(sid, []) if sid else []

    def _newest_of_supervisee(self, supervisee_id: str
                              ) -> tuple[float, float, float, float] | None:
        act = self.activity
        k = self._sup_no.get(supervisee_id, -1)
        mine = self._devices_of_sup[k] if k >= 0 else np.zeros(0, dtype=np.int64)
        mine = mine[~np.isnan(act.fix_ts[mine])]
        if not len(mine):
            return None
        n = int(mine[np.argmax(act.fix_ts[mine])])
        return float(act.fix_ts[n]), float(act.lon[n]), float(act.lat[n]), float(act.acc[n])

    def _fold_events(self, events: Sequence[DeviceEvent], f: _Fold) -> None:
        for e in events:
            sid = self._devices[e.device_id].supervisee_id
            if sid is None:
                continue
            plan = self.plan_of[sid]
            if e.event in TAMPER_EVENTS:
                kind, verdict = TAMPER_EVENTS[e.event]
                if plan.applies(kind):
                    f.add(f.staging.fold(EpisodeKey(sid, e.device_id, kind),
                                         self._suppressed(sid, kind, e.ts, verdict), e.ts,
                                         math.nan, math.nan, e.device_id, TAMPER_SEVERITY, 1))
            elif e.event in device_off.POWER_EVENTS and plan.applies(device_off.KIND):
                verdict = device_off.POWER_EVENTS[e.event]
                if verdict == Verdict.VIOLATING:
                    self._watched(f.staging, "heard").add(e.device_id)
                f.add(f.staging.fold(EpisodeKey(sid, e.device_id, device_off.KIND),
                                     self._suppressed(sid, device_off.KIND, e.ts, verdict), e.ts,
                                     math.nan, math.nan, e.device_id, device_off.SEVERITY, 1))
            elif e.event in sep.LINK_EVENTS and plan.applies(sep.KIND):
                verdict = sep.LINK_EVENTS[e.event]
                f.staging.set_link_lost(e.device_id, verdict == Verdict.VIOLATING)
                f.add(f.staging.fold(EpisodeKey(sid, e.device_id, sep.KIND),
                                     self._suppressed(sid, sep.KIND, e.ts, verdict), e.ts,
                                     math.nan, math.nan, e.device_id, sep.SEVERITY, 1))
            if not math.isnan(e.battery):
                v = self.battery.verdicts(np.array([e.battery]))[:, 0].tolist()
                if Verdict.VIOLATING in v or e.device_id in self._watched(f.staging, "battery"):
                    self._fold_battery_reading(e.device_id, e.ts, math.nan, math.nan, v, f)

    def _fold_heard_from(self, decided: Decided, fresh: np.ndarray, f: _Fold) -> None:
        """Any message clears lost contact; a fix clears no-fix and an unverified curfew;
        anything but ``power_off`` after it clears device-off."""
        batch, rows = decided.batch, decided.rows
        heard: dict[str, float] = {}  # device → newest instant heard
        fixed: dict[str, float] = {}
        for i in np.flatnonzero(fresh).tolist():
            r = int(rows[i])
            d, t = batch.device_id[r], float(batch.ts[r])
            heard[d] = max(heard.get(d, t), t)
            fixed[d] = heard[d]
        for e in decided.events:
            if e.event != "power_off":
                heard[e.device_id] = max(heard.get(e.device_id, e.ts), e.ts)
        if not heard:
            return
        watch = self._watched(f.staging, "heard")
        for d, t in heard.items():
            sid = self._devices[d].supervisee_id
            if sid is None:
                continue
            if d in watch:
                f.add(f.staging.fold(EpisodeKey(sid, d, device_off.KIND), Verdict.COMPLIANT, t,
                                     math.nan, math.nan, d, device_off.SEVERITY, 1))
                if d in fixed:
                    f.add(f.staging.fold(EpisodeKey(sid, d, no_fix.KIND), Verdict.COMPLIANT, t,
                                         math.nan, math.nan, d, no_fix.SEVERITY, 1))
            if sid in watch:
                f.add(f.staging.fold(EpisodeKey(sid, sid, lost_contact.KIND), Verdict.COMPLIANT,
                                     t, math.nan, math.nan, d, lost_contact.SEVERITY, 1))
                if d in fixed:
                    for a in self.assignments.of_subject(sid).tolist():
                        key = self._key_of_assignment[a]
                        if key.kind == "curfew":
                            f.add(f.staging.fold(
                                EpisodeKey(sid, key.subject, UNVERIFIED_KIND),
                                Verdict.COMPLIANT, t, math.nan, math.nan, d, "high", 1))

    # --- the clock's rules ---------------------------------------------------------------------

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        """The rules that fire on time passing, not on a message (see :mod:`alerts.timers`)."""
        f = _Fold(staging)
        act = self.activity
        silent, _last = lost_contact.out_of_contact(
            self._sup_of_device, act.last_message, self._interval, self._grace,
            len(self._supervisee_ids), now)
        off_now = self._fold_device_off(now, f)
        watch = self._watched(staging, "heard")
        for s in np.flatnonzero(silent).tolist():
            sid = self._supervisee_ids[s]
            mine = self._devices_of_sup[s]
            heard = mine[~np.isnan(act.last_message[mine])]
            if all(self._device_ids[d] in off_now for d in heard.tolist()):
                silent[s] = False  # every silent device is known to be off: that alert says it
                continue
            plan = self.plan_of[sid]
            if not plan.applies(lost_contact.KIND):
                continue
            watch.add(sid)
            at = float(np.nanmax(act.heard_ts[heard]))  # the device's clock, as fixes are
            f.add(staging.fold(EpisodeKey(sid, sid, lost_contact.KIND),
                               self._suppressed(sid, lost_contact.KIND, at, Verdict.VIOLATING),
                               at, math.nan, math.nan, self._device_ids[int(heard[-1])],
                               lost_contact.SEVERITY, 1))
        self._fold_no_fix(now, f)
        self._fold_curfew_starts(now, silent, f)  # silent: and not explained by devices off
        self.last_tick = now
        return f.changes

    def _fold_device_off(self, now: float, f: _Fold) -> set[str]:
        """Devices silent after a low battery reading; returns every device known to be off."""
        act = self.activity
        dead = device_off.silent_after_low_battery(act.last_message, act.battery,
                                                   self._off_after, self._device_off_pct, now)
        self._raise_per_device(dead, device_off.KIND, device_off.SEVERITY, act.heard_ts, f)
        return {k.subject for k in f.staging.keys_of_kind(device_off.KIND)
                if f.staging.state(k).open}

    def _fold_no_fix(self, now: float, f: _Fold) -> None:
        act = self.activity
        stuck = no_fix.no_position(act.last_message, act.first_blind, self._interval,
                                   self._no_fix_after, now)
        since = np.where(np.isnan(act.fix_ts), act.heard_ts, act.fix_ts)  # positions stopped
        self._raise_per_device(stuck, no_fix.KIND, no_fix.SEVERITY, since, f)

    def _raise_per_device(self, due: np.ndarray, kind: str, severity: str, at: np.ndarray,
                          f: _Fold) -> None:
        """Open (once) a ``kind`` episode on each supervisee device where ``due``, dated ``at``;
        the next message from the device clears it (see :meth:`_fold_heard_from`)."""
        watch = self._watched(f.staging, "heard")
        for n in np.flatnonzero(due & (self._sup_of_device >= 0)).tolist():
            d = self._device_ids[n]
            sid = self._devices[d].supervisee_id
            assert sid is not None
            if not self.plan_of[sid].applies(kind):
                continue
            watch.add(d)
            t = float(at[n])
            f.add(f.staging.fold(EpisodeKey(sid, d, kind),
                                 self._suppressed(sid, kind, t, Verdict.VIOLATING), t, math.nan,
                                 math.nan, d, severity, 1))

    def _fold_curfew_starts(self, now: float, silent: np.ndarray, f: _Fold) -> None:
        """A curfew that began since the last tick: the person already away (their last fix,
        if recent, certainly outside home) or silent."""
        since = self.last_tick if self.last_tick is not None else self.started_at(now)
        if since >= now:
            return
        sup_no = self._sup_no
        act = self.activity
        for schedule, members in self._curfews.items():
            begun = [a for a, _b in schedule.intervals(since, now) if a > since]
            ended = not schedule.is_active(now)
            for a in members:
                key = self._key_of_assignment[a]
                sid = key.supervisee_id
                plan = self.plan_of[sid]
                unverified = EpisodeKey(sid, key.subject, UNVERIFIED_KIND)
                if ended and f.staging.has_state(unverified):
                    f.add(f.staging.fold(unverified, Verdict.COMPLIANT, now, math.nan, math.nan,
                                         sid, "high", 1))
                if not begun:
                    continue
                start = begun[-1]
                s = sup_no.get(sid, -1)
                if s >= 0 and silent[s] and plan.applies(UNVERIFIED_KIND):
                    self._watched(f.staging, "heard").add(sid)
                    f.add(f.staging.fold(
                        unverified, self._suppressed(sid, UNVERIFIED_KIND, start,
                                                     Verdict.VIOLATING),
                        start, math.nan, math.nan, sid, "high", 1))
                    continue
                mine = self._devices_of_sup[s] if s >= 0 else np.zeros(0, dtype=np.int64)
                if not len(mine) or np.isnan(act.fix_ts[mine]).all():
                    continue
                n = int(mine[np.nanargmax(act.fix_ts[mine])])
                if not plan.applies("curfew") or not self._away_at(n, a, start, plan, f.staging):
                    continue
                f.add(f.staging.fold(
                    key, self._suppressed(sid, "curfew", start, Verdict.VIOLATING), start,
                    float(act.lon[n]), float(act.lat[n]), self._device_ids[n],
                    self._rules[self._rule_of_assignment[a]].severity, 1))

    def _away_at(self, n: int, assignment: int, start: float, plan: SupervisionPlan,
                 staging: Staging) -> bool:
        """Whether device ``n``'s fixes before ``start`` confirm its wearer away from the zone
        of ``assignment``: as many certainly-outside fixes in a row as an episode needs to open
        (at most the :data:`~alerts.activity.RECENT_FIXES` kept), none further apart than the
        plan's continuity, the newest recent enough to still speak for the person. One stray
        fix — a cold start, a multipath jump — is not a person out after curfew."""
        need = int(self._confirm[assignment]) or staging.confirm_fixes
        gap = staging.max_gap_s if np.isnan(self._confirm_gap[assignment]) else float(
            self._confirm_gap[assignment])
        ts, lon, lat, acc = self.activity.recent(n, need)
        if len(ts) < min(need, RECENT_FIXES):
            return False
        if start - ts[-1] > self._interval[n] + plan.lost_contact_grace_s:
            return False
        if len(ts) > 1 and np.diff(ts).max() > gap:
            return False
        zone = self.assignments.zone[assignment]
        decisions = self.zoneset.classify(lon, lat, acc, np.arange(len(ts)),
                                          np.full(len(ts), zone))
        return bool((decisions == OUTSIDE).all())

    def started_at(self, now: float) -> float:
        """Where the curfew clock starts on the first tick: the last instant any device was
        heard from before this evaluator (curfews that began while the engine was down are
        caught up), or now."""
        heard = self.activity.last_message
        return float(np.nanmax(heard)) if np.isfinite(heard).any() else now

    # --- after commit ------------------------------------------------------------------------

    def record(self, decided: Decided) -> None:
        """Remember what each device did last (call once the batch is stored). ``decided`` may
        come from the evaluator of an earlier registry: its fixes count by device id."""
        batch, rows, device_no = decided.batch, decided.rows, decided.device_no
        if decided.numbering is not self._device_ids and len(rows):
            # Decided before a reload: its numbers may name other devices here (the numbering
            # follows the registry), and a device removed since has none.
            no = self._device_no
            device_no = np.fromiter((no.get(d, -1) for d in batch.device_id[rows].tolist()),
                                    dtype=np.int64, count=len(rows))
            known = device_no >= 0
            rows, device_no = rows[known], device_no[known]
        if len(rows):
            self.activity.record_fixes(
                device_no, batch.ts[rows], batch.lon[rows], batch.lat[rows],
                batch.accuracy_m[rows], batch.battery[rows], batch.received_at[rows])
        if decided.events:
            ev = [e for e in decided.events if e.device_id in self._device_no]
            self.activity.record_messages(
                np.fromiter((self._device_no[e.device_id] for e in ev), dtype=np.int64,
                            count=len(ev)),
                np.fromiter((e.ts for e in ev), dtype=np.float64, count=len(ev)),
                np.fromiter((e.battery for e in ev), dtype=np.float64, count=len(ev)),
                np.fromiter((e.received_at for e in ev), dtype=np.float64, count=len(ev)))

    # --- helpers -------------------------------------------------------------------------------

    def _suppressed(self, supervisee: str, kind: str, ts: float, verdict: int) -> Verdict:
        if verdict == Verdict.VIOLATING and self.suppressions.covers(supervisee, kind, ts):
            return Verdict.COMPLIANT
        return Verdict(verdict)

    def _advance_clocks(self, staging: Staging, device_no: np.ndarray, ts: np.ndarray) -> None:
        """Set each device's clock to its newest fix in the batch."""
        last = newest_of_each(device_no, ts)
        for no, t in zip(device_no[last].tolist(), ts[last].tolist(), strict=True):
            staging.advance_clock(self._device_ids[no], t)

    _WATCH_KINDS = {
        "battery": frozenset({"low_battery_warning", "low_battery_critical"}),
        "heard": frozenset({device_off.KIND, no_fix.KIND, lost_contact.KIND, UNVERIFIED_KIND}),
    }

    def _watched(self, staging: Staging, name: str) -> set[str]:
        """Subjects (and supervisees) that may have an episode of the named family under way
        (a superset, rebuilt from the episode state when it is forgotten)."""
        if self._watch is None:
            self._watch = {}
        if name not in self._watch:
            keys = staging.keys_of_kinds(self._WATCH_KINDS[name])
            self._watch[name] = {k.subject for k in keys} | {k.supervisee_id for k in keys}
        return self._watch[name]

    def forget_live(self) -> None:
        """Episode state changed behind this evaluator's back (another evaluator folded into
        it): recompute which assignments are live at the next fold."""
        self._live = None
        self._watch = None

    def _live_assignments(self, staging: Staging) -> np.ndarray:
        if self._live is None:
            self._live = np.fromiter(map(staging.has_state, self._key_of_assignment),
                                     dtype=bool, count=len(self._key_of_assignment))
        return self._live
