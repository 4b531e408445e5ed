"""The evaluation step: a batch of fixes and device events → verdicts → episode changes.

Built from the registry (who wears which device, which zones, pairings, protection orders and
plans apply to whom; see :class:`~alerts.roster.Roster`); rebuilt when the registry changes,
while the episode state in the :class:`~alerts.episodes.EpisodeTracker` and the device
:class:`~alerts.activity.Activity` live on. The rules themselves are handlers, one per module of
:mod:`alerts.rules`; the evaluator decides a batch and dispatches. Three entry points:

- :meth:`Evaluator.decide` — the geofence decisions of a batch (pure, may run ahead);
- :meth:`Evaluator.fold` — fold a decided batch into the staged episodes, rule by rule;
- :meth:`Evaluator.tick` — the clock's rules: lost contact, a device that died silently, no GPS
  fix, a curfew that begins while the person is away or silent.

After a batch has been stored, :meth:`Evaluator.record` remembers what each device did last.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from alerts.activity import Activity
from alerts.episodes import AlertChange, Staging
from alerts.plans import SupervisionPlan
from alerts.roster import LinkChange, Roster, RosterChange
from alerts.rules.base import Batch, Decided, Rule
from alerts.rules.battery import LowBatteryEpisodes
from alerts.rules.check_in_missed import CheckIn, CheckInMissedRule
from alerts.rules.curfew import CurfewStarts
from alerts.rules.device_off import DeviceOffRule
from alerts.rules.gathering import GatheringRule
from alerts.rules.leave_overdue import LeaveOverdueRule
from alerts.rules.lost_contact import LostContactRule
from alerts.rules.no_fix import NoFixRule
from alerts.rules.order_ending import OrderEndingRule
from alerts.rules.pass_through import PassThroughRule
from alerts.rules.phone_left_behind import PhoneLeftBehindRule
from alerts.rules.separation import SeparationRule
from alerts.rules.tamper import TamperRule
from alerts.rules.victim import VictimProximityRule
from alerts.rules.zones import ZoneEpisodes
from alerts.suppressions import Suppressions
from alerts.verdict import Verdict
from devices.events import DeviceEvent
from devices.fixes import FixBatch, newest_of_each
from devices.models import Device, Pairing, PositioningOrder, ProtectionOrder, Supervisee
from geofence.assignments import AssignmentSet
from geofence.zones import Zone
from geofence.zoneset import ZoneSet

__all__ = ["Decided", "Evaluator", "build_rules"]


def build_rules(roster: Roster, pairings: Iterable[Pairing], orders: Iterable[ProtectionOrder],
                positioning: Iterable[PositioningOrder] = (),
                check_ins: Iterable[CheckIn] = ()
                ) -> tuple[LowBatteryEpisodes, list[Rule]]:
    """Every rule, in the order they fold and tick: pass-through after the zones (a crossing
    already in a zone episode is not one), the device-off clock before lost contact (devices
    known to be off explain a silence), lost contact before the curfew starts (a silent person
    is unverified, not away). Also the battery rule alone: its levels decide a batch."""
    battery = LowBatteryEpisodes(roster)
    lost_contact = LostContactRule(roster)
    return battery, [
        ZoneEpisodes(roster),
        PassThroughRule(roster),
        battery,
        SeparationRule(roster, pairings),
        VictimProximityRule(roster, orders),
        TamperRule(roster),
        DeviceOffRule(roster),
        lost_contact,
        NoFixRule(roster),
        CurfewStarts(roster, lost_contact),
        OrderEndingRule(roster, positioning),
        LeaveOverdueRule(roster),
        CheckInMissedRule(roster, check_ins),
        GatheringRule(roster),
        PhoneLeftBehindRule(roster),
    ]


def patched_rules(rules: Sequence[Rule], roster: Roster, change: RosterChange,
                  links: LinkChange) -> list[Rule]:
    """The rules of :func:`build_rules`, each patched after a registry change (see
    :meth:`Evaluator.patched`), in the same order."""
    (zones, pass_through, battery, separation, victim, tamper, device_off, lost_contact, no_fix,
     curfew, order_ending, leave_overdue, check_in_missed, gathering, phone_left_behind) = rules
    lost = lost_contact.patched(roster, change)
    return [
        zones.patched(roster, change),
        pass_through.patched(roster, change),
        battery.patched(roster, change),
        separation.patched(roster, change, links),
        victim.patched(roster, change, links),
        tamper.patched(roster, change),
        device_off.patched(roster, change),
        lost,
        no_fix.patched(roster, change),
        curfew.patched(roster, change, lost),
        order_ending.patched(roster, change, links),
        leave_overdue.patched(roster, change),
        check_in_missed.patched(roster, change, links),
        gathering.patched(roster, change),
        phone_left_behind.patched(roster, change),
    ]


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
        positioning: Iterable[PositioningOrder] = (),
        check_ins: Iterable[CheckIn] = (),
        suppressions: Suppressions | None = None,
        activity: Activity | None = None,
        accuracy_factor: float = 1.0,
        zoneset: ZoneSet | None = None,
        assignments: AssignmentSet | None = None,
    ):
        """``accuracy_factor`` scales each fix's reported accuracy before any rule reads it:
        devices report radii of different confidence (Android: 68 %), and a rule that calls a
        fix certain trusts that radius. ``zoneset`` / ``assignments``: ``zones`` and
        everyone's assignments compiled already (see :class:`~alerts.roster.Roster`)."""
        self.roster = r = Roster(
            devices, supervisees, zones, plans or {}, suppressions or Suppressions(), activity,
            zoneset=zoneset, assignments=assignments)
        self.accuracy_factor = accuracy_factor
        self.zoneset, self.assignments = r.zoneset, r.assignments
        self.plan_of, self.suppressions = r.plan_of, r.suppressions
        self.battery, self.rules = build_rules(r, pairings, orders, positioning, check_ins)

    def patched(self, devices: Mapping[str, Device], supervisees: Mapping[str, Supervisee],
                plans: Mapping[str, SupervisionPlan], suppressions: Suppressions,
                zoneset: ZoneSet, people: set[str], device_ids: set[str], regrouped: set[str],
                links: LinkChange) -> tuple[Evaluator, RosterChange]:
        """This evaluator after a registry change to some ``people`` and ``device_ids`` (and
        ``regrouped``: people whose assignments are made again, see
        :meth:`~alerts.roster.Roster.patched`), each rule patching what it derives for them
        alone — a zone redrawn or a bracelet swapped costs what depends on it, not a rebuild
        of everyone. Pure: this one goes on deciding batches meanwhile. Its
        :class:`~alerts.activity.Activity` is still this one's: see
        :meth:`~alerts.activity.Activity.patched`."""
        new = copy.copy(self)
        r, change = self.roster.patched(devices, supervisees, plans, suppressions, zoneset,
                                        people, device_ids, regrouped)
        new.roster = r
        new.zoneset, new.assignments = r.zoneset, r.assignments
        new.plan_of, new.suppressions = r.plan_of, r.suppressions
        new.rules = patched_rules(self.rules, r, change, links)
        new.battery = next(rule for rule in new.rules if isinstance(rule, LowBatteryEpisodes))
        return new, change

    @property
    def activity(self) -> Activity:
        return self.roster.activity

    @activity.setter
    def activity(self, activity: Activity) -> None:
        self.roster.activity = activity

    @property
    def last_tick(self) -> float | None:
        """The clock's last tick (carried over when the registry is reloaded)."""
        return self.roster.last_tick

    @last_tick.setter
    def last_tick(self, now: float | None) -> None:
        self.roster.last_tick = now

    # --- registry ----------------------------------------------------------------------------

    def knows(self, device_id: str) -> bool:
        return device_id in self.roster.devices

    def supervisee_of(self, device_id: str) -> str | None:
        return self.roster.devices[device_id].supervisee_id

    def device_numbers(self, device_ids: np.ndarray) -> np.ndarray:
        """Each device's number (all must be registered)."""
        return self.roster.device_numbers(device_ids)

    # --- deciding and folding ----------------------------------------------------------------

    def evaluate(self, batch: FixBatch, staging: Staging,
                 events: Sequence[DeviceEvent] = ()) -> list[AlertChange]:
        """:meth:`decide`, then :meth:`fold`."""
        return self.fold(self.decide(batch, events), staging)

    def decide(self, batch: FixBatch, events: Sequence[DeviceEvent] = ()) -> Decided:
        """The verdicts of a batch, ready to fold. Pure: depends on the registry only, so it
        can run while the previous batch is being stored."""
        r = self.roster
        if self.accuracy_factor != 1.0:
            batch = replace(batch, accuracy_m=batch.accuracy_m * self.accuracy_factor)
        device_no = r.device_numbers(batch.device_id)
        subject = r.subject_of_device[device_no]
        order = np.lexsort((device_no, batch.ts, subject))
        device_no, ts, subject = device_no[order], batch.ts[order], subject[order]
        # A fix repeated within the batch counts once.
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = (device_no[1:] != device_no[:-1]) | (ts[1:] != ts[:-1])
        if not keep.all():
            order, device_no, ts, subject = order[keep], device_no[keep], ts[keep], subject[keep]
        d = r.assignments.evaluate_numbered(
            subject, ts, batch.lon[order], batch.lat[order], batch.accuracy_m[order]
        )
        pair_rule = r.rule_of_assignment[d.assignment]
        verdicts = np.full(len(d), Verdict.UNKNOWN, dtype=np.int8)
        for i, rule in enumerate(r.zone_rules):
            mask = pair_rule == i
            verdicts[mask] = rule.verdicts(d.decision[mask])
        verdicts[~r.enabled[d.assignment]] = Verdict.UNKNOWN
        return Decided(batch, order, device_no, d.fix, d.assignment, pair_rule, verdicts,
                       self.battery.levels.verdicts(batch.battery[order]), r.device_ids,
                       tuple(sorted(events, key=lambda e: (e.device_id, e.ts))))

    def fold(self, decided: Decided, staging: Staging) -> list[AlertChange]:
        """Fold decided verdicts into the staged episodes, rule by rule.

        Fixes no newer than the last one already evaluated for their device (late or repeated)
        are skipped: they are stored, but cannot reopen or clear a settled episode.
        """
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
        view = Batch(decided, fresh)
        changes: list[AlertChange] = []
        for rule in self.rules:
            changes += rule.fold(view, staging)
        return changes

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        """The rules that fire on time passing, not on a message."""
        changes: list[AlertChange] = []
        for rule in self.rules:
            changes += rule.tick(now, staging)
        self.last_tick = now
        return changes

    # --- after commit ------------------------------------------------------------------------

    def record(self, decided: Decided) -> None:
        """Remember what each device did last (call once the batch is stored). ``decided`` may
        come from the evaluator of an earlier registry: its fixes count by device id."""
        r = self.roster
        batch, rows, device_no = decided.batch, decided.rows, decided.device_no
        if decided.numbering is not r.device_ids and len(rows):
            # Decided before a reload: its numbers may name other devices here (the numbering
            # follows the registry), and a device removed since has none.
            no = r.device_no
            device_no = np.fromiter((no.get(d, -1) for d in batch.device_id[rows].tolist()),
                                    dtype=np.int64, count=len(rows))
            known = device_no >= 0
            rows, device_no = rows[known], device_no[known]
        if len(rows):
            self.activity.record_fixes(
                device_no, batch.ts[rows], batch.lon[rows], batch.lat[rows],
                batch.accuracy_m[rows], batch.battery[rows], batch.received_at[rows])
        if decided.events:
            ev = [e for e in decided.events if e.device_id in r.device_no]
            self.activity.record_messages(
                np.fromiter((r.device_no[e.device_id] for e in ev), dtype=np.int64,
                            count=len(ev)),
                np.fromiter((e.ts for e in ev), dtype=np.float64, count=len(ev)),
                np.fromiter((e.battery for e in ev), dtype=np.float64, count=len(ev)),
                np.fromiter((e.received_at for e in ev), dtype=np.float64, count=len(ev)))

    # --- helpers -------------------------------------------------------------------------------

    def _advance_clocks(self, staging: Staging, device_no: np.ndarray, ts: np.ndarray) -> None:
        """Set each device's clock to its newest fix in the batch."""
        last = newest_of_each(device_no, ts)
        ids = self.roster.device_ids
        for no, t in zip(device_no[last].tolist(), ts[last].tolist(), strict=True):
            staging.advance_clock(ids[no], t)

    def forget_live(self) -> None:
        """Episode state changed behind this evaluator's back (another evaluator folded into
        it): each rule recomputes what it derived from it at the next fold."""
        self.roster.forget()
        for rule in self.rules:
            rule.forget()
