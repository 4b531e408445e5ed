"""Supervision rules, one module each. A zone rule turns geofence decisions into verdicts."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from alerts.rules.exclusion import ExclusionZoneRule
from alerts.rules.inclusion import InclusionZoneRule


class ZoneRule(Protocol):
    """A rule about being inside or outside a zone."""

    alert_kind: str
    severity: str

    def verdicts(self, decisions: np.ndarray) -> np.ndarray:
        """Map geofence decisions (INSIDE/OUTSIDE/UNCERTAIN) to verdicts, element-wise."""
        ...


ZONE_RULES: dict[str, ZoneRule] = {
    "exclusion": ExclusionZoneRule(),
    "inclusion": InclusionZoneRule(),
}

__all__ = ["ZONE_RULES", "ExclusionZoneRule", "InclusionZoneRule", "ZoneRule"]
