"""Which zones apply to whom, and when — the batch API the engine calls.

An :class:`Assignment` binds a subject (a supervisee) to a zone, optionally only while a
:class:`~geofence.schedules.Schedule` is in force. An :class:`AssignmentSet` compiles them with
their zones; :meth:`AssignmentSet.evaluate` takes a batch of fixes — subject, time, lon, lat,
accuracy — and returns one decision per (fix, assignment): ``INSIDE``, ``OUTSIDE``,
``UNCERTAIN`` (within the fix's accuracy of the boundary) or ``INACTIVE`` (the schedule is not in
force at the fix's time).

>>> from shapely.geometry import box
>>> zones = [Zone("home", "home", "inclusion", "polygon", box(0, 0, 0.01, 0.01))]
>>> curfew = Schedule.from_dict({"timezone": "UTC", "windows": [
...     {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
...      "start": "22:00", "end": "06:00"}]})
>>> rules = AssignmentSet(zones, [Assignment("p1", "home", curfew)])
>>> noon, midnight = 1_763_726_400.0, 1_763_769_600.0  # 2025-11-21 12:00 and 2025-11-22 00:00
>>> d = rules.evaluate(["p1", "p1", "p2"], [noon, midnight, noon],
...                    [0.005, 0.5, 0.005], [0.005, 0.5, 0.005], [10.0, 10.0, 10.0])
>>> d.fix.tolist(), d.assignment.tolist(), d.decision.tolist()  # p2 has no rules
([0, 1], [0, 0], [3, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geofence.kernel import INSIDE, OUTSIDE, UNCERTAIN
from geofence.schedules import Schedule
from geofence.zones import Zone, ZoneError
from geofence.zoneset import ZoneSet

INACTIVE = np.int8(3)

__all__ = ["INACTIVE", "INSIDE", "OUTSIDE", "UNCERTAIN", "Assignment", "AssignmentSet",
           "Decisions"]


@dataclass(frozen=True, slots=True)
class Assignment:
    subject: str
    zone_id: str
    schedule: Schedule | None = None  # None: always in force


@dataclass(frozen=True, slots=True)
class Decisions:
    """Parallel arrays, one row per (fix, assignment) pair, fixes in batch order."""

    fix: np.ndarray  # index of the fix in the batch
    assignment: np.ndarray  # index into AssignmentSet.assignments
    decision: np.ndarray  # INSIDE, OUTSIDE, UNCERTAIN or INACTIVE

    def __len__(self) -> int:
        return len(self.fix)


class AssignmentSet:
    def __init__(self, zones: ZoneSet | Sequence[Zone], assignments: Sequence[Assignment]):
        self.zoneset = zones if isinstance(zones, ZoneSet) else ZoneSet(zones)
        self.assignments = list(assignments)
        missing = sorted({a.zone_id for a in self.assignments} - set(self.zoneset.index))
        if missing:
            raise ZoneError(f"assignments name unknown zones: {', '.join(missing[:10])}")
        self.zone = np.array([self.zoneset.index[a.zone_id] for a in self.assignments],
                             dtype=np.int64)
        by_subject: dict[str, list[int]] = {}
        for i, a in enumerate(self.assignments):
            by_subject.setdefault(a.subject, []).append(i)
        self._of_subject = {s: np.asarray(ix, dtype=np.int64) for s, ix in by_subject.items()}
        schedules: dict[Schedule, list[int]] = {}
        for i, a in enumerate(self.assignments):
            if a.schedule is not None:
                schedules.setdefault(a.schedule, []).append(i)
        self._scheduled = {s: np.asarray(ix, dtype=np.int64) for s, ix in schedules.items()}

    def of_subject(self, subject: str) -> np.ndarray:
        """Indexes of the assignments binding ``subject``."""
        return self._of_subject.get(subject, np.zeros(0, dtype=np.int64))

    def evaluate(
        self,
        subject: Sequence[str],
        ts: Sequence[float] | np.ndarray,
        lon: Sequence[float] | np.ndarray,
        lat: Sequence[float] | np.ndarray,
        accuracy_m: Sequence[float] | np.ndarray,
    ) -> Decisions:
        ts = np.asarray(ts, dtype=np.float64)
        per_fix = [self.of_subject(s) for s in subject]
        counts = np.fromiter((len(a) for a in per_fix), dtype=np.int64, count=len(per_fix))
        pair_fix = np.repeat(np.arange(len(per_fix), dtype=np.int64), counts)
        pair_asg = (np.concatenate(per_fix) if len(pair_fix) else np.zeros(0, dtype=np.int64))
        decision = self.zoneset.classify(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64),
            np.asarray(accuracy_m, dtype=np.float64), pair_fix, self.zone[pair_asg],
        )
        for schedule, members in self._scheduled.items():
            rows = np.flatnonzero(np.isin(pair_asg, members))
            if len(rows):
                off = ~schedule.active_at(ts[pair_fix[rows]])
                decision[rows[off]] = INACTIVE
        return Decisions(pair_fix, pair_asg, decision)
