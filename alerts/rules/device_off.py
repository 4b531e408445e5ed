"""A device that has died: its battery ran flat, or it was switched off.

A bracelet says so itself: ``power_off`` is its last message. A phone just stops, so a phone
whose last battery reading was at or below the plan's ``device_off_battery_pct`` and that has
then been silent for two reporting intervals (plus :data:`SLACK_S`) is taken as off too — long
before lost contact would be. A device that announces its own end (a bracelet) and falls silent
on a low battery *without* saying so is more likely out of coverage than dead: it is taken as
off only after the silence lost contact would wait for (its interval plus the plan's grace), and
then this alert, which says why, stands in for lost contact. The episode (subject: the device)
clears at ``power_on`` or at any later message from the device.

While a person's only silent devices are off, :mod:`~alerts.rules.lost_contact` stays quiet:
the officer has one alert that says why, not two.

>>> silent_after_low_battery(np.array([100.0, 100.0, 250.0]), np.array([3.0, 40.0, 3.0]),
...                          off_after_s(np.full(3, 60.0), np.zeros(3, bool), np.full(3, 1800.0)),
...                          5.0, now=300.0).tolist()
[True, False, False]
>>> off_after_s(np.array([60.0, 60.0]), np.array([False, True]), np.array([1800.0, 1800.0])
...             ).tolist()  # a phone; a bracelet, which would have said power_off
[180.0, 1860.0]
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

KIND = "device_off"
SEVERITY = "high"
SLACK_S = 60.0
POWER_EVENTS = {"power_off": Verdict.VIOLATING, "power_on": Verdict.COMPLIANT}


def off_after_s(interval_s: np.ndarray, announces_off: np.ndarray,
                grace_s: np.ndarray) -> np.ndarray:
    """The silence after a low reading that means a device is off: two intervals and
    :data:`SLACK_S`, or, for a device that announces ``power_off``, its interval and the
    lost-contact grace."""
    return np.where(announces_off, interval_s + grace_s, 2 * interval_s + SLACK_S)


def silent_after_low_battery(last_message: np.ndarray, battery: np.ndarray,
                             after_s: np.ndarray, threshold_pct: float | np.ndarray,
                             now: float) -> np.ndarray:
    """Devices whose last reading was low and who have been silent since for longer than
    ``after_s`` (see :func:`off_after_s`)."""
    with np.errstate(invalid="ignore"):
        return (battery <= threshold_pct) & (now - last_message > after_s)


class DeviceOffRule(BatchRule):
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster):
        self.roster = roster
        plans = roster.plans_of_device
        n = len(plans)
        self._battery_pct = np.fromiter((p.device_off_battery_pct for p in plans),
                                        dtype=np.float64, count=n)
        self._off_after = off_after_s(
            roster.interval,
            roster.is_bracelet,
            np.fromiter((p.lost_contact_grace_s for p in plans), dtype=np.float64, count=n))

    def patched(self, roster: Roster, change: RosterChange) -> DeviceOffRule:
        """After a registry change: the settings of the devices it touched, again."""
        new = copy.copy(self)
        new.roster = roster
        n, rows = len(roster.device_ids), change.devices
        new._battery_pct = resized(self._battery_pct, n, np.nan)
        new._off_after = resized(self._off_after, n, np.inf)
        plans = [roster.plans_of_device[i] for i in rows.tolist()]
        new._battery_pct[rows] = [p.device_off_battery_pct for p in plans]
        new._off_after[rows] = off_after_s(
            roster.interval[rows],
            roster.is_bracelet[rows],
            np.asarray([p.lost_contact_grace_s for p in plans], dtype=np.float64))
        return new

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        """``power_off`` and ``power_on``; then any message but ``power_off`` clears."""
        out = Changes()
        r = self.roster
        for e in batch.events:
            sid = r.devices[e.device_id].supervisee_id
            if sid is None or e.event not in POWER_EVENTS or not r.plan_of[sid].applies(KIND):
                continue
            verdict = POWER_EVENTS[e.event]
            if verdict == Verdict.VIOLATING:
                r.heard_watch(staging).add(e.device_id)
            out.fold(staging, EpisodeKey(sid, e.device_id, KIND),
                     r.suppressed(sid, KIND, e.ts, verdict), e.ts, math.nan, math.nan,
                     e.device_id, SEVERITY, 1)
        for d, sid, t in heard_again(r, batch, staging, by="device"):
            out.fold(staging, EpisodeKey(sid, d, KIND), Verdict.COMPLIANT, t, math.nan, math.nan,
                     d, SEVERITY, 1)
        return out

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        """Devices silent after a low battery reading."""
        out = Changes()
        act = self.roster.activity
        dead = silent_after_low_battery(act.last_message, act.battery, self._off_after,
                                        self._battery_pct, now)
        raise_per_device(self.roster, staging, dead, KIND, SEVERITY, act.heard_ts, out)
        return out
