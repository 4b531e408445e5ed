"""The registry as the rules read it: who wears which device, which plan and which zones apply to
whom, numbered for array work.

Devices and supervisees are numbered (the device arrays of :class:`~alerts.activity.Activity`
are indexed by device number); the zone assignments of every supervisee form one
:class:`~geofence.assignments.AssignmentSet`, each assignment with its episode key, its zone
rule, its plan's confirmation and whether the plan enables it. Built once per registry version
by the evaluator and shared by its rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from alerts.activity import Activity
from alerts.episodes import EpisodeKey, Staging
from alerts.plans import DEFAULT_PLAN, SupervisionPlan
from alerts.rules import device_off, lost_contact, no_fix
from alerts.rules.curfew import UNVERIFIED_KIND
from alerts.rules.zones import ZONE_RULES, zone_rule_name
from alerts.suppressions import Suppressions
from alerts.verdict import Verdict
from devices.models import Device, Supervisee
from geofence.assignments import Assignment, AssignmentSet
from geofence.zones import Zone
from geofence.zoneset import ZoneSet

Fix4 = tuple[float, float, float, float]  # ts, lon, lat, accuracy


class Runs:
    """``runs[k]``: the run of ``values`` from ``bounds[k]`` to ``bounds[k + 1]`` (one array and
    its bounds, rather than a list of a million small views)."""

    def __init__(self, values: np.ndarray, bounds: np.ndarray):
        self._values = values
        self._bounds = bounds

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def __getitem__(self, k: int) -> np.ndarray:
        return self._values[self._bounds[k]:self._bounds[k + 1]]

    def concat(self, ks: np.ndarray) -> np.ndarray:
        """The runs of ``ks``, one after the other (one array, no Python loop)."""
        starts, ends = self._bounds[ks], self._bounds[np.asarray(ks) + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        return self._values[np.arange(int(lengths.sum())) + offsets]


class Roster:
    def __init__(
        self,
        devices: Mapping[str, Device],
        supervisees: Mapping[str, Supervisee],
        zones: Sequence[Zone],
        plans: Mapping[str, SupervisionPlan],
        suppressions: Suppressions,
        activity: Activity | None,
        zoneset: ZoneSet | None = None,
        assignments: AssignmentSet | None = None,
    ):
        """``zoneset`` / ``assignments``: those of the previous registry, when its zones (and,
        for the assignments, everyone's zones) are the same — compiling them is most of the
        cost of a rebuild (see :meth:`ingest.pipeline.Pipeline.reload_registry`)."""
        self.devices = devices
        self.supervisees = supervisees
        self.suppressions = suppressions
        self.plan_of = {s.id: plans.get(s.plan_id or "", DEFAULT_PLAN)
                        for s in supervisees.values()}
        # Devices are numbered; a device's supervisee by number, among all supervisees.
        self.device_ids = list(devices)
        self.device_no = {d: i for i, d in enumerate(self.device_ids)}
        self.supervisee_ids = sorted(supervisees)
        self.sup_no = sup_no = {s: i for i, s in enumerate(self.supervisee_ids)}
        self.sup_of_device = np.fromiter(
            (sup_no.get(devices[d].supervisee_id or "", -1) for d in self.device_ids),
            dtype=np.int64, count=len(self.device_ids))
        by_sup = np.argsort(self.sup_of_device, kind="stable")
        bounds = np.searchsorted(self.sup_of_device[by_sup], np.arange(len(supervisees) + 1))
        # The device numbers of supervisee k: devices_of_sup[k].
        self.devices_of_sup = Runs(by_sup, bounds)
        self.plans_of_device = [self.plan_of_device(d) for d in self.device_ids]
        self.interval = np.fromiter(
            (devices[d].report_interval_s or p.report_interval_s
             for d, p in zip(self.device_ids, self.plans_of_device, strict=True)),
            dtype=np.float64, count=len(self.device_ids))
        self.activity = (activity.renumbered(self.device_ids) if activity is not None
                         else Activity(self.device_ids))
        self.last_tick: float | None = None  # carried over when the registry is reloaded

        self.zoneset = zoneset = zoneset if zoneset is not None else ZoneSet(zones)
        self.assignments = assignments if assignments is not None else AssignmentSet(zoneset, [
            Assignment(s.id, z, zoneset.zones[zoneset.index[z]].schedule)
            for s in supervisees.values() for z in s.zone_ids if z in zoneset.index
        ])
        # A device's subject number in the assignment set.
        self.subject_of_device = self.assignments.subject_numbers(
            [devices[d].supervisee_id or "" for d in self.device_ids])
        self.zone_rules = list(ZONE_RULES.values())
        rule_no = {name: i for i, name in enumerate(ZONE_RULES)}
        self.rule_of_assignment = np.asarray(
            [rule_no[zone_rule_name(zoneset.zones[z])] for z in self.assignments.zone],
            dtype=np.int64)
        asg = self.assignments.assignments
        self.key_of_assignment = [
            EpisodeKey(a.subject, a.zone_id, self.zone_rules[r].alert_kind)
            for a, r in zip(asg, self.rule_of_assignment, strict=True)
        ]
        self.plan_of_assignment = [self.plan_of[a.subject] for a in asg]
        self.enabled = np.fromiter(
            (p.applies(k.kind)
             for p, k in zip(self.plan_of_assignment, self.key_of_assignment, strict=True)),
            dtype=bool, count=len(asg))
        # Confirmation per assignment; 0 and NaN: the tracker's (the engine's settings).
        self.confirm = np.fromiter((p.confirm_fixes or 0 for p in self.plan_of_assignment),
                                   dtype=np.int64, count=len(asg))
        self.confirm_gap = np.fromiter(
            (np.nan if p.confirm_gap_s is None else p.confirm_gap_s
             for p in self.plan_of_assignment), dtype=np.float64, count=len(asg))
        self._heard_watch: set[str] | None = None

    def plan_of_device(self, device_id: str) -> SupervisionPlan:
        sid = self.devices[device_id].supervisee_id
        return self.plan_of.get(sid, DEFAULT_PLAN) if sid else DEFAULT_PLAN

    def device_named_for(self, supervisee_id: str) -> str:
        """The device an alert about the person as a whole names: their bracelet (any device
        when none; "" when they have none)."""
        k = self.sup_no.get(supervisee_id, -1)
        mine = [self.device_ids[n] for n in (self.devices_of_sup[k] if k >= 0 else [])]
        bracelets = [d for d in mine if self.devices[d].kind == "bracelet"]
        return (bracelets or mine or [""])[0]

    def device_numbers(self, device_ids: np.ndarray) -> np.ndarray:
        """Each device's number (all must be registered)."""
        return np.fromiter(map(self.device_no.__getitem__, device_ids.tolist()),
                           dtype=np.int64, count=len(device_ids))

    def suppressed(self, supervisee: str, kind: str, ts: float, verdict: int) -> Verdict:
        """The verdict, but compliant where a suppression (leave, a court date) covers it."""
        if verdict == Verdict.VIOLATING and self.suppressions.covers(supervisee, kind, ts):
            return Verdict.COMPLIANT
        return Verdict(verdict)

    def newest_fix_of_supervisee(self, supervisee_id: str) -> Fix4 | None:
        """The newest fix any of the supervisee's devices sent."""
        act = self.activity
        k = self.sup_no.get(supervisee_id, -1)
        mine = self.devices_of_sup[k] if k >= 0 else np.zeros(0, dtype=np.int64)
        mine = mine[~np.isnan(act.fix_ts[mine])]
        if not len(mine):
            return None
        n = int(mine[np.argmax(act.fix_ts[mine])])
        return float(act.fix_ts[n]), float(act.lon[n]), float(act.lat[n]), float(act.acc[n])

    # The silence rules (device off, no fix, lost contact, an unverified curfew) watch one
    # set together, as they always have: a subject in it gets a compliant verdict of each of
    # those kinds when heard from, and such a verdict records a state even at rest (its time
    # then orders later verdicts), so one set per rule would change what is folded.
    HEARD_KINDS = frozenset({device_off.KIND, no_fix.KIND, lost_contact.KIND, UNVERIFIED_KIND})

    def heard_watch(self, staging: Staging) -> set[str]:
        """Devices and supervisees that may have an episode under way that the next message
        clears (a superset, rebuilt from the episode state when it is forgotten)."""
        if self._heard_watch is None:
            keys = staging.keys_of_kinds(self.HEARD_KINDS)
            self._heard_watch = {k.subject for k in keys} | {k.supervisee_id for k in keys}
        return self._heard_watch

    def forget(self) -> None:
        self._heard_watch = None
