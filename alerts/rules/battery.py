"""Low battery: a bracelet or phone that runs flat stops reporting, so the officer is told while
there is still time to have it charged.

Two levels, each an episode per device: a warning and a critical one. A reading at or below the
level's threshold violates; one above its clearing threshold (a few points higher: charging has
begun) complies; readings in between, or a fix without a battery reading, change nothing — so a
battery hovering at the threshold does not open and clear alerts over and over.

Readings come with fixes and with device events; :class:`LowBatteryEpisodes` folds both (the
fixes first), and only low readings, and the readings of devices that had one, can change
anything: the rest are skipped.

>>> LowBatteryRule().verdicts(np.array([50.0, 22.0, 20.0, 9.0, np.nan])).tolist()
[[0, 2, 1, 1, 2], [0, 0, 0, 1, 2]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, BatchRule, Changes
from alerts.verdict import Verdict

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange


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


class LowBatteryEpisodes(BatchRule):
    """Each device's low-battery episodes, one per level of ``levels``."""

    def __init__(self, roster: Roster, levels: LowBatteryRule | None = None):
        self.roster = roster
        self.levels = levels or LowBatteryRule()
        self.kinds = self.levels.alert_kinds
        self._watch: set[str] | None = None  # devices that may have an episode under way

    def patched(self, roster: Roster, change: RosterChange) -> LowBatteryEpisodes:
        """After a registry change: the same levels; the devices watched are looked up again."""
        return LowBatteryEpisodes(roster, self.levels)

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if batch.any_fresh:
            decided = batch.decided
            verdicts = decided.battery_verdicts
            low = (verdicts == Verdict.VIOLATING).any(axis=0) & batch.fresh
            fix_batch, rows = decided.batch, decided.rows
            devices = fix_batch.device_id[rows]
            watch = self._watched(staging)
            if watch:
                low |= batch.fresh & np.fromiter(map(watch.__contains__, devices.tolist()),
                                                 dtype=bool, count=len(rows))
            for i in np.flatnonzero(low).tolist():
                row = int(rows[i])
                self._fold_reading(devices[i], float(fix_batch.ts[row]),
                                   float(fix_batch.lon[row]), float(fix_batch.lat[row]),
                                   verdicts[:, i].tolist(), staging, out)
        for e in batch.events:
            if math.isnan(e.battery) or self.roster.devices[e.device_id].supervisee_id is None:
                continue
            v = self.levels.verdicts(np.array([e.battery]))[:, 0].tolist()
            if Verdict.VIOLATING in v or e.device_id in self._watched(staging):
                self._fold_reading(e.device_id, e.ts, math.nan, math.nan, v, staging, out)
        return out

    def forget(self) -> None:
        self._watch = None

    def _fold_reading(self, device: str, ts: float, lon: float, lat: float,
                      verdicts: list[int], staging: Staging, out: Changes) -> None:
        r = self.roster
        supervisee = r.devices[device].supervisee_id
        if supervisee is None:
            return
        self._watched(staging).add(device)
        plan = r.plan_of[supervisee]
        for level, verdict in zip(self.levels.levels, verdicts, strict=True):
            if plan.applies(level.alert_kind):
                out.fold(staging, EpisodeKey(supervisee, device, level.alert_kind),
                         r.suppressed(supervisee, level.alert_kind, ts, verdict),
                         ts, lon, lat, device, level.severity)

    def _watched(self, staging: Staging) -> set[str]:
        if self._watch is None:
            keys = staging.keys_of_kinds(self.kinds)
            self._watch = {k.subject for k in keys} | {k.supervisee_id for k in keys}
        return self._watch
