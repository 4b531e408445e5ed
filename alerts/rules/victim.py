"""Victim proximity: a moving exclusion circle around a protected person's phone.

The episode opens when the supervisee is *certainly* within ``enter_m`` of the victim and clears
only when they are certainly beyond ``exit_m`` (farther: a person lingering at the edge raises one
alert, not many). Both positions are uncertain — each fix's accuracy — and the two fixes are not
taken at the same instant: the gap is allowed for at :data:`DRIFT_M_PER_S` (a walking pace; over
:data:`MAX_SKEW_S` apart, the pair says nothing). Verdicts are made at every fix of either side,
against the supervisee's newest fix and the victim's *best* recent one (a phone lying indoors
reports Wi-Fi positions of a few hundred metres; the GPS fix of some minutes before, aged at a
walking pace, says more — see :class:`alerts.activity.Activity`).

The victim's position has two estimates, the newest fix and the best recent one; each bounds
where the victim is, so each gives a verdict, and :func:`combined_verdict` takes the decisive
one (a phone indoors may report 400 m of Wi-Fi uncertainty that still puts a person 10 m away
certainly within 500 m, while the aged GPS fix of minutes ago, farther off, says nothing).

The two positions err independently, so their separation errs by the root sum of squares of the
two radii (for two Gaussian errors with 95 % radii *a* and *b*, the 95 % radius of their
difference is √(a² + b²)), not by their plain sum; the walking allowance for the time between
them is added on top.

>>> proximity_verdicts(np.array([300.0, 600.0, 800.0]), np.array([20.0, 20.0, 20.0]),
...                    np.array([20.0, 20.0, 20.0]), np.array([0.0, 0.0, 0.0]), 500.0,
...                    700.0).tolist()
[1, 2, 0]
>>> proximity_verdicts(np.array([400.0]), np.array([60.0]), np.array([60.0]), np.array([0.0]),
...                    500.0, 700.0).tolist()  # 400 + 85 < 500: certainly within
[1]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, BatchRule, Changes
from alerts.verdict import Verdict
from devices.models import ProtectionOrder
from geofence.distance import distance_m

if TYPE_CHECKING:
    from alerts.roster import LinkChange, Roster, RosterChange

KIND = "victim_proximity"
SEVERITY = "critical"
DRIFT_M_PER_S = 1.5
MAX_SKEW_S = 900.0


def proximity_verdicts(distance_m: np.ndarray, person_acc_m: np.ndarray,
                       victim_acc_m: np.ndarray, skew_s: np.ndarray, enter_m: float,
                       exit_m: float) -> np.ndarray:
    slack = np.hypot(person_acc_m, victim_acc_m) + DRIFT_M_PER_S * np.abs(skew_s)
    out = np.full(len(distance_m), Verdict.UNKNOWN, dtype=np.int8)
    out[distance_m + slack < enter_m] = Verdict.VIOLATING
    out[distance_m - slack > exit_m] = Verdict.COMPLIANT
    out[np.abs(skew_s) > MAX_SKEW_S] = Verdict.UNKNOWN
    return out


def combined_verdict(verdicts: np.ndarray) -> Verdict:
    """One verdict from several, each from a different estimate of the victim's position: any
    estimate certain of a side decides it, unless another is certain of the other side (then
    one of them is wrong, and nothing is certain).

    >>> V = Verdict
    >>> [combined_verdict(np.array(v)).name for v in ([V.UNKNOWN, V.VIOLATING],
    ...     [V.COMPLIANT, V.UNKNOWN], [V.VIOLATING, V.COMPLIANT], [V.UNKNOWN, V.UNKNOWN])]
    ['VIOLATING', 'COMPLIANT', 'UNKNOWN', 'UNKNOWN']
    """
    violating = bool((verdicts == Verdict.VIOLATING).any())
    compliant = bool((verdicts == Verdict.COMPLIANT).any())
    if violating != compliant:
        return Verdict.VIOLATING if violating else Verdict.COMPLIANT
    return Verdict.UNKNOWN


class VictimProximityRule(BatchRule):
    """One episode per protection order (subject: the victim)."""

    kinds = frozenset({KIND})

    def __init__(self, roster: Roster, orders: Iterable[ProtectionOrder]):
        self.roster = roster
        self._orders_of: dict[str, list[ProtectionOrder]] = {}
        for o in orders:
            if o.device_id in roster.devices and o.supervisee_id in roster.supervisees:
                self._orders_of.setdefault(o.supervisee_id, []).append(o)
                self._orders_of.setdefault(o.device_id, []).append(o)

    def patched(self, roster: Roster, change: RosterChange, links: LinkChange
                ) -> VictimProximityRule:
        """After a registry change: made again from every order (one per protected victim:
        a few, not one per person)."""
        return VictimProximityRule(roster, links.orders)

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        """Distance to each protected victim, at every fresh fix of either side, in time
        order."""
        out = Changes()
        if not self._orders_of or not batch.any_fresh:
            return out
        r, decided = self.roster, batch.decided
        fix_batch, rows = decided.batch, decided.rows
        sel = [int(i) for i in np.flatnonzero(batch.fresh).tolist()
               if self._orders_for_fix(fix_batch.device_id[rows[i]])]
        if not sel:
            return out
        act = r.activity
        by_order: dict[ProtectionOrder, list[int]] = {}
        for i in sel:
            for o in self._orders_for_fix(fix_batch.device_id[rows[i]]):
                by_order.setdefault(o, []).append(int(rows[i]))
        for o, order_rows in by_order.items():
            plan = r.plan_of[o.supervisee_id]
            if not plan.applies(KIND):
                continue
            vn = r.device_no[o.device_id]
            # Two estimates of where the victim is: the newest fix, and the best recent one (see
            # Activity: a stale precise fix, aged at a walking pace, may say more than a fresh
            # vague one). Each bounds the victim's position; both hold, so either may decide.
            best = (float(act.best_ts[vn]), float(act.best_lon[vn]), float(act.best_lat[vn]),
                    float(act.best_acc[vn]))
            newest = (float(act.fix_ts[vn]), float(act.lon[vn]), float(act.lat[vn]),
                      float(act.acc[vn]))
            person = r.newest_fix_of_supervisee(o.supervisee_id)
            key = EpisodeKey(o.supervisee_id, o.victim_id, KIND)
            for row in sorted(order_rows, key=lambda row: fix_batch.ts[row]):
                here = (float(fix_batch.ts[row]), float(fix_batch.lon[row]),
                        float(fix_batch.lat[row]), float(fix_batch.accuracy_m[row]))
                if fix_batch.device_id[row] == o.device_id:
                    if math.isnan(newest[0]) or here[0] >= newest[0]:
                        newest = here
                    if not here[3] > best[3] + DRIFT_M_PER_S * (here[0] - best[0]):
                        best = here
                else:
                    person = here
                if math.isnan(best[0]) or person is None or math.isnan(person[0]):
                    continue
                estimates = [best] if math.isnan(newest[0]) or newest == best else [best, newest]
                verdicts = proximity_verdicts(
                    distance_m([person[1]] * len(estimates), [person[2]] * len(estimates),
                               [e[1] for e in estimates], [e[2] for e in estimates]),
                    np.full(len(estimates), person[3]), np.array([e[3] for e in estimates]),
                    np.array([person[0] - e[0] for e in estimates]), o.enter_m, o.exit_m)
                v = int(combined_verdict(verdicts))
                victim = max(estimates, key=lambda e: e[0])
                t = max(person[0], victim[0])
                out.fold(staging, key, r.suppressed(o.supervisee_id, KIND, t, v), t, person[1],
                         person[2], fix_batch.device_id[row], SEVERITY, plan.confirm_fixes,
                         max_gap_s=plan.confirm_gap_s)
        return out

    def _orders_for_fix(self, device_id: str) -> list[ProtectionOrder]:
        if device_id in self._orders_of:  # a victim's phone
            return self._orders_of[device_id]
        sid = self.roster.devices[device_id].supervisee_id
        return self._orders_of.get(sid, []) if sid else []
