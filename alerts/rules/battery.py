"""Low battery: a bracelet or phone that runs flat stops reporting, so the officer is told while
there is still time to have it charged.

Two levels, each an episode per device: a warning and a critical one. A reading at or below the
level's threshold violates; one above its clearing threshold (a few points higher: charging has
begun) complies; readings in between, or a fix without a battery reading, change nothing — so a
battery hovering at the threshold does not open and clear alerts over and over.

>>> LowBatteryRule().verdicts(np.array([50.0, 22.0, 20.0, 9.0, np.nan])).tolist()
[[0, 2, 1, 1, 2], [0, 0, 0, 1, 2]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts.verdict import Verdict


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    alert_kind: str
    severity: str
    at_or_below: float  # percent: a reading this low violates
    clears_above: float  # percent: a reading this high complies


WARNING = BatteryLevel("low_battery_warning", "medium", 20.0, 25.0)
CRITICAL = BatteryLevel("low_battery_critical", "high", 10.0, 15.0)


class LowBatteryRule:
    def __init__(self, levels: tuple[BatteryLevel, ...] = (WARNING, CRITICAL)):
        for level in levels:
            if not 0 <= level.at_or_below < level.clears_above <= 100:
                raise ValueError(f"{level.alert_kind}: need 0 <= at_or_below < clears_above "
                                 f"<= 100, not {level.at_or_below} and {level.clears_above}")
        self.levels = levels

    @property
    def alert_kinds(self) -> frozenset[str]:
        return frozenset(level.alert_kind for level in self.levels)

    def verdicts(self, battery: np.ndarray) -> np.ndarray:
        """Verdicts per level (rows) and reading (columns); NaN (not reported) is UNKNOWN."""
        out = np.full((len(self.levels), len(battery)), Verdict.UNKNOWN, dtype=np.int8)
        for i, level in enumerate(self.levels):
            out[i, battery <= level.at_or_below] = Verdict.VIOLATING
            out[i, battery > level.clears_above] = Verdict.COMPLIANT
        return out
