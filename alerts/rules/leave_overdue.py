"""Leave (外出请假) and standing permits: the destination binds while away, and a person not back
by the end is ``leave_overdue`` (未归).

An approved leave reaches the engine as a suppression window with
:class:`~alerts.suppressions.LeaveTerms` (``store/leave.py``): the window itself lifts the county
line (``inclusion_exit``; for a leave also the curfew at home) through the usual suppression.
This rule adds the rest:

- **the destination binds** — from ``binds_from`` to ``binds_until`` (a leave: after the travel
  out, until the travel back; a permit: the whole window) each fresh fix is judged against the
  destination zone (a permit: against the destination *or* the county, the person may be in
  either): certainly outside → violating, certainly inside → compliant, folded with the plan's
  confirmation into the episode ``(person, destination zone, inclusion_exit)`` — the
  destination is an inclusion zone of theirs for that time. It is judged here, not as an
  assignment of the zone rules, because the window's suppression covers every
  ``inclusion_exit`` of the person. Outside the binding time the episode clears.
- **overdue** — on the clock, once the window has ended (and within :data:`JUDGED_WITHIN_S`
  of its end), a leave not returned (销假) whose person is not back raises ``leave_overdue``
  (severity high, subject ``leave <id>``), once per leave. Back means: a fix since the leave
  began, the newest of the person's, inside every county line of theirs (an uncertain fix at
  the line counts as back: from the end on, the county line applies again by itself). No fix
  since the start, or no county line to be back inside, is not back. The alert clears with a
  fresh fix certainly inside every county line, or with the return.

A person may also be both ``leave_overdue`` and ``inclusion_exit`` after the end: the first
says why (未归), the second where; the console groups them as one incident.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, Changes
from alerts.suppressions import Suppression
from alerts.verdict import Verdict
from geofence import INSIDE, OUTSIDE

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange

KIND = "leave_overdue"
SEVERITY = "high"
DESTINATION_KIND = "inclusion_exit"
# A leave's end is judged once, this long at most after it (an engine that was down longer
# leaves it to the county line, which applies again).
JUDGED_WITHIN_S = 12 * 3600.0


def overdue_key(w: Suppression) -> EpisodeKey:
    assert w.leave is not None
    return EpisodeKey(w.supervisee_id, f"leave {w.leave.leave_id}", KIND)


class LeaveOverdueRule:
    kinds = frozenset({KIND, DESTINATION_KIND})

    def __init__(self, roster: Roster):
        self.roster = roster
        self.leaves: dict[str, list[Suppression]] = {}
        for w in roster.suppressions.leaves():
            if w.supervisee_id in roster.supervisees:
                self.leaves.setdefault(w.supervisee_id, []).append(w)
        self._by_end = sorted(((w.ends_at, w.leave.leave_id, w)  # type: ignore[union-attr]
                               for ws in self.leaves.values() for w in ws),
                              key=lambda e: (e[0], e[1]))
        self._ends = [e[0] for e in self._by_end]
        self._by_unbind = sorted(((w.leave.binds_until, w.leave.leave_id, w)  # type: ignore[union-attr]
                                  for ws in self.leaves.values() for w in ws),
                                 key=lambda e: (e[0], e[1]))
        self._unbinds = [e[0] for e in self._by_unbind]
        self._watched = np.asarray(sorted(roster.sup_no[s] for s in self.leaves),
                                   dtype=np.int64)

    def patched(self, roster: Roster, change: RosterChange) -> LeaveOverdueRule:
        """After a registry change: made again from the leave windows (a few, not one per
        person)."""
        return LeaveOverdueRule(roster)

    # --- geometry ----------------------------------------------------------------------------

    def county_zones(self, supervisee_id: str) -> list[int]:
        """The person's county lines: their inclusion zones without a schedule."""
        r = self.roster
        return [int(r.assignments.zone[a]) for a in r.assignments.of_subject(supervisee_id)
                if r.key_of_assignment[a].kind == DESTINATION_KIND]

    def decisions(self, zones: list[int], lon: float, lat: float, acc: float) -> np.ndarray:
        n = len(zones)
        if not n:
            return np.zeros(0, dtype=np.int8)
        return self.roster.zoneset.classify(
            np.array([lon]), np.array([lat]), np.array([acc]), np.zeros(n, dtype=np.int64),
            np.asarray(zones, dtype=np.int64))

    def destination_verdict(self, sid: str, w: Suppression, lon: float, lat: float,
                            acc: float) -> Verdict:
        assert w.leave is not None
        dest = self.roster.zoneset.index.get(w.leave.destination)
        if dest is None:
            return Verdict.UNKNOWN  # the zone is gone: nothing to judge against
        zones = [dest] + (self.county_zones(sid) if w.leave.permit else [])
        d = self.decisions(zones, lon, lat, acc)
        if (d == INSIDE).any():
            return Verdict.COMPLIANT
        return Verdict.VIOLATING if (d == OUTSIDE).all() else Verdict.UNKNOWN

    def back(self, sid: str, since: float) -> tuple[bool, float, float]:
        """Whether the person is back inside their county (their newest fix, if taken since
        ``since``), and where that fix is."""
        newest = self.roster.newest_fix_of_supervisee(sid)
        if newest is None:
            return False, math.nan, math.nan
        ts, lon, lat, acc = newest
        county = self.county_zones(sid)
        if ts < since or not county:
            return False, lon, lat
        return not (self.decisions(county, lon, lat, acc) == OUTSIDE).any(), lon, lat

    # --- the protocol ------------------------------------------------------------------------

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if not batch.any_fresh:
            return out
        r = self.roster
        overdue = {k.supervisee_id for k in staging.keys_of_kind(KIND) if staging.state(k).open}
        if not len(self._watched) and not overdue:
            return out
        d = batch.decided
        fb, rows = d.batch, d.rows
        sel = np.flatnonzero(batch.fresh)
        sup = r.sup_of_device[d.device_no[sel]]
        watched = np.union1d(self._watched, np.asarray(
            [r.sup_no[s] for s in overdue if s in r.sup_no], dtype=np.int64))
        mine = np.isin(sup, watched)
        devices = fb.device_id
        for i, k in zip(sel[mine].tolist(), sup[mine].tolist(), strict=True):
            row = int(rows[i])
            sid = r.supervisee_ids[k]
            ts, lon, lat = float(fb.ts[row]), float(fb.lon[row]), float(fb.lat[row])
            acc = float(fb.accuracy_m[row])
            self._fold_destinations(out, staging, sid, ts, lon, lat, acc, devices[row])
            if sid in overdue:
                self._fold_back(out, staging, sid, ts, lon, lat, acc, devices[row])
        return out

    def _fold_destinations(self, out: Changes, staging: Staging, sid: str, ts: float,
                           lon: float, lat: float, acc: float, device: str) -> None:
        plan = self.roster.plan_of[sid]
        binding: dict[str, Suppression | None] = {}
        for w in self.leaves.get(sid, ()):
            assert w.leave is not None
            bound = w.leave.binds_from <= ts < w.leave.binds_until
            if bound or w.leave.destination not in binding:
                binding[w.leave.destination] = w if bound else None
        for dest, w in sorted(binding.items()):
            key = EpisodeKey(sid, dest, DESTINATION_KIND)
            if w is None or not plan.applies(DESTINATION_KIND):
                if staging.has_state(key):
                    out.fold(staging, key, Verdict.COMPLIANT, ts, lon, lat, device, SEVERITY,
                             plan.confirm_fixes, max_gap_s=plan.confirm_gap_s)
                continue
            out.fold(staging, key, self.destination_verdict(sid, w, lon, lat, acc), ts, lon,
                     lat, device, SEVERITY, plan.confirm_fixes, max_gap_s=plan.confirm_gap_s)

    def _fold_back(self, out: Changes, staging: Staging, sid: str, ts: float, lon: float,
                   lat: float, acc: float, device: str) -> None:
        county = self.county_zones(sid)
        if not county or not (self.decisions(county, lon, lat, acc) == INSIDE).all():
            return
        for key in sorted(k for k in staging.keys_of_kind(KIND) if k.supervisee_id == sid):
            if staging.state(key).open:
                out.fold(staging, key, Verdict.COMPLIANT, ts, lon, lat, device, SEVERITY, 1)

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        out = Changes()
        r = self.roster
        # Destinations no longer binding (the window's travel back, or a return) clear; a
        # fix does it too, later than that.
        lo = bisect.bisect_left(self._unbinds, now - JUDGED_WITHIN_S)
        hi = bisect.bisect_right(self._unbinds, now)
        for _until, _lid, w in self._by_unbind[lo:hi]:
            assert w.leave is not None
            sid, dest = w.supervisee_id, w.leave.destination
            key = EpisodeKey(sid, dest, DESTINATION_KIND)
            if staging.state(key).open and not any(
                    v.leave is not None and v.leave.destination == dest
                    and v.leave.binds_from <= now < v.leave.binds_until
                    for v in self.leaves[sid]):
                out.fold(staging, key, Verdict.COMPLIANT, now, math.nan, math.nan,
                         self.roster.device_named_for(sid), SEVERITY, 1)
        # Ends: from JUDGED_WITHIN_S ago until now.
        lo = bisect.bisect_left(self._ends, now - JUDGED_WITHIN_S)
        hi = bisect.bisect_right(self._ends, now)
        for end, _lid, w in self._by_end[lo:hi]:
            assert w.leave is not None
            sid = w.supervisee_id
            key = overdue_key(w)
            st = staging.state(key)
            if w.leave.returned or not r.plan_of[sid].applies(KIND):
                if st.open:
                    out.fold(staging, key, Verdict.COMPLIANT, now, math.nan, math.nan,
                             self.roster.device_named_for(sid), SEVERITY, 1)
                continue
            if staging.has_state(key):
                continue  # judged already
            back, lon, lat = self.back(sid, w.starts_at)
            out.fold(staging, key, Verdict.COMPLIANT if back else Verdict.VIOLATING, end, lon,
                     lat, self.roster.device_named_for(sid), SEVERITY, 1)
        return out

    def forget(self) -> None:
        pass
