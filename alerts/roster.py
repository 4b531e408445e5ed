"""The registry as the rules read it: who wears which device, which plan and which zones apply to
whom, numbered for array work.

Devices and supervisees are numbered (the device arrays of :class:`~alerts.activity.Activity`
are indexed by device number); the zone assignments of every supervisee form one
:class:`~geofence.assignments.AssignmentSet`, each assignment with its episode key, its zone
rule, its plan's confirmation and whether the plan enables it. Built once per registry version
by the evaluator and shared by its rules.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from alerts.activity import Activity
from alerts.episodes import EpisodeKey, Staging
from alerts.plans import DEFAULT_PLAN, SupervisionPlan
from alerts.rules import device_off, lost_contact, no_fix
from alerts.rules.check_in_missed import CheckIn
from alerts.rules.curfew import UNVERIFIED_KIND
from alerts.rules.zones import ZONE_RULES, rule_name
from alerts.suppressions import Suppressions
from alerts.verdict import Verdict
from devices.models import Device, Pairing, PositioningOrder, ProtectionOrder, Supervisee
from devices.tables import DeviceTable, SuperviseeTable
from geofence.assignments import Assignment, AssignmentSet
from geofence.layered import layered, layered_list
from geofence.numbers import number
from geofence.zones import Zone
from geofence.zoneset import ZoneSet

Fix4 = tuple[float, float, float, float]  # ts, lon, lat, accuracy


class PlansOf(Mapping[str, SupervisionPlan]):
    """Each supervisee's plan, by id: a list by supervisee number over the roster's numbering
    (one more dict of a million ids held 40 bytes a person, and a change copied it whole).

    >>> plans = PlansOf({"p1": 0, "p2": 1}, [DEFAULT_PLAN, DEFAULT_PLAN])
    >>> plans["p2"] is DEFAULT_PLAN, plans.get("p3"), len(plans)
    (True, None, 2)
    """

    __slots__ = ("_no", "by_number")

    def __init__(self, numbers: Mapping[str, int], by_number: list[SupervisionPlan]):
        self._no = numbers
        self.by_number = by_number  # (a released supervisee's number keeps a plan no one reads)

    def __getitem__(self, sid: str) -> SupervisionPlan:
        return self.by_number[self._no[sid]]

    def __contains__(self, sid: object) -> bool:
        return sid in self._no

    def __iter__(self) -> Iterator[str]:
        return iter(self._no)

    def __len__(self) -> int:
        return len(self._no)

    def distinct(self) -> list[SupervisionPlan]:
        """The plans, each once (a few for many people)."""
        return list({id(p): p for p in self.by_number}.values())


class Runs:
    """``runs[k]``: the run of ``values`` from ``starts[k]`` to ``ends[k]`` (one array and its
    bounds, rather than a list of a million small views). Made from sorted runs
    (:meth:`of_sorted`); :meth:`with_runs` gives some of them new values, appended."""

    def __init__(self, values: np.ndarray, starts: np.ndarray, ends: np.ndarray):
        self._values = values
        self._starts = starts
        self._ends = ends

    @classmethod
    def of_sorted(cls, values: np.ndarray, bounds: np.ndarray) -> Runs:
        """Run k from ``bounds[k]`` to ``bounds[k + 1]``."""
        return cls(values, bounds[:-1], bounds[1:])

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, k: int) -> np.ndarray:
        return self._values[self._starts[k]:self._ends[k]]

    def concat(self, ks: np.ndarray) -> np.ndarray:
        """The runs of ``ks``, one after the other (one array, no Python loop)."""
        starts, ends = self._starts[ks], self._ends[ks]
        lengths = ends - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        return self._values[np.arange(int(lengths.sum())) + offsets]

    def with_runs(self, runs: dict[int, list[int]], count: int) -> Runs:
        """A copy for ``count`` keys in which key k of ``runs`` has those values (its old
        values stay in the array, unread); keys beyond the old count start empty."""
        starts = np.zeros(count, dtype=self._starts.dtype)
        ends = np.zeros(count, dtype=self._ends.dtype)
        starts[:len(self)], ends[:len(self)] = self._starts, self._ends
        at = len(self._values)
        extra: list[int] = []
        for k, values in runs.items():
            starts[k], ends[k] = at + len(extra), at + len(extra) + len(values)
            extra += values
        return Runs(np.concatenate([self._values, np.asarray(extra, dtype=self._values.dtype)]),
                    starts, ends)


@dataclass(frozen=True, slots=True)
class RosterChange:
    """What :meth:`Roster.patched` changed, by number: devices (changed, new, gone — then a
    hole — or whose owner changed), supervisees (changed, new, released, or whose devices
    changed), the assignments now dead, and where the new ones start."""

    devices: np.ndarray
    supervisees: np.ndarray
    dead: np.ndarray
    first_new: int
    cleared: np.ndarray  # device numbers now of a new device, or of none: never heard from


@dataclass(frozen=True, slots=True)
class LinkChange:
    """What the rules of links need after a registry change: the people and devices whose
    links (pairings, orders, positioning orders) were read again, the pairings and
    positioning orders read, and all protection orders and recent check-in requests (a few:
    the rules of those are made again whole)."""

    people: frozenset[str]
    devices: frozenset[str]
    pairings: Sequence[Pairing]
    positioning: Sequence[PositioningOrder]
    orders: Sequence[ProtectionOrder]
    check_ins: Sequence[CheckIn]


class AssignmentKeys(Sequence[EpisodeKey]):
    """The episode key of each assignment, made when first asked and kept in ``made`` (three
    million keys held for everyone cost ~240 bytes a person; those of the assignments folded
    are asked for at every fix: a hot loop reads ``made`` first). From the assignment's
    subject and zone and its zone rule's alert kind. ``made`` may be shared with the keys of
    the roster this one was patched from: numbers are never reused."""

    def __init__(self, assignments: AssignmentSet, rule: np.ndarray,
                 kinds: Sequence[str], made: dict[int, EpisodeKey] | None = None):
        self._assignments = assignments
        self._rule = rule
        self._kinds = kinds
        self.made: dict[int, EpisodeKey] = made if made is not None else {}

    def __len__(self) -> int:
        return len(self._rule)

    def __getitem__(self, a: int) -> EpisodeKey:  # type: ignore[override]
        key = self.made.get(a)
        if key is None:
            x = self._assignments
            key = self.made[int(a)] = EpisodeKey(x.subject_of(a), x.zone_id_of(a),
                                                 self._kinds[self._rule[a]])
        return key

    def __iter__(self) -> Iterator[EpisodeKey]:
        kinds, x = self._kinds, self._assignments
        subjects, zones = x.subjects, x.zoneset.zones
        for s, z, r in zip(x.subject.tolist(), x.zone.tolist(), self._rule.tolist(),
                           strict=True):
            yield EpisodeKey(subjects[s], zones.ids[z], kinds[r])


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
        # Devices are numbered; a device's supervisee by number, among all supervisees.
        # (Each device read once, in order: a lookup in a dict of millions costs a
        # microsecond, and there would be one per device for each column.)
        # A table of devices (as loaded) is read as it is: its numbering is the roster's.
        table = devices if isinstance(devices, DeviceTable) else DeviceTable(devices.values())
        n_dev = len(table)
        self.device_ids = table.ids
        self.device_no = table.numbers
        # Supervisees are numbered in sorted order: a table of them loaded so is read as it is.
        people = supervisees if isinstance(supervisees, SuperviseeTable) and (
            supervisees.ordered) else SuperviseeTable(
                map(supervisees.__getitem__, sorted(supervisees)))
        self.supervisee_ids = people.ids
        self.sup_no = sup_no = people.numbers
        self.plan_of = PlansOf(sup_no, [plans.get(p or "", DEFAULT_PLAN) for p in people.plan_ids])
        # (Numbers by number are int32: a registry numbers fewer than 2**31 of anything.)
        self.sup_of_device = np.fromiter(
            (sup_no.get(sid or "", -1) for sid in table.supervisee_ids), dtype=np.int32,
            count=n_dev)
        by_sup = np.argsort(self.sup_of_device, kind="stable").astype(np.int32)
        bounds = np.searchsorted(self.sup_of_device[by_sup],
                                 np.arange(len(supervisees) + 1)).astype(np.int32)
        # The device numbers of supervisee k: devices_of_sup[k].
        self.devices_of_sup = Runs.of_sorted(by_sup, bounds)
        plan_of_sup = [*self.plan_of.by_number, DEFAULT_PLAN]
        self.plans_of_device = [plan_of_sup[k] for k in self.sup_of_device.tolist()]
        own = table.intervals()  # (NaN or 0: as the plan says)
        self.interval = np.where(
            np.isnan(own) | (own == 0),
            np.fromiter((p.report_interval_s for p in self.plans_of_device), dtype=np.float64,
                        count=n_dev), own)
        self.is_bracelet = table.kind_is("bracelet")
        self.is_phone = table.kind_is("phone")
        self.activity = (activity.renumbered(self.device_ids) if activity is not None
                         else Activity(self.device_ids))
        self.last_tick: float | None = None  # carried over when the registry is reloaded

        self.zoneset = zoneset = zoneset if zoneset is not None else ZoneSet(zones)
        self.assignments = assignments if assignments is not None else AssignmentSet.of_zones(
            zoneset, people.ids, list(people.zone_ids()), sup_no)
        # A device's subject number in the assignment set: its supervisee's (the subjects are
        # the supervisees with zones, most often all of them).
        subjects = self.assignments.subjects
        subject_of_sup = np.append(
            np.arange(len(subjects), dtype=np.int32) if subjects == self.supervisee_ids
            else self.assignments.subject_numbers(self.supervisee_ids), -1).astype(np.int32)
        self.subject_of_device = subject_of_sup[self.sup_of_device]
        self.zone_rules = list(ZONE_RULES.values())
        self._alert_kinds = [rule.alert_kind for rule in self.zone_rules]
        (self.rule_of_assignment, self.plan_of_assignment, self.enabled, self.confirm,
         self.confirm_gap) = self._assignment_columns(self.assignments, 0)
        self.key_of_assignment = AssignmentKeys(
            self.assignments, self.rule_of_assignment, self._alert_kinds)
        # Devices numbered once but gone since (see :meth:`patched`): free for new ones.
        self.free_devices: list[int] = []
        # How many of the assignments are dead (left in place by :meth:`patched`).
        self.dead_assignments = 0
        self._heard_watch: set[str] | None = None

    def _assignment_columns(self, asg: AssignmentSet, start: int) -> tuple:
        """Per assignment from ``start`` on: its zone rule's number, plan, whether the plan
        enables it, its confirmation (0 and NaN: the tracker's, the engine's settings). Worked
        out per zone and per subject, then spread over the assignments."""
        zones = self.zoneset.zones
        rule_no = {name: i for i, name in enumerate(ZONE_RULES)}
        zone, subject = asg.zone[start:], asg.subject[start:]
        used, zone_at = np.unique(zone, return_inverse=True)
        # (Narrow types: three assignments a person, millions of people.)
        rule = np.fromiter((rule_no[rule_name(zones.kinds[z], zones.schedules[z])]
                            for z in used.tolist()),
                           dtype=np.int8, count=len(used))[zone_at]
        who, subject_at = np.unique(subject, return_inverse=True)
        plan_of, subjects = self.plan_of, asg.subjects
        # The subjects' plans, each once (by identity), and each subject's number among them.
        distinct: dict[int, int] = {}
        table: list[SupervisionPlan] = []
        numbers: list[int] = []
        # (Subject k is supervisee k when the numberings are one: no lookup by id.)
        plan_by = plan_of.by_number if subjects == self.supervisee_ids else None
        for k in who.tolist():
            p = plan_by[k] if plan_by is not None else plan_of[subjects[k]]
            if id(p) not in distinct:
                distinct[id(p)] = len(table)
                table.append(p)
            numbers.append(distinct[id(p)])
        plan_no = np.asarray(numbers, dtype=np.int64)[subject_at]
        kinds = self._alert_kinds
        applies = np.asarray([[p.applies(k) for k in kinds] for p in table],
                             dtype=bool).reshape(len(table), len(kinds))
        enabled = applies[plan_no, rule]
        confirm = np.asarray([p.confirm_fixes or 0 for p in table], dtype=np.int32)[plan_no]
        gap = np.asarray([np.nan if p.confirm_gap_s is None else p.confirm_gap_s
                          for p in table], dtype=np.float64)[plan_no]
        plans = [table[n] for n in plan_no.tolist()]
        return rule, plans, enabled, confirm, gap

    def patched(self, devices: Mapping[str, Device], supervisees: Mapping[str, Supervisee],
                plans: Mapping[str, SupervisionPlan], suppressions: Suppressions,
                zoneset: ZoneSet, people: set[str], device_ids: set[str],
                regrouped: set[str] = frozenset()) -> tuple[Roster, RosterChange]:
        """This roster after a change to some ``people`` (their row, plan or zones; enrolled
        or released) and ``device_ids`` (changed, added, retired), with ``zoneset`` (this
        one's zones, some redrawn in place) — and what changed, for the rules to patch
        themselves (see :meth:`alerts.evaluator.Evaluator.patched`). ``regrouped``: more
        people whose assignments are made again (those of a zone whose rule changed).

        Nothing is renumbered: a new person or device comes last (a device takes the number
        of one gone, if any), one gone leaves a hole — a number nobody's, never heard from —
        so the :class:`~alerts.activity.Activity` and every array kept by number stay valid.
        The cost follows the change, plus a few copies of arrays and dicts."""
        new = copy.copy(self)
        new.devices, new.supervisees, new.suppressions = devices, supervisees, suppressions
        # (What no one changed is shared with this roster, not copied; the numberings and
        # the lists of ids take the changes layered over this roster's.)
        sup_no = self.sup_no
        by_number = list(self.plan_of.by_number) if people else self.plan_of.by_number
        n_sup = len(self.supervisee_ids)
        added: dict[str, int] = {}
        released: list[str] = []
        touched_sups: list[int] = []
        for sid in sorted(people):
            if sid in supervisees:
                plan = plans.get(supervisees[sid].plan_id or "", DEFAULT_PLAN)
                k = sup_no.get(sid)
                if k is None:
                    k = added[sid] = number(n_sup)
                    n_sup += 1
                    by_number.append(plan)
                else:
                    by_number[k] = plan
                touched_sups.append(k)
            elif sid in sup_no:  # released: a hole
                k = sup_no[sid]
                released.append(sid)
                by_number[k] = DEFAULT_PLAN
                touched_sups.append(k)
        if added or released:
            new.supervisee_ids = layered_list(self.supervisee_ids).changed({}, added)
            new.sup_no = layered(sup_no).changed(added, removed=released)
        sup_no = new.sup_no
        new.plan_of = PlansOf(sup_no, by_number)
        # Devices: those named, and those of the people named, before and after.
        named = set(device_ids)
        for k in touched_sups:
            if k < len(self.devices_of_sup):
                named.update(self.device_ids[n] for n in self.devices_of_sup[k].tolist())
        old_no, free = self.device_no, list(self.free_devices)
        n_dev = len(self.device_ids)
        numbered: dict[str, int] = {}
        placed: dict[int, str] = {}
        touched_devs: list[int] = []
        cleared: list[int] = []  # numbers now of a new device, or of none
        gone = sorted(d for d in named if d not in devices and d in old_no)
        for d in gone:
            n = old_no[d]
            placed[n] = ""  # nobody's (an id is never "")
            free.append(n)
            touched_devs.append(n)
            cleared.append(n)
        for d in sorted(named):
            if d in devices and d not in old_no:
                n = free.pop() if free else n_dev
                n_dev = max(n_dev, n + 1)
                placed[n], numbered[d] = d, number(n)
                touched_devs.append(n)
                cleared.append(n)
            elif d in devices:
                touched_devs.append(old_no[d])
        if placed:
            new.device_ids = layered_list(self.device_ids).changed(placed)
            new.device_no = layered(old_no).changed(numbered, removed=gone)
            new.free_devices = free
        dev_ids, dev_no = new.device_ids, new.device_no
        touched_devs = sorted(set(touched_devs))
        sup_of = np.full(n_dev, -1, dtype=np.int32)
        sup_of[:len(self.sup_of_device)] = self.sup_of_device
        new.plans_of_device = plans_of_device = list(self.plans_of_device) + [DEFAULT_PLAN] * (
            n_dev - len(self.plans_of_device))
        interval = np.full(n_dev, DEFAULT_PLAN.report_interval_s)
        interval[:len(self.interval)] = self.interval
        is_bracelet, is_phone = np.zeros(n_dev, dtype=bool), np.zeros(n_dev, dtype=bool)
        is_bracelet[:len(self.is_bracelet)] = self.is_bracelet
        is_phone[:len(self.is_phone)] = self.is_phone
        for n in touched_devs:
            d = dev_ids[n]
            if d in dev_no:
                device = devices[d]
                sup_of[n] = sup_no.get(device.supervisee_id or "", -1)
                plans_of_device[n] = plan = new.plan_of_device(d)
                interval[n] = device.report_interval_s or plan.report_interval_s
                is_bracelet[n], is_phone[n] = device.kind == "bracelet", device.kind == "phone"
            else:  # a hole
                sup_of[n], plans_of_device[n] = -1, DEFAULT_PLAN
                interval[n] = DEFAULT_PLAN.report_interval_s
                is_bracelet[n] = is_phone[n] = False
        # Everyone whose devices changed, or who is new: their run of devices again.
        owners = set(touched_sups) | set(sup_of[touched_devs].tolist()) | set(
            self.sup_of_device[[n for n in touched_devs if n < len(self.sup_of_device)]
                               ].tolist())
        owners.discard(-1)
        runs = {k: [] for k in owners}
        for n in np.flatnonzero(np.isin(sup_of, list(owners))).tolist():
            runs[int(sup_of[n])].append(n)
        new.sup_of_device, new.interval = sup_of, interval
        new.is_bracelet, new.is_phone = is_bracelet, is_phone
        new.devices_of_sup = self.devices_of_sup.with_runs(runs, n_sup)
        # Assignments: everyone named has theirs made again.
        again = (people | regrouped)
        fresh = [Assignment(sid, z, zoneset.zones.schedules[zoneset.index[z]])
                 for sid in sorted(again) if sid in supervisees
                 for z in supervisees[sid].zone_ids if z in zoneset.index]
        new.zoneset = zoneset
        new.assignments, dead = self.assignments.patched(zoneset, again, fresh)
        cols = new._assignment_columns(new.assignments, len(self.assignments))
        new.rule_of_assignment = np.concatenate([self.rule_of_assignment, cols[0]])
        new.key_of_assignment = AssignmentKeys(
            new.assignments, new.rule_of_assignment, self._alert_kinds,
            self.key_of_assignment.made)
        new.plan_of_assignment = self.plan_of_assignment + cols[1]
        new.enabled = np.concatenate([self.enabled, cols[2]])
        new.enabled[dead] = False
        new.dead_assignments = self.dead_assignments + len(dead)
        new.confirm = np.concatenate([self.confirm, cols[3]])
        new.confirm_gap = np.concatenate([self.confirm_gap, cols[4]])
        # Each device's subject number: the touched devices, and those of new subjects.
        subject = np.full(n_dev, -1, dtype=np.int32)
        subject[:len(self.subject_of_device)] = self.subject_of_device
        renamed = set(touched_devs)
        for sid in again:
            k = sup_no.get(sid)
            if k is not None:
                renamed.update(new.devices_of_sup[k].tolist())
        renamed_list = sorted(renamed)
        subject[renamed_list] = new.assignments.subject_numbers(
            [(devices[dev_ids[n]].supervisee_id or "") if dev_ids[n] in dev_no else ""
             for n in renamed_list])
        new.subject_of_device = subject
        new.last_tick = self.last_tick
        new._heard_watch = None
        return new, RosterChange(
            devices=np.asarray(touched_devs, dtype=np.int64),
            supervisees=np.asarray(sorted(set(touched_sups) | owners | {
                sup_no[s] for s in regrouped if s in sup_no}), dtype=np.int64),
            dead=dead, first_new=len(self.key_of_assignment),
            cleared=np.asarray(sorted(set(cleared)), dtype=np.int64))

    def plans_apply(self, kind: str, start: int = 0) -> np.ndarray:
        """Whether the plan of each assignment from ``start`` on applies ``kind``: asked of
        each plan once (by identity), spread over the assignments."""
        plans = self.plan_of_assignment[start:]
        ids = np.fromiter(map(id, plans), dtype=np.int64, count=len(plans))
        _, first, at = np.unique(ids, return_index=True, return_inverse=True)
        on = np.fromiter((plans[i].applies(kind) for i in first.tolist()), dtype=bool,
                         count=len(first))
        return on[at.reshape(-1)]

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
