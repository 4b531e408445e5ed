"""Bracelet–phone separation: the paired phone must stay with its wearer.

Two signals feed one episode per pairing (subject: the bracelet):

- the bracelet's own ``lost_link`` event (its Bluetooth link to the phone is gone) opens it at
  once, and ``link_restored`` clears it;
- positions, for pairs that say nothing of their link: the two newest fixes (at most
  :data:`MAX_SKEW_S` apart) certainly farther apart than ``separation_m`` — distance minus both
  accuracies and the way a moving wearer covers between the two instants
  (:data:`SPEED_M_PER_S`) — continuously for ``separation_s`` seconds open it; certainly closer
  clear it (not while the link is reported lost).

Within a batch the positions are folded first, then the link events. Whether the link is lost
is episode state (:meth:`~alerts.episodes.Staging.link_lost`): it outlives a registry reload.

>>> separation_verdicts(np.array([500.0, 150.0, 230.0]), np.array([20.0, 20.0, 40.0]),
...                     np.array([0.0, 0.0, 0.0]), 200.0).tolist()
[1, 0, 2]
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, BatchRule, Changes
from alerts.verdict import Verdict
from devices.fixes import newest_of_each
from devices.models import Pairing
from geofence.distance import distance_m as distance

if TYPE_CHECKING:
    from alerts.roster import Fix4, LinkChange, Roster, RosterChange

KIND = "separation"
SEVERITY = "high"
MAX_SKEW_S = 60.0
SPEED_M_PER_S = 30.0  # a car on a highway
LINK_EVENTS = {"lost_link": Verdict.VIOLATING, "link_restored": Verdict.COMPLIANT}


def separation_verdicts(distance_m: np.ndarray, accuracy_sum_m: np.ndarray, skew_s: np.ndarray,
                        separation_m: float) -> np.ndarray:
    out = np.full(len(distance_m), Verdict.UNKNOWN, dtype=np.int8)
    slack = accuracy_sum_m + SPEED_M_PER_S * np.abs(skew_s)
    out[distance_m - slack > separation_m] = Verdict.VIOLATING
    out[distance_m + slack < separation_m] = Verdict.COMPLIANT
    out[np.abs(skew_s) > MAX_SKEW_S] = Verdict.UNKNOWN
    return out


class SeparationRule(BatchRule):
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster, pairings: Iterable[Pairing]):
        self.roster = roster
        # Each device's pairing, by device number: its place in ``_pairings`` (-1: none). (A
        # dict by device id held 76 bytes a person, and a change copied it whole.) The list
        # only grows, and is shared with the rules patched from this one.
        self._pairings: list[Pairing] = []
        self._no = np.full(len(roster.device_ids), -1, dtype=np.int32)
        self._add(roster, pairings)

    def _add(self, roster: Roster, pairings: Iterable[Pairing]) -> None:
        no, at = roster.device_no, self._no
        for p in pairings:
            b, ph = no.get(p.bracelet_id), no.get(p.phone_id)
            if b is not None and ph is not None:
                at[b] = at[ph] = len(self._pairings)
                self._pairings.append(p)

    def pairing_of(self, device_id: str) -> Pairing | None:
        """The pairing the device is in, if any."""
        n = self.roster.device_no.get(device_id)
        k = self._no[n] if n is not None and n < len(self._no) else -1
        return self._pairings[k] if k >= 0 else None

    def patched(self, roster: Roster, change: RosterChange, links: LinkChange
                ) -> SeparationRule:
        """After a registry change: the pairings of the people and devices whose links were
        read again (``links``) replaced by those read."""
        new = copy.copy(self)
        new.roster = roster
        # (Numbers are never renumbered: a new device comes last, or takes a number gone,
        # cleared here.)
        new._no = np.full(len(roster.device_ids), -1, dtype=np.int32)
        new._no[:len(self._no)] = self._no[:len(roster.device_ids)]
        new._no[change.cleared] = -1
        if not links.people and not links.devices:
            return new
        old = self.roster
        keys = set(links.devices)
        for sid in links.people:
            k = old.sup_no.get(sid)
            if k is not None:
                keys.update(old.device_ids[n] for n in old.devices_of_sup[k].tolist())
        for d in keys:
            p = self.pairing_of(d)
            if p is not None and (p.supervisee_id in links.people or p.bracelet_id in links.devices
                                  or p.phone_id in links.devices):
                for end in (p.bracelet_id, p.phone_id):
                    n = old.device_no.get(end)
                    if n is not None and n < len(new._no):
                        new._no[n] = -1
        new._add(roster, links.pairings)
        return new

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if batch.any_fresh:
            self._fold_positions(batch, staging, out)
        r = self.roster
        for e in batch.events:
            sid = r.devices[e.device_id].supervisee_id
            if sid is None or e.event not in LINK_EVENTS or not r.plan_of[sid].applies(KIND):
                continue
            verdict = LINK_EVENTS[e.event]
            staging.set_link_lost(e.device_id, verdict == Verdict.VIOLATING)
            out.fold(staging, EpisodeKey(sid, e.device_id, KIND),
                     r.suppressed(sid, KIND, e.ts, verdict), e.ts, math.nan, math.nan,
                     e.device_id, SEVERITY, 1)
        return out

    def _fold_positions(self, batch: Batch, staging: Staging, out: Changes) -> None:
        """Bracelet–phone distance of each pairing with a fix in the batch, at its newest."""
        if not self._pairings:
            return
        decided = batch.decided
        fix_batch, rows = decided.batch, decided.rows
        touched = {p for d in set(fix_batch.device_id[rows[batch.fresh]].tolist())
                   if (p := self.pairing_of(d)) is not None}
        newest = self._newest_fixes(batch)
        for p in touched:
            b, ph = newest.get(p.bracelet_id), newest.get(p.phone_id)
            if b is None or ph is None:
                continue
            plan = self.roster.plan_of[p.supervisee_id]
            if not plan.applies(KIND):
                continue
            skew = b[0] - ph[0]
            v = int(separation_verdicts(
                distance([b[1]], [b[2]], [ph[1]], [ph[2]]), np.array([b[3] + ph[3]]),
                np.array([skew]), plan.separation_m)[0])
            key = EpisodeKey(p.supervisee_id, p.bracelet_id, KIND)
            if v == Verdict.COMPLIANT and staging.link_lost(p.bracelet_id):
                continue  # the bracelet says the link is lost: positions do not clear it
            t = max(b[0], ph[0])
            out.fold(staging, key, self.roster.suppressed(p.supervisee_id, KIND, t, v), t, b[1],
                     b[2], p.bracelet_id, SEVERITY, 1,
                     plan.separation_s if v == Verdict.VIOLATING else 0.0, plan.confirm_gap_s)

    def _newest_fixes(self, batch: Batch) -> dict[str, Fix4]:
        """(ts, lon, lat, accuracy) of the newest known fix of each device, this batch
        included (devices of this batch and of their pairs)."""
        decided = batch.decided
        fix_batch, rows = decided.batch, decided.rows
        out: dict[str, Fix4] = {}
        act = self.roster.activity
        device_no = self.roster.device_no
        for d in set(fix_batch.device_id[rows].tolist()):
            p = self.pairing_of(d)
            for other in (p.bracelet_id, p.phone_id) if p else (d,):
                n = device_no[other]
                if not np.isnan(act.fix_ts[n]):
                    out[other] = (float(act.fix_ts[n]), float(act.lon[n]), float(act.lat[n]),
                                  float(act.acc[n]))
        sel = np.flatnonzero(batch.fresh)
        if len(sel):
            last = sel[newest_of_each(decided.device_no[sel], fix_batch.ts[rows[sel]])]
            for i in last.tolist():
                r = int(rows[i])
                d = fix_batch.device_id[r]
                if d not in out or fix_batch.ts[r] > out[d][0]:
                    out[d] = (float(fix_batch.ts[r]), float(fix_batch.lon[r]),
                              float(fix_batch.lat[r]), float(fix_batch.accuracy_m[r]))
        return out
