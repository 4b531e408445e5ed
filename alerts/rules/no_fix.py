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

import numpy as np

KIND = "no_fix"
SEVERITY = "medium"


def no_position(last_message: np.ndarray, first_blind: np.ndarray, interval_s: np.ndarray,
                after_s: float | np.ndarray, now: float) -> np.ndarray:
    """``first_blind``: arrival of the first message without a position since the last fix
    (NaN: the last message was a fix)."""
    with np.errstate(invalid="ignore"):
        alive = now - last_message <= 2 * interval_s
        return alive & (now - first_blind > after_s)
