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

import numpy as np

from alerts.verdict import Verdict

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
