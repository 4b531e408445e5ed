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

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from geofence.kernel import INSIDE, OUTSIDE, UNCERTAIN
from geofence.layered import layered, layered_list
from geofence.numbers import number, numbering
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
    """Assignments compiled with their zones, held as columns: each assignment's subject
    number, zone number and schedule number (a million people's three million assignments
    as objects cost ~190 bytes a person). :attr:`assignments` makes an :class:`Assignment`
    when asked."""

    def __init__(self, zones: ZoneSet | Sequence[Zone], assignments: Sequence[Assignment]):
        zoneset = zones if isinstance(zones, ZoneSet) else ZoneSet(zones)
        subjects = sorted({a.subject for a in assignments})
        subject_no = numbering(subjects)
        missing = sorted({a.zone_id for a in assignments if a.zone_id not in zoneset.index})
        if missing:
            raise ZoneError(f"assignments name unknown zones: {', '.join(missing[:10])}")
        schedule_no: dict[Schedule, int] = {}
        self._columns(
            zoneset, subjects, subject_no,
            np.fromiter((subject_no[a.subject] for a in assignments), dtype=np.int64,
                        count=len(assignments)),
            np.fromiter((zoneset.index[a.zone_id] for a in assignments), dtype=np.int64,
                        count=len(assignments)),
            np.fromiter((-1 if a.schedule is None else schedule_no.setdefault(
                a.schedule, len(schedule_no)) for a in assignments), dtype=np.int32,
                count=len(assignments)),
            list(schedule_no))

    @classmethod
    def of_zones(cls, zones: ZoneSet, subjects: Sequence[str],
                 zone_ids: Sequence[Sequence[str]], numbered: dict[str, int] | None = None
                 ) -> AssignmentSet:
        """Subject ``subjects[k]`` assigned the zones ``zone_ids[k]`` (ids ``zones`` lacks are
        left out), each in force on its zone's schedule — the engine's assignments, made with
        no object per assignment. ``numbered``: a numbering the caller holds (a roster's of its
        supervisees), taken as the subjects' when it numbers exactly them (everyone has a
        zone) rather than made again; it is copied before it would change.

        >>> from shapely.geometry import box
        >>> zs = ZoneSet([Zone("a", "a", "exclusion", "polygon", box(0, 0, 1, 1))])
        >>> s = AssignmentSet.of_zones(zs, ["p2", "p1"], [["a"], ["a", "gone"]])
        >>> s.subjects, s.of_subject("p1").tolist(), s.assignments[1]
        (['p1', 'p2'], [1], Assignment(subject='p1', zone_id='a', schedule=None))
        """
        index, zl = zones.index, zones.zones
        zone_col: list[int] = []
        count: list[int] = []
        for ids in zone_ids:
            numbers = [i for z in ids if (i := index.get(z)) is not None]
            zone_col += numbers
            count.append(len(numbers))
        # Numbered as the constructor numbers them: subjects sorted, assignments in the order
        # given.
        kept = sorted(s for s, c in zip(subjects, count, strict=True) if c)
        subject_no = numbered if numbered is not None and len(numbered) == len(kept) and list(
            numbered) == kept else numbering(kept)
        subject = np.repeat(np.fromiter((subject_no.get(s, -1) for s in subjects),
                                        dtype=np.int64, count=len(subjects)),
                            np.asarray(count, dtype=np.int64))
        zone = np.asarray(zone_col, dtype=np.int64)
        used, inverse = np.unique(zone, return_inverse=True)
        schedule_no: dict[Schedule, int] = {}
        of_used = np.fromiter(
            (-1 if (sch := zl.schedules[z]) is None else schedule_no.setdefault(
                sch, len(schedule_no)) for z in used.tolist()), dtype=np.int32, count=len(used))
        out = cls.__new__(cls)
        out._columns(zones, kept, subject_no, subject, zone, of_used[inverse].astype(np.int32),
                     list(schedule_no))
        return out

    def _columns(self, zones: ZoneSet, subjects: list[str], subject_no: dict[str, int],
                 subject: np.ndarray, zone: np.ndarray, schedule: np.ndarray,
                 schedules: list[Schedule]) -> None:
        self.zoneset = zones
        # Subjects are numbered; the assignments of subject k are
        # _by_subject[_first[k] : _first[k] + _count[k]], in assignment order.
        self.subjects: list[str] = subjects
        self._subject_no = subject_no
        self.subject = subject.astype(np.int32)  # each assignment's subject number
        self.zone = zone  # each assignment's zone number in ``zoneset``
        self.schedule = schedule  # each one's number in ``schedules`` (-1: always in force)
        self.schedules = schedules
        self._by_subject = np.argsort(subject, kind="stable")
        self._count = np.bincount(subject, minlength=len(subjects))
        self._first = np.concatenate([[0], np.cumsum(self._count)[:-1]]).astype(np.int64)
        self._scheduled = {sch: np.flatnonzero(schedule == n) for n, sch in enumerate(schedules)}

    def __len__(self) -> int:
        return len(self.zone)

    @property
    def assignments(self) -> Sequence[Assignment]:
        """Each assignment as an object, made when asked."""
        return _Assignments(self)

    def subject_of(self, a: int) -> str:
        return self.subjects[self.subject[a]]

    def zone_id_of(self, a: int) -> str:
        return self.zoneset.zones.ids[self.zone[a]]

    def schedule_of(self, a: int) -> Schedule | None:
        n = self.schedule[a]
        return None if n < 0 else self.schedules[n]

    def on(self, zones: ZoneSet) -> AssignmentSet:
        """The same assignments over ``zones``: a set numbered as this one's, with the same
        schedules (some zones redrawn in place, see :meth:`ZoneSet.with_circles`)."""
        out = copy.copy(self)
        out.zoneset = zones
        return out

    def patched(self, zones: ZoneSet, subjects: Iterable[str],
                assignments: Sequence[Assignment]) -> tuple[AssignmentSet, np.ndarray]:
        """A copy over ``zones`` (this set's zones, some redrawn in place) in which each of
        ``subjects`` has exactly the ``assignments`` naming it (none: it has none now), and the
        dead assignments: those the subjects had. Nothing is renumbered: the new assignments
        come after the old, new subjects after the old, and a dead assignment stays in the
        list where no subject's run names it — so arrays kept per assignment stay valid, and
        a change to one person costs a few copies of arrays, not a compile of everyone.

        >>> from shapely.geometry import box
        >>> zones = ZoneSet([Zone("a", "a", "exclusion", "polygon", box(0, 0, 1, 1)),
        ...                  Zone("b", "b", "exclusion", "polygon", box(2, 0, 3, 1))])
        >>> one = AssignmentSet(zones, [Assignment("p1", "a"), Assignment("p2", "a")])
        >>> two, dead = one.patched(zones, ["p1"], [Assignment("p1", "b")])
        >>> dead.tolist(), two.of_subject("p1").tolist(), two.of_subject("p2").tolist()
        ([0], [2], [1])
        """
        missing = sorted({a.zone_id for a in assignments if a.zone_id not in zones.index})
        if missing:
            raise ZoneError(f"assignments name unknown zones: {', '.join(missing[:10])}")
        out = copy.copy(self)
        out.zoneset = zones
        base = len(self.zone)
        runs: dict[str, list[int]] = {s: [] for s in subjects}
        for i, a in enumerate(assignments):
            runs.setdefault(a.subject, []).append(base + i)
        dead = [self.of_subject(s) for s in runs if s in self._subject_no]
        new_subjects = [s for s in runs if s not in self._subject_no]
        if new_subjects:  # (layered over a million subjects' list and numbering, not copies)
            first = len(self.subjects)
            out.subjects = layered_list(self.subjects).changed({}, new_subjects)
            out._subject_no = layered(self._subject_no).changed(
                {s: number(first + k) for k, s in enumerate(new_subjects)})
        out.subject = np.concatenate([self.subject, np.fromiter(
            (out._subject_no[a.subject] for a in assignments), dtype=np.int32,
            count=len(assignments))])
        out.zone = np.concatenate([self.zone, np.fromiter(
            (zones.index[a.zone_id] for a in assignments), dtype=np.int64,
            count=len(assignments))])
        out.schedules = list(self.schedules)
        schedule_no = {sch: n for n, sch in enumerate(out.schedules)}
        numbers = []
        for a in assignments:
            if a.schedule is None:
                numbers.append(-1)
            else:
                if a.schedule not in schedule_no:
                    schedule_no[a.schedule] = len(out.schedules)
                    out.schedules.append(a.schedule)
                numbers.append(schedule_no[a.schedule])
        out.schedule = np.concatenate([self.schedule, np.asarray(numbers, dtype=np.int32)])
        n = len(out.subjects)
        # (With no subjects at all, ``_first`` and ``_count`` hold a lone 0: see evaluate.)
        out._first, out._count = np.zeros(max(n, 1), np.int64), np.zeros(max(n, 1), np.int64)
        k = len(self.subjects)
        out._first[:k], out._count[:k] = self._first[:k], self._count[:k]
        at, extra = len(self._by_subject), []
        for s, members in runs.items():
            k = out._subject_no[s]
            out._first[k], out._count[k] = at + len(extra), len(members)
            extra += members
        out._by_subject = np.concatenate([self._by_subject, np.asarray(extra, dtype=np.int64)])
        scheduled: dict[Schedule, list[int]] = {}
        for i, a in enumerate(assignments):
            if a.schedule is not None:
                scheduled.setdefault(a.schedule, []).append(base + i)
        out._scheduled = dict(self._scheduled)
        for schedule, members in scheduled.items():
            out._scheduled[schedule] = np.concatenate([
                out._scheduled.get(schedule, np.zeros(0, dtype=np.int64)),
                np.asarray(members, dtype=np.int64)])
        return out, (np.concatenate(dead) if dead else np.zeros(0, dtype=np.int64))

    def of_subject(self, subject: str) -> np.ndarray:
        """Indexes of the assignments binding ``subject``."""
        k = self._subject_no.get(subject)
        if k is None:
            return np.zeros(0, dtype=np.int64)
        return self._by_subject[self._first[k]:self._first[k] + self._count[k]]

    def subject_numbers(self, subjects: Sequence[str]) -> np.ndarray:
        """The number of each subject (-1 for one with no assignments), for
        :meth:`evaluate_numbered`."""
        get = self._subject_no.get
        return np.fromiter((get(s, -1) for s in subjects), dtype=np.int64, count=len(subjects))

    def evaluate(
        self,
        subject: Sequence[str],
        ts: Sequence[float] | np.ndarray,
        lon: Sequence[float] | np.ndarray,
        lat: Sequence[float] | np.ndarray,
        accuracy_m: Sequence[float] | np.ndarray,
    ) -> Decisions:
        return self.evaluate_numbered(self.subject_numbers(subject), ts, lon, lat, accuracy_m)

    def evaluate_numbered(
        self,
        subject_no: np.ndarray,
        ts: Sequence[float] | np.ndarray,
        lon: Sequence[float] | np.ndarray,
        lat: Sequence[float] | np.ndarray,
        accuracy_m: Sequence[float] | np.ndarray,
    ) -> Decisions:
        """:meth:`evaluate` with subjects given by number (see :meth:`subject_numbers`)."""
        ts = np.asarray(ts, dtype=np.float64)
        subject_no = np.asarray(subject_no, dtype=np.int64)
        if not self.subjects:  # no rules at all: no pairs
            subject_no = np.full(len(subject_no), -1, dtype=np.int64)
        known = subject_no >= 0
        k = np.where(known, subject_no, 0)
        counts = np.where(known, self._count[k] if known.any() else 0, 0)
        pair_fix = np.repeat(np.arange(len(subject_no), dtype=np.int64), counts)
        # Row j of fix i's run of pairs takes the assignment _by_subject[_first[k_i] + j].
        run_start = np.cumsum(counts) - counts
        within = np.arange(len(pair_fix), dtype=np.int64) - np.repeat(run_start, counts)
        pair_asg = self._by_subject[np.repeat(self._first[k], counts) + within]
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


class _Assignments(Sequence[Assignment]):
    """:attr:`AssignmentSet.assignments`: each made when asked."""

    def __init__(self, of: AssignmentSet):
        self._of = of

    def __len__(self) -> int:
        return len(self._of.zone)

    def __getitem__(self, a: int) -> Assignment:  # type: ignore[override]
        s = self._of
        if not -len(s.zone) <= a < len(s.zone):
            raise IndexError(a)
        return Assignment(s.subject_of(a), s.zone_id_of(a), s.schedule_of(a))
