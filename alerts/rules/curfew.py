"""Curfew: at home while the curfew is in force (an inclusion zone on a schedule).

Fix by fix it is the inclusion rule with its own alert kind (:class:`CurfewRule`, folded with
the other zone rules by :mod:`~alerts.rules.zones`): certainly outside the home zone while the
schedule is active violates; inside, or any time outside the schedule, complies (so an episode
under way clears when the curfew ends). Two cases need a clock rather than a fix, and are
handled by :class:`CurfewStarts` on the clock, when a curfew begins:

- the person is already away: their last position, if recent, certainly outside → ``curfew``
  from the instant the curfew began, without waiting for the next fix;
- the person is silent (no message for the reporting interval plus grace) →
  ``curfew_unverified``: nobody knows whether they are home. Their next fix clears it, and so
  does the end of the curfew.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np

from alerts.activity import RECENT_FIXES
from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.plans import SupervisionPlan
from alerts.rules.base import Batch, BatchRule, Changes
from alerts.rules.inclusion import InclusionZoneRule
from alerts.rules.silence import heard_again
from alerts.verdict import Verdict
from geofence import OUTSIDE
from geofence.schedules import Schedule

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange
    from alerts.rules.lost_contact import LostContactRule


class CurfewRule(InclusionZoneRule):
    alert_kind = "curfew"
    severity = "high"


UNVERIFIED_KIND = "curfew_unverified"


class CurfewStarts(BatchRule):
    """The clock's side of the curfew: ``curfew`` for a person away when it begins,
    ``curfew_unverified`` for one silent then (as ``lost_contact`` judged at the same tick,
    which runs first)."""

    kinds = frozenset({CurfewRule.alert_kind, UNVERIFIED_KIND})

    def __init__(self, roster: Roster, lost_contact: LostContactRule):
        self.roster = roster
        self._lost_contact = lost_contact
        # The curfew assignments of each schedule.
        self._curfews: dict[Schedule, np.ndarray] = self._with_curfews({}, roster, 0)

    @staticmethod
    def _with_curfews(curfews: dict[Schedule, np.ndarray], roster: Roster, start: int
                      ) -> dict[Schedule, np.ndarray]:
        """``curfews`` and the curfew assignments numbered from ``start``."""
        asg = roster.assignments
        curfew = [i for i, rule in enumerate(roster.zone_rules) if rule.alert_kind == "curfew"]
        mine = start + np.flatnonzero(np.isin(roster.rule_of_assignment[start:], curfew)
                                      & (asg.schedule[start:] >= 0))
        out = dict(curfews)
        for n in np.unique(asg.schedule[mine]).tolist():
            schedule = asg.schedules[n]
            out[schedule] = np.concatenate([out.get(schedule, np.zeros(0, dtype=np.int64)),
                                            mine[asg.schedule[mine] == n]])
        return out

    def patched(self, roster: Roster, change: RosterChange, lost_contact: LostContactRule
                ) -> CurfewStarts:
        """After a registry change: the dead assignments out, the new ones in."""
        new = copy.copy(self)
        new.roster, new._lost_contact = roster, lost_contact
        kept = {s: m[~np.isin(m, change.dead)] for s, m in self._curfews.items()} if len(
            change.dead) else self._curfews
        new._curfews = {s: m for s, m in self._with_curfews(kept, roster, change.first_new
                                                           ).items() if len(m)}
        return new

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        """A fresh fix clears an unverified curfew."""
        out = Changes()
        r = self.roster
        for d, sid, t in heard_again(r, batch, staging, by="person", fixes_only=True):
            for a in r.assignments.of_subject(sid).tolist():
                key = r.key_of_assignment[a]
                if key.kind == "curfew":
                    out.fold(staging, EpisodeKey(sid, key.subject, UNVERIFIED_KIND),
                             Verdict.COMPLIANT, t, math.nan, math.nan, d, "high", 1)
        return out

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        """A curfew that began since the last tick: the person already away (their last fix,
        if recent, certainly outside home) or silent."""
        out = Changes()
        r = self.roster
        since = r.last_tick if r.last_tick is not None else self.started_at(now)
        if since >= now:
            return out
        silent = self._lost_contact.silent
        act = r.activity
        for schedule, members in self._curfews.items():
            begun = [a for a, _b in schedule.intervals(since, now) if a > since]
            ended = not schedule.is_active(now)
            for a in members.tolist():
                key = r.key_of_assignment[a]
                sid = key.supervisee_id
                plan = r.plan_of[sid]
                unverified = EpisodeKey(sid, key.subject, UNVERIFIED_KIND)
                if ended and staging.has_state(unverified):
                    out.fold(staging, unverified, Verdict.COMPLIANT, now, math.nan, math.nan,
                             sid, "high", 1)
                if not begun:
                    continue
                start = begun[-1]
                s = r.sup_no.get(sid, -1)
                if s >= 0 and silent[s] and plan.applies(UNVERIFIED_KIND):
                    r.heard_watch(staging).add(sid)
                    out.fold(staging, unverified,
                             r.suppressed(sid, UNVERIFIED_KIND, start, Verdict.VIOLATING),
                             start, math.nan, math.nan, sid, "high", 1)
                    continue
                mine = r.devices_of_sup[s] if s >= 0 else np.zeros(0, dtype=np.int64)
                if not len(mine) or np.isnan(act.fix_ts[mine]).all():
                    continue
                n = int(mine[np.nanargmax(act.fix_ts[mine])])
                if not plan.applies("curfew") or not self._away_at(n, a, start, plan, staging):
                    continue
                out.fold(staging, key, r.suppressed(sid, "curfew", start, Verdict.VIOLATING),
                         start, float(act.lon[n]), float(act.lat[n]), r.device_ids[n],
                         r.zone_rules[r.rule_of_assignment[a]].severity, 1)
        return out

    def _away_at(self, n: int, assignment: int, start: float, plan: SupervisionPlan,
                 staging: Staging) -> bool:
        """Whether device ``n``'s fixes before ``start`` confirm its wearer away from the zone
        of ``assignment``: as many certainly-outside fixes in a row as an episode needs to open
        (at most the :data:`~alerts.activity.RECENT_FIXES` kept), none further apart than the
        plan's continuity, the newest recent enough to still speak for the person. One stray
        fix — a cold start, a multipath jump — is not a person out after curfew."""
        r = self.roster
        need = int(r.confirm[assignment]) or staging.confirm_fixes
        gap = staging.max_gap_s if np.isnan(r.confirm_gap[assignment]) else float(
            r.confirm_gap[assignment])
        ts, lon, lat, acc = r.activity.recent(n, need)
        if len(ts) < min(need, RECENT_FIXES):
            return False
        if start - ts[-1] > r.interval[n] + plan.lost_contact_grace_s:
            return False
        if len(ts) > 1 and np.diff(ts).max() > gap:
            return False
        zone = r.assignments.zone[assignment]
        decisions = r.zoneset.classify(lon, lat, acc, np.arange(len(ts)),
                                       np.full(len(ts), zone))
        return bool((decisions == OUTSIDE).all())

    def started_at(self, now: float) -> float:
        """Where the curfew clock starts on the first tick: the last instant any device was
        heard from before this evaluator (curfews that began while the engine was down are
        caught up), or now."""
        heard = self.roster.activity.last_message
        return float(np.nanmax(heard)) if np.isfinite(heard).any() else now
