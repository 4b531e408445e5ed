"""Supervision rules, one module each.

Zone rules turn geofence decisions into verdicts, fix by fix: :mod:`~alerts.rules.exclusion`,
:mod:`~alerts.rules.inclusion`, :mod:`~alerts.rules.curfew`. The others follow the fixes of a
person or a pair over time (:mod:`~alerts.rules.pass_through`, :mod:`~alerts.rules.victim`,
:mod:`~alerts.rules.separation`), read device events (:mod:`~alerts.rules.tamper`,
:mod:`~alerts.rules.device_off`), battery readings (:mod:`~alerts.rules.battery`) or the clock
(:mod:`~alerts.rules.lost_contact`, :mod:`~alerts.rules.no_fix`, see :mod:`alerts.timers`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from alerts.rules.curfew import CurfewRule
from alerts.rules.exclusion import ExclusionZoneRule
from alerts.rules.inclusion import InclusionZoneRule
from geofence.zones import Zone


class ZoneRule(Protocol):
    """A rule about being inside or outside a zone."""

    alert_kind: str
    severity: str

    def verdicts(self, decisions: np.ndarray) -> np.ndarray:
        """Map geofence decisions (INSIDE/OUTSIDE/UNCERTAIN/INACTIVE) to verdicts."""
        ...


ZONE_RULES: dict[str, ZoneRule] = {
    "exclusion": ExclusionZoneRule(),
    "inclusion": InclusionZoneRule(),
    "curfew": CurfewRule(),
}


def zone_rule_name(zone: Zone) -> str:
    """Which of :data:`ZONE_RULES` a zone's assignments follow."""
    return "curfew" if zone.is_curfew else zone.kind


__all__ = ["ZONE_RULES", "CurfewRule", "ExclusionZoneRule", "InclusionZoneRule", "ZoneRule",
           "zone_rule_name"]
