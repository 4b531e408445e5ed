"""Exclusion-zone entry: the wearer must not be inside the zone (a victim's home, a school)."""

from __future__ import annotations

import numpy as np

from alerts.verdict import Verdict
from geofence import INSIDE, OUTSIDE


class ExclusionZoneRule:
    alert_kind = "exclusion_entry"
    severity = "high"

    def verdicts(self, decisions: np.ndarray) -> np.ndarray:
        out = np.full(decisions.shape, Verdict.UNKNOWN, dtype=np.int8)
        out[decisions == INSIDE] = Verdict.VIOLATING
        out[decisions == OUTSIDE] = Verdict.COMPLIANT
        return out
