"""Devices and supervisees held as columns: the registry's maps by id, without an object each.

A million supervisees carry two million devices. Held as dicts of :class:`Device` and
:class:`Supervisee` objects they cost about 350 bytes a person — an object of five or six
fields each, a tuple of zone ids each, and dicts of millions of entries that the roster then
numbered again in dicts of its own. A :class:`DeviceTable` or :class:`SuperviseeTable` keeps
one dict (id → number, the row) and a column per field: strings shared with the rest of the
registry, small codes, and the fields most rows leave empty (a victim's phone, an interval set
on the device itself, a case number) by row. Each reads as the mapping it replaces —
``table[id]`` makes the :class:`Device` or :class:`Supervisee` when asked — and the roster
reads the columns and the numbering as they are (:class:`alerts.roster.Roster`).

A table is not changed once loaded: a registry change layers its rows over it
(:class:`geofence.layered.Layered`), which folds them into a new table now and then
(``fold``).

>>> t = DeviceTable([Device("br-1", "s-1", "bracelet"), Device("ph-1", "s-1", "phone")])
>>> t["ph-1"].kind, t["ph-1"].supervisee_id, t.numbers["ph-1"], "br-2" in t, len(t)
('phone', 's-1', 1, False, 2)
>>> t.kind_is("bracelet").tolist(), list(t)
([True, False], ['br-1', 'ph-1'])
>>> s = SuperviseeTable([Supervisee("s-1", "", "j-1", ("home-1", "county"), "p")])
>>> s["s-1"].zone_ids, s.numbers["s-1"], s.zone_ids_of(0)
(('home-1', 'county'), 0, ['home-1', 'county'])
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from devices.models import Device, Supervisee
from geofence.layered import Layered
from geofence.numbers import number

R = TypeVar("R", Device, Supervisee)


class _Table(Mapping[str, R]):
    """Rows by id, in the order added (each id once), as columns: the mapping over them, and
    the fold. ``ids`` and ``numbers`` (id → row) are read as they are; never write them. A
    table says how to make the object of row ``n`` (:meth:`row`) and how to add one
    (:meth:`append`)."""

    __slots__ = ("ids", "numbers")

    def __init__(self, rows: Iterable[R] = ()):
        self.ids: list[str] = []
        self.numbers: dict[str, int] = {}
        for r in rows:
            self.append(r)

    def row(self, n: int) -> R:
        raise NotImplementedError

    def append(self, r: R) -> None:
        raise NotImplementedError

    def _number(self, id: str) -> int:
        """The next number, given to ``id``."""
        if id in self.numbers:
            raise ValueError(f"{id!r} is in the table already")
        n = len(self.ids)
        self.numbers[id] = number(n)
        self.ids.append(id)
        return n

    def __getitem__(self, id: str) -> R:
        return self.row(self.numbers[id])

    def get(self, id: str, default: Any = None) -> Any:
        n = self.numbers.get(id)
        return default if n is None else self.row(n)

    def __contains__(self, id: object) -> bool:
        return id in self.numbers

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.values())!r})"

    def fold(self, changes: Mapping[str, R | None]) -> _Table[R]:
        """A new table: this one with the rows ``changes`` names set (None: taken out); those
        kept keep their order, new ones come last — what
        :class:`~geofence.layered.Layered` folds its changes into."""
        out = type(self)()
        for n, id in enumerate(self.ids):
            r = changes[id] if id in changes else self.row(n)
            if r is not None:
                out.append(r)
        for id, r in changes.items():
            if r is not None and id not in self.numbers:
                out.append(r)
        return out


class DeviceTable(_Table[Device]):
    """Devices by id, as columns. ``supervisee_ids`` is read as it is; never write it."""

    __slots__ = ("supervisee_ids", "_kind", "_kinds", "_kind_code", "_victim_ids", "_intervals")

    def __init__(self, devices: Iterable[Device] = ()):
        self.supervisee_ids: list[str | None] = []
        self._kind = array("B")  # a code in _kinds
        self._kinds: list[str] = []
        self._kind_code: dict[str, int] = {}
        self._victim_ids: dict[int, str] = {}  # (only a victim's phone has one)
        self._intervals: dict[int, float] = {}  # (most devices send as their plan says)
        super().__init__(devices)

    def append(self, d: Device) -> None:
        self.add(d.id, d.supervisee_id, d.kind, d.victim_id, d.report_interval_s)

    def add(self, id: str, supervisee_id: str | None, kind: str, victim_id: str | None = None,
            report_interval_s: float | None = None) -> None:
        """A device not in the table yet, numbered next (loading only: see the module)."""
        n = self._number(id)
        code = self._kind_code.get(kind)
        if code is None:
            code = self._kind_code[kind] = len(self._kinds)
            self._kinds.append(kind)
        self.supervisee_ids.append(supervisee_id)
        self._kind.append(code)
        if victim_id is not None:
            self._victim_ids[n] = victim_id
        if report_interval_s is not None:
            self._intervals[n] = report_interval_s

    def row(self, n: int) -> Device:
        """The device numbered ``n``."""
        return Device(self.ids[n], self.supervisee_ids[n], self._kinds[self._kind[n]],
                      self._victim_ids.get(n), self._intervals.get(n))

    # --- columns ----------------------------------------------------------------------------

    def kind_is(self, kind: str) -> np.ndarray:
        """Per device, in order: whether it is of ``kind``."""
        code = self._kind_code.get(kind)
        if code is None:
            return np.zeros(len(self.ids), dtype=bool)
        return np.frombuffer(self._kind, dtype=np.uint8) == code

    def intervals(self) -> np.ndarray:
        """Per device, in order: the report interval set on it (NaN: its plan's)."""
        out = np.full(len(self.ids), np.nan)
        if self._intervals:
            out[list(self._intervals)] = list(self._intervals.values())
        return out


class SuperviseeTable(_Table[Supervisee]):
    """Supervisees by id, as columns; names are not held (the engine's registry holds none:
    ``name`` is ""). ``jurisdiction_ids`` and ``plan_ids`` are read as they are; never write
    them. ``ordered``: whether the ids were added in sorted order (then the numbering is the
    roster's)."""

    __slots__ = ("jurisdiction_ids", "plan_ids", "_zone_ids", "_zone_end", "_case_nos",
                 "ordered")

    def __init__(self, supervisees: Iterable[Supervisee] = ()):
        self.jurisdiction_ids: list[str] = []
        self.plan_ids: list[str | None] = []
        # The zone ids of supervisee n: _zone_ids[_zone_end[n - 1]:_zone_end[n]].
        self._zone_ids: list[str] = []
        self._zone_end = array("I")
        self._case_nos: dict[int, str] = {}  # (co-defendants: a few have one)
        self.ordered = True
        super().__init__(supervisees)

    def append(self, s: Supervisee) -> None:
        self.add(s.id, s.jurisdiction_id, s.zone_ids, s.plan_id, s.case_no)

    def add(self, id: str, jurisdiction_id: str, zone_ids: Sequence[str],
            plan_id: str | None = None, case_no: str | None = None) -> None:
        """A supervisee not in the table yet, numbered next (loading only: see the module)."""
        if self.ids and self.ordered and not self.ids[-1] < id:
            self.ordered = False
        n = self._number(id)
        self.jurisdiction_ids.append(jurisdiction_id)
        self.plan_ids.append(plan_id)
        self._zone_ids += zone_ids
        self._zone_end.append(len(self._zone_ids))
        if case_no is not None:
            self._case_nos[n] = case_no

    def row(self, n: int) -> Supervisee:
        """The supervisee numbered ``n``."""
        return Supervisee(self.ids[n], "", self.jurisdiction_ids[n], tuple(self.zone_ids_of(n)),
                          self.plan_ids[n], self._case_nos.get(n))

    def zone_ids_of(self, n: int) -> list[str]:
        return self._zone_ids[self._zone_end[n - 1] if n else 0:self._zone_end[n]]

    def zone_ids(self) -> Iterator[list[str]]:
        """Each supervisee's zone ids, in order."""
        return map(self.zone_ids_of, range(len(self.ids)))

    def case_nos(self) -> dict[str, str]:
        """The case number of each supervisee with one, by id."""
        return {self.ids[n]: c for n, c in self._case_nos.items() if c}


def on_plans(supervisees: Mapping[str, Supervisee], plans: Collection[str]) -> set[str]:
    """The ids of the supervisees on one of ``plans`` — read by column from a table, or a
    table with changes layered over it, rather than a supervisee made for each row.

    >>> t = SuperviseeTable([Supervisee("a", "", "j", (), "p"), Supervisee("b", "", "j")])
    >>> sorted(on_plans(t, {"p"})), sorted(on_plans(Layered(t).changed(
    ...     {"c": Supervisee("c", "", "j", (), "p")}, removed=["a"]), {"p"}))
    (['a'], ['c'])
    """
    base, top = supervisees.layers() if isinstance(supervisees, Layered) else (supervisees, {})
    if isinstance(base, SuperviseeTable):
        ids = base.ids
        found = {ids[n] for n, p in enumerate(base.plan_ids) if p in plans}
    else:
        found = {s.id for s in base.values() if s.plan_id in plans}
    for sid, s in top.items():
        found.discard(sid)
        if s is not None and s.plan_id in plans:
            found.add(sid)
    return found


def owners(devices: Mapping[str, Device]) -> Iterator[tuple[str, str | None, str]]:
    """(id, supervisee id, kind) of every device — read by column from a table, or a table
    with changes layered over it, rather than a device made for each row."""
    base, top = devices.layers() if isinstance(devices, Layered) else (devices, {})
    if isinstance(base, DeviceTable):
        kinds = base._kinds
        rows: Iterator[tuple[str, str | None, str]] = zip(
            base.ids, base.supervisee_ids, [kinds[k] for k in base._kind], strict=True)
    else:
        rows = ((d.id, d.supervisee_id, d.kind) for d in base.values())
    for row in rows:  # (in the mapping's order: the base's, then the devices added)
        if row[0] not in top:
            yield row
        elif (d := top[row[0]]) is not None:
            yield d.id, d.supervisee_id, d.kind
    for id, d in top.items():
        if d is not None and id not in base:
            yield d.id, d.supervisee_id, d.kind


def held_id(rows: Mapping[str, Device] | Mapping[str, Supervisee], id: str) -> str | None:
    """The string object ``rows`` holds for ``id`` (to share, not hold a second copy); None
    when it holds no such row."""
    if isinstance(rows, _Table):
        n = rows.numbers.get(id)
        return None if n is None else rows.ids[n]
    row = rows.get(id)
    return None if row is None else row.id
