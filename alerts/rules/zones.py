"""The zone rules' shared fold: each (fix, assignment) verdict into its zone's episode.

:mod:`~alerts.rules.exclusion`, :mod:`~alerts.rules.inclusion` and :mod:`~alerts.rules.curfew`
differ only in how a geofence decision becomes a verdict (:data:`ZONE_RULES`, applied by the
evaluator when it decides a batch) and in their alert kind; past that they are one rule, kept
here: suppressions turn violations compliant, and each verdict is folded with the plan's
confirmation of its assignment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from alerts.episodes import AlertChange, Staging
from alerts.rules.base import Batch, BatchRule, Changes
from alerts.rules.curfew import CurfewRule
from alerts.rules.exclusion import ExclusionZoneRule
from alerts.rules.inclusion import InclusionZoneRule
from alerts.verdict import Verdict
from geofence.schedules import Schedule
from geofence.zones import Zone

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange


class ZoneRule(Protocol):
    """A rule about being inside or outside a zone."""

    alert_kind: str
    severity: str

    def verdicts(self, decisions: np.ndarray) -> np.ndarray:
        """Map geofence decisions (INSIDE/OUTSIDE/UNCERTAIN/INACTIVE) to verdicts."""
        ...


ZONE_RULES: dict[str, ZoneRule] = {
    "exclusion": ExclusionZoneRule(),
    "inclusion": InclusionZoneRule(),
    "curfew": CurfewRule(),
}


ZONE_KINDS = frozenset(rule.alert_kind for rule in ZONE_RULES.values())


def zone_rule_name(zone: Zone) -> str:
    """Which of :data:`ZONE_RULES` a zone's assignments follow."""
    return rule_name(zone.kind, zone.schedule)


def rule_name(kind: str, schedule: Schedule | None) -> str:
    """:func:`zone_rule_name` of a zone of that kind and schedule (a curfew: an inclusion
    zone on a schedule, see :attr:`Zone.is_curfew`)."""
    return "curfew" if kind == "inclusion" and schedule is not None else kind


class ZoneEpisodes(BatchRule):
    kinds = frozenset(r.alert_kind for r in ZONE_RULES.values())

    def __init__(self, roster: Roster):
        self.roster = roster
        # Which assignments may have an episode or a streak under way (a superset): a compliant
        # verdict on any other changes nothing and is skipped without a look at the state.
        self._live: np.ndarray | None = None

    def patched(self, roster: Roster, change: RosterChange) -> ZoneEpisodes:
        """After a registry change (see :meth:`alerts.roster.Roster.patched`): what it derives
        comes from the episodes, looked at again."""
        return ZoneEpisodes(roster)

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if not batch.any_fresh:
            return out
        r, decided = self.roster, batch.decided
        fix_batch, rows = decided.batch, decided.rows
        verdicts, assignment = decided.verdicts.copy(), decided.pair_assignment
        if r.suppressions:
            for k in np.flatnonzero(verdicts == Verdict.VIOLATING).tolist():
                key = r.key_of_assignment[assignment[k]]
                if r.suppressions.covers(key.supervisee_id, key.kind,
                                         float(fix_batch.ts[rows[decided.pair_fix[k]]])):
                    verdicts[k] = Verdict.COMPLIANT
        live = self._live_assignments(staging)
        live[assignment[verdicts == Verdict.VIOLATING]] = True
        foldable = (verdicts != Verdict.UNKNOWN) & live[assignment] & batch.fresh[decided.pair_fix]
        devices = fix_batch.device_id
        keys = r.key_of_assignment
        made = keys.made  # (the keys asked for before: one dict look-up a fix)
        for k in np.flatnonzero(foldable).tolist():
            row = int(rows[decided.pair_fix[k]])
            a = int(assignment[k])
            out.fold(
                staging, made.get(a) or keys[a], Verdict(int(verdicts[k])),
                float(fix_batch.ts[row]), float(fix_batch.lon[row]), float(fix_batch.lat[row]),
                devices[row], r.zone_rules[decided.pair_rule[k]].severity,
                int(r.confirm[a]) or None,
                max_gap_s=None if np.isnan(r.confirm_gap[a]) else float(r.confirm_gap[a]),
            )
        return out

    def forget(self) -> None:
        self._live = None

    def _live_assignments(self, staging: Staging) -> np.ndarray:
        if self._live is None:
            # From the keys with a state (the tracker's index by kind), not a look at each of
            # millions of assignments: a registry change forgets this at every swap.
            r = self.roster
            live = np.zeros(len(r.key_of_assignment), dtype=bool)
            for key in staging.keys_of_kinds(ZONE_KINDS):
                for a in r.assignments.of_subject(key.supervisee_id).tolist():
                    if r.key_of_assignment[a] == key:
                        live[a] = True
            self._live = live
        return self._live
