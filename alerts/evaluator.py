"""The evaluation step: a batch of fixes → geofence decisions → verdicts → episode changes.

Built from the registry (who wears which device, which zones apply to whom); rebuilt when the
registry changes, while the episode state in the :class:`~alerts.episodes.EpisodeTracker` lives on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules import ZONE_RULES
from alerts.rules.battery import LowBatteryRule
from alerts.verdict import Verdict
from devices.fixes import FixBatch, newest_of_each
from devices.models import Device, Supervisee
from geofence.assignments import Assignment, AssignmentSet
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


class Evaluator:
    def __init__(
        self,
        devices: Mapping[str, Device],
        supervisees: Mapping[str, Supervisee],
        zones: Sequence[Zone],
    ):
        zoneset = ZoneSet(zones)
        self._devices = devices
        self.assignments = AssignmentSet(zoneset, [
            Assignment(s.id, z) for s in supervisees.values() for z in s.zone_ids
            if z in zoneset.index
        ])
        # Devices are numbered; a device's supervisee by number, for the assignment set.
        self._device_ids = list(devices)
        self._device_no = {d: i for i, d in enumerate(self._device_ids)}
        self._subject_of_device = self.assignments.subject_numbers(
            [devices[d].supervisee_id for d in self._device_ids])
        self._rules = list(ZONE_RULES.values())
        rule_no = {kind: i for i, kind in enumerate(ZONE_RULES)}
        self._rule_of_assignment = np.asarray(
            [rule_no[zoneset.zones[z].kind] for z in self.assignments.zone], dtype=np.int64
        )
        self._key_of_assignment = [
            EpisodeKey(a.subject, a.zone_id, self._rules[r].alert_kind)
            for a, r in zip(self.assignments.assignments, self._rule_of_assignment, strict=True)
        ]
        # Which assignments may have an episode or a streak under way (a superset): a compliant
        # verdict on any other changes nothing and is skipped without a look at the state.
        self._live: np.ndarray | None = None
        self.battery = LowBatteryRule()
        # Devices that may have a battery episode or streak under way (a superset), likewise.
        self._battery_watch: set[str] | None = None

    def knows(self, device_id: str) -> bool:
        return device_id in self._devices

    def supervisee_of(self, device_id: str) -> str:
        return self._devices[device_id].supervisee_id

    def device_numbers(self, device_ids: np.ndarray) -> np.ndarray:
        """Each device's number (all must be registered)."""
        return np.fromiter(map(self._device_no.__getitem__, device_ids.tolist()),
                           dtype=np.int64, count=len(device_ids))

    def evaluate(self, batch: FixBatch, staging: Staging) -> list[AlertChange]:
        """Fold the fixes into episodes in fix-time order per supervisee: :meth:`decide`, then
        :meth:`fold`."""
        return self.fold(self.decide(batch), staging)

    def decide(self, batch: FixBatch) -> Decided:
        """The verdicts of a batch, ready to fold. Pure: depends on the registry only, so it
        can run while the previous batch is being stored."""
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
        return Decided(batch, order, device_no, d.fix, d.assignment, pair_rule, verdicts,
                       self.battery.verdicts(batch.battery[order]))

    def fold(self, decided: Decided, staging: Staging) -> list[AlertChange]:
        """Fold decided verdicts into the staged episodes.

        Fixes no newer than the last one already evaluated for their device (late or repeated)
        are skipped: they are stored, but cannot reopen or clear a settled episode.
        """
        batch, rows = decided.batch, decided.rows
        if not len(rows):
            return []
        devices = batch.device_id.tolist()
        ts = batch.ts[rows]
        clock = np.fromiter((staging.device_clock(devices[r]) for r in rows.tolist()),
                            dtype=np.float64, count=len(rows))
        fresh = ts > clock
        if not fresh.any():
            return []
        self._advance_clocks(staging, decided.device_no[fresh], ts[fresh])

        verdicts, assignment = decided.verdicts, decided.pair_assignment
        live = self._live_assignments(staging)
        live[assignment[verdicts == Verdict.VIOLATING]] = True
        foldable = (verdicts != Verdict.UNKNOWN) & live[assignment] & fresh[decided.pair_fix]
        changes: list[AlertChange] = []
        for k in np.flatnonzero(foldable).tolist():
            row = int(rows[decided.pair_fix[k]])
            rule = self._rules[decided.pair_rule[k]]
            change = staging.fold(
                self._key_of_assignment[assignment[k]], Verdict(int(verdicts[k])),
                float(batch.ts[row]), float(batch.lon[row]), float(batch.lat[row]),
                devices[row], rule.severity,
            )
            if change is not None:
                changes.append(change)
        changes += self._fold_battery(decided, staging, fresh)
        return changes

    def _fold_battery(
        self, decided: Decided, staging: Staging, fresh: np.ndarray
    ) -> list[AlertChange]:
        """Fold battery readings into each device's low-battery episodes (see
        :mod:`alerts.rules.battery`). Only low readings, and the readings of devices that had
        one, can change anything; the rest are skipped."""
        if self._battery_watch is None:
            self._battery_watch = staging.subjects_with_state(self.battery.alert_kinds)
        verdicts = decided.battery_verdicts
        low = (verdicts == Verdict.VIOLATING).any(axis=0) & fresh
        batch, rows = decided.batch, decided.rows
        devices = batch.device_id[rows]
        watch = self._battery_watch
        if watch:
            low |= fresh & np.fromiter(map(watch.__contains__, devices.tolist()), dtype=bool,
                                       count=len(rows))
        changes: list[AlertChange] = []
        for i in np.flatnonzero(low).tolist():
            device, row = devices[i], int(rows[i])
            watch.add(device)
            supervisee = self._devices[device].supervisee_id
            for level, verdict in zip(self.battery.levels, verdicts[:, i].tolist(), strict=True):
                change = staging.fold(
                    EpisodeKey(supervisee, device, level.alert_kind), Verdict(verdict),
                    float(batch.ts[row]), float(batch.lon[row]), float(batch.lat[row]), device,
                    level.severity,
                )
                if change is not None:
                    changes.append(change)
        return changes

    def _advance_clocks(self, staging: Staging, device_no: np.ndarray, ts: np.ndarray) -> None:
        """Set each device's clock to its newest fix in the batch."""
        last = newest_of_each(device_no, ts)
        for no, t in zip(device_no[last].tolist(), ts[last].tolist(), strict=True):
            staging.advance_clock(self._device_ids[no], t)

    def forget_live(self) -> None:
        """Episode state changed behind this evaluator's back (another evaluator folded into
        it): recompute which assignments are live at the next fold."""
        self._live = None
        self._battery_watch = None

    def _live_assignments(self, staging: Staging) -> np.ndarray:
        if self._live is None:
            self._live = np.fromiter(map(staging.has_state, self._key_of_assignment),
                                     dtype=bool, count=len(self._key_of_assignment))
        return self._live
