"""Bracelet–phone separation: the paired phone must stay with its wearer.

Two signals feed one episode per pairing (subject: the bracelet):

- the bracelet's own ``lost_link`` event (its Bluetooth link to the phone is gone) opens it at
  once, and ``link_restored`` clears it;
- positions, for pairs that say nothing of their link: the two newest fixes (at most
  :data:`MAX_SKEW_S` apart) certainly farther apart than ``separation_m`` — distance minus both
  accuracies and the way a moving wearer covers between the two instants
  (:data:`SPEED_M_PER_S`) — continuously for ``separation_s`` seconds open it; certainly closer
  clear it (not while the link is reported lost).

>>> separation_verdicts(np.array([500.0, 150.0, 230.0]), np.array([20.0, 20.0, 40.0]),
...                     np.array([0.0, 0.0, 0.0]), 200.0).tolist()
[1, 0, 2]
"""

from __future__ import annotations

import numpy as np

from alerts.verdict import Verdict

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
