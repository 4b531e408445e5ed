"""The evaluation step: a batch of fixes → geofence decisions → verdicts → episode changes.

Built from the registry (who wears which device, which zones apply to whom); rebuilt when the
registry changes, while the episode state in the :class:`~alerts.episodes.EpisodeTracker` lives on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules import ZONE_RULES
from alerts.verdict import Verdict
from devices.fixes import Fix, FixBatch
from devices.models import Device, Supervisee
from geofence.assignments import Assignment, AssignmentSet
from geofence.zones import Zone
from geofence.zoneset import ZoneSet


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
        self._rules = list(ZONE_RULES.values())
        rule_no = {kind: i for i, kind in enumerate(ZONE_RULES)}
        self._rule_of_assignment = np.asarray(
            [rule_no[zoneset.zones[z].kind] for z in self.assignments.zone], dtype=np.int64
        )
        self._key_of_assignment = [
            EpisodeKey(a.subject, a.zone_id, self._rules[r].alert_kind)
            for a, r in zip(self.assignments.assignments, self._rule_of_assignment, strict=True)
        ]

    def knows(self, device_id: str) -> bool:
        return device_id in self._devices

    def supervisee_of(self, device_id: str) -> str:
        return self._devices[device_id].supervisee_id

    def evaluate(self, fixes: Sequence[Fix], staging: Staging) -> list[AlertChange]:
        """Fold the fixes into episodes in fix-time order per supervisee.

        Fixes no newer than the last one already evaluated for their device (late or repeated)
        are skipped here: they are stored, but cannot reopen or clear a settled episode.
        """
        fresh: list[tuple[str, Fix]] = []
        for f in fixes:
            if f.ts > staging.device_clock(f.device_id):
                fresh.append((self._devices[f.device_id].supervisee_id, f))
        fresh.sort(key=lambda sf: (sf[0], sf[1].ts, sf[1].device_id))
        for _, f in fresh:
            staging.advance_clock(f.device_id, f.ts)
        if not fresh:
            return []

        batch = FixBatch.from_fixes([f for _, f in fresh])
        d = self.assignments.evaluate(
            [sid for sid, _ in fresh], batch.ts, batch.lon, batch.lat, batch.accuracy_m
        )
        pair_rule = self._rule_of_assignment[d.assignment]
        verdicts = np.full(len(d), Verdict.UNKNOWN, dtype=np.int8)
        for i, rule in enumerate(self._rules):
            mask = pair_rule == i
            verdicts[mask] = rule.verdicts(d.decision[mask])

        changes: list[AlertChange] = []
        violating = int(Verdict.VIOLATING)
        for k in np.flatnonzero(verdicts != Verdict.UNKNOWN):
            key = self._key_of_assignment[d.assignment[k]]
            verdict = int(verdicts[k])
            # The common case, a compliant fix of someone with no episode and no streak under
            # way, changes nothing: skip it without touching the episode state.
            if verdict != violating and not staging.has_state(key):
                continue
            f = fresh[d.fix[k]][1]
            rule = self._rules[pair_rule[k]]
            change = staging.fold(
                key, Verdict(verdict), f.ts, f.lon, f.lat, f.device_id, rule.severity
            )
            if change is not None:
                changes.append(change)
        return changes
