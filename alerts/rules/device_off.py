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

import numpy as np

from alerts.verdict import Verdict

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
