"""No GPS fix: the device is heard from (events, heartbeats) but sends no position.

A device whose last message is recent, and whose messages have carried no position since one
that arrived more than the plan's ``no_fix_after_s`` ago, is reported (subject: the device): it
may be shielded, or the wearer indoors for hours where the rules cannot see them. The next fix
clears it. A device that is
silent altogether is lost contact, not this.

>>> no_position(np.array([1000.0, 1000.0, 100.0]), np.array([100.0, np.nan, 50.0]),
...             np.array([60.0, 60.0, 60.0]), 600.0, now=1010.0).tolist()
[True, False, False]
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, BatchRule, Changes, resized
from alerts.rules.silence import heard_again, raise_per_device
from alerts.verdict import Verdict

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange

KIND = "no_fix"
SEVERITY = "medium"


def no_position(last_message: np.ndarray, first_blind: np.ndarray, interval_s: np.ndarray,
                after_s: float | np.ndarray, now: float) -> np.ndarray:
    """``first_blind``: arrival of the first message without a position since the last fix
    (NaN: the last message was a fix)."""
    with np.errstate(invalid="ignore"):
        alive = now - last_message <= 2 * interval_s
        return alive & (now - first_blind > after_s)


class NoFixRule(BatchRule):
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster):
        self.roster = roster
        self._after_s = np.fromiter((p.no_fix_after_s for p in roster.plans_of_device),
                                    dtype=np.float64, count=len(roster.plans_of_device))

    def patched(self, roster: Roster, change: RosterChange) -> NoFixRule:
        """After a registry change: the setting of the devices it touched, again."""
        new = copy.copy(self)
        new.roster = roster
        new._after_s = resized(self._after_s, len(roster.device_ids), np.inf)
        new._after_s[change.devices] = [roster.plans_of_device[i].no_fix_after_s
                                        for i in change.devices.tolist()]
        return new

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        """A fresh fix clears."""
        out = Changes()
        for d, sid, t in heard_again(self.roster, batch, staging, by="device", fixes_only=True):
            out.fold(staging, EpisodeKey(sid, d, KIND), Verdict.COMPLIANT, t, math.nan,
                     math.nan, d, SEVERITY, 1)
        return out

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        out = Changes()
        act = self.roster.activity
        stuck = no_position(act.last_message, act.first_blind, self.roster.interval,
                            self._after_s, now)
        since = np.where(np.isnan(act.fix_ts), act.heard_ts, act.fix_ts)  # positions stopped
        raise_per_device(self.roster, staging, stuck, KIND, SEVERITY, since, out)
        return out
