"""Lost contact: no message from any of a supervisee's devices for longer than expected.

Each device is expected again one reporting interval after its last message (a buffered bracelet
uploads every few minutes: its interval is that). The supervisee is out of contact when every
device they were ever heard from is overdue by more than the plan's grace. The grace is long
enough to ride out ordinary coverage gaps (a lift, a basement, a dead zone on the road), which
is what keeps this alert trustworthy; the episode's start is the last message heard, and any
message clears it.

A person whose every silent device is known to be off (:mod:`~alerts.rules.device_off`, whose
clock runs first) is not out of contact: that alert already says why.

>>> out_of_contact(np.array([0, 0, 1]), np.array([100.0, 900.0, 100.0]),
...                np.array([60.0, 600.0, 60.0]), np.array([1800.0, 1800.0]), 2, now=2000.0)
(array([False,  True]), array([900., 100.]))
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules import device_off
from alerts.rules.base import Batch, BatchRule, Changes, resized
from alerts.rules.silence import heard_again
from alerts.verdict import Verdict

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange

KIND = "lost_contact"
SEVERITY = "high"


def out_of_contact(subject: np.ndarray, last_message: np.ndarray, interval_s: np.ndarray,
                   grace_s: np.ndarray, n_subjects: int, now: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per subject: whether it is out of contact, and when it was last heard from (NaN: never).
    ``subject``, ``last_message`` and ``interval_s`` are per device; ``grace_s`` per subject."""
    heard = ~np.isnan(last_message) & (subject >= 0)
    due = np.full(n_subjects, -np.inf)
    last = np.full(n_subjects, -np.inf)
    np.maximum.at(due, subject[heard], (last_message + interval_s)[heard])
    np.maximum.at(last, subject[heard], last_message[heard])
    ever = np.isfinite(due)
    return ever & (now > due + grace_s), np.where(ever, last, np.nan)


class LostContactRule(BatchRule):
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster):
        self.roster = roster
        self._grace = np.fromiter((roster.plan_of[s].lost_contact_grace_s
                                   for s in roster.supervisee_ids), dtype=np.float64,
                                  count=len(roster.supervisee_ids))
        # Per supervisee number, as of the last tick: silent, and not explained by devices off
        # (the curfew rule asks, when a curfew begins).
        self.silent = np.zeros(len(roster.supervisee_ids), dtype=bool)

    def patched(self, roster: Roster, change: RosterChange) -> LostContactRule:
        """After a registry change: the grace of the people it touched, again; who was
        silent at the last tick carries over."""
        new = copy.copy(self)
        new.roster = roster
        n, ks = len(roster.supervisee_ids), change.supervisees
        new._grace = resized(self._grace, n, 0.0)  # (a number of no one: never heard from)
        new._grace[ks] = [roster.plan_of[s].lost_contact_grace_s if s in roster.sup_no
                          else 0.0 for s in (roster.supervisee_ids[k] for k in ks.tolist())]
        new.silent = resized(self.silent, n, False)
        new.silent[ks] = False
        return new

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        """Any message clears."""
        out = Changes()
        for d, sid, t in heard_again(self.roster, batch, staging, by="person"):
            out.fold(staging, EpisodeKey(sid, sid, KIND), Verdict.COMPLIANT, t, math.nan,
                     math.nan, d, SEVERITY, 1)
        return out

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        out = Changes()
        r = self.roster
        act = r.activity
        silent, _last = out_of_contact(r.sup_of_device, act.last_message, r.interval,
                                       self._grace, len(r.supervisee_ids), now)
        off_now = {k.subject for k in staging.keys_of_kind(device_off.KIND)
                   if staging.state(k).open}
        watch = r.heard_watch(staging)
        for s in np.flatnonzero(silent).tolist():
            sid = r.supervisee_ids[s]
            mine = r.devices_of_sup[s]
            heard = mine[~np.isnan(act.last_message[mine])]
            if all(r.device_ids[d] in off_now for d in heard.tolist()):
                silent[s] = False  # every silent device is known to be off: that alert says it
                continue
            if not r.plan_of[sid].applies(KIND):
                continue
            watch.add(sid)
            # The device heard from last names it (the device's clock, as fixes are).
            last = int(heard[np.nanargmax(act.heard_ts[heard])])
            at = float(act.heard_ts[last])
            out.fold(staging, EpisodeKey(sid, sid, KIND),
                     r.suppressed(sid, KIND, at, Verdict.VIOLATING), at, math.nan, math.nan,
                     r.device_ids[last], SEVERITY, 1)
        self.silent = silent
        return out
