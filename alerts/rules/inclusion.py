"""Inclusion-zone exit: the wearer must stay inside the zone (the county they may not leave).

Outside the zone's schedule (if it has one) the rule does not apply: compliant.
"""

from __future__ import annotations

import numpy as np

from alerts.verdict import Verdict
from geofence import INACTIVE, INSIDE, OUTSIDE


class InclusionZoneRule:
    alert_kind = "inclusion_exit"
    severity = "high"

    def verdicts(self, decisions: np.ndarray) -> np.ndarray:
        out = np.full(decisions.shape, Verdict.UNKNOWN, dtype=np.int8)
        out[decisions == OUTSIDE] = Verdict.VIOLATING
        out[(decisions == INSIDE) | (decisions == INACTIVE)] = Verdict.COMPLIANT
        return out
