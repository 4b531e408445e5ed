"""A device that has died: its battery ran flat, or it was switched off.

A bracelet says so itself: ``power_off`` is its last message. A phone just stops, so a device
whose last battery reading was at or below the plan's ``device_off_battery_pct`` and that has
then been silent for two reporting intervals (plus :data:`SLACK_S`) is taken as off too — long
before lost contact would be. The episode (subject: the device) clears at ``power_on`` or at
any later message from the device.

While a person's only silent devices are off, :mod:`~alerts.rules.lost_contact` stays quiet:
the officer has one alert that says why, not two.

>>> silent_after_low_battery(np.array([100.0, 100.0, 250.0]), np.array([3.0, 40.0, 3.0]),
...                          np.array([60.0, 60.0, 60.0]), 5.0, now=300.0).tolist()
[True, False, False]
"""

from __future__ import annotations

import numpy as np

from alerts.verdict import Verdict

KIND = "device_off"
SEVERITY = "high"
SLACK_S = 60.0
POWER_EVENTS = {"power_off": Verdict.VIOLATING, "power_on": Verdict.COMPLIANT}


def silent_after_low_battery(last_message: np.ndarray, battery: np.ndarray,
                             interval_s: np.ndarray, threshold_pct: float | np.ndarray,
                             now: float) -> np.ndarray:
    """Devices whose last reading was low and who have been silent since for longer than two
    intervals."""
    with np.errstate(invalid="ignore"):
        return (battery <= threshold_pct) & (now - last_message > 2 * interval_s + SLACK_S)
