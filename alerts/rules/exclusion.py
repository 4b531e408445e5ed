"""Exclusion-zone entry: the wearer must not be inside the zone (a victim's home, a school).

Outside the zone's schedule (if it has one) the rule does not apply: compliant.
"""

from __future__ import annotations

import numpy as np

from alerts.verdict import Verdict
from geofence import INACTIVE, INSIDE, OUTSIDE


class ExclusionZoneRule:
    alert_kind = "exclusion_entry"
    severity = "high"

    def verdicts(self, decisions: np.ndarray) -> np.ndarray:
        out = np.full(decisions.shape, Verdict.UNKNOWN, dtype=np.int8)
        out[decisions == INSIDE] = Verdict.VIOLATING
        out[(decisions == OUTSIDE) | (decisions == INACTIVE)] = Verdict.COMPLIANT
        return out
