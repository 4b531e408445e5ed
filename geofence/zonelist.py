"""A list of zones held as columns.

Most of a large registry's zones are plain circles — a home, an exclusion zone of a person's
own — and a :class:`~geofence.zones.Zone` object with its three numbers cost about 200 bytes
of the engine's memory per circle, twice per person, for attributes the kernel never reads
(it reads :class:`~geofence.zoneset.ZoneSet`'s arrays). A :class:`ZoneList` keeps each
circle as a row of columns — id, name, kind, jurisdiction and schedule (shared objects), centre
and radius (numbers in arrays) — and any other zone (a polygon, a corridor) as its object.
It reads like a list of zones: ``zones[i]`` makes the circle's :class:`Zone` when asked.

>>> from shapely.geometry import box
>>> zl = ZoneList([Zone("park", "Park", "exclusion", "polygon", box(0, 0, 1, 1))])
>>> zl.append_circle("home-1", "Home", "inclusion", 10.0, 50.0, 100.0)
>>> len(zl), zl.ids, zl[1].center, zl[1].radius_m, zl[0].shape
(2, ['park', 'home-1'], (10.0, 50.0), 100.0, 'polygon')
>>> zl.circle_rows().tolist(), zl.others()[0][0]
([1], 0)
>>> copy = zl.copy()
>>> copy[1] = zl[1].replace(radius_m=150.0)
>>> copy.differing(zl).tolist(), zl[1].radius_m
([1], 100.0)
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np

from geofence.schedules import Schedule
from geofence.zones import Zone


class ZoneList(Sequence[Zone]):
    """Zones in order, circles as columns. ``ids``, ``names``, ``kinds``,
    ``jurisdiction_ids`` and ``schedules`` are columns for every zone, to read without making
    a zone; write through :meth:`append`, :meth:`append_circle` and item assignment."""

    __slots__ = ("ids", "names", "kinds", "jurisdiction_ids", "schedules", "_x", "_y", "_r",
                 "_other", "_shared")

    def __init__(self, zones: Iterable[Zone] = ()):
        self.ids: list[str] = []
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.jurisdiction_ids: list[str | None] = []
        self.schedules: list[Schedule | None] = []
        # A circle's centre and radius; NaN in the rows of the others, held as objects.
        self._x = array("d")
        self._y = array("d")
        self._r = array("d")
        self._other: dict[int, Zone] = {}
        # Columns shared with a copy (see :meth:`copy`), copied before they are written.
        self._shared: set[str] = set()
        self.extend(zones)

    # --- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> Zone: ...

    @overload
    def __getitem__(self, i: slice) -> list[Zone]: ...

    def __getitem__(self, i: int | slice) -> Zone | list[Zone]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self.ids)))]
        i = operator.index(i)
        if i < 0:
            i += len(self.ids)
        other = self._other.get(i)
        if other is not None:
            return other
        return Zone(self.ids[i], self.names[i], self.kinds[i], "circle",  # type: ignore[arg-type]
                    (self._x[i], self._y[i]), self._r[i], self.jurisdiction_ids[i], 0.0,
                    self.schedules[i])

    def __iter__(self) -> Iterator[Zone]:
        for i in range(len(self.ids)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ZoneList):
            return len(self) == len(other) and not len(self.differing(other))
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"ZoneList({list(self)!r})"

    def is_circle(self, i: int) -> bool:
        return i not in self._other

    def circle_rows(self) -> np.ndarray:
        """The numbers of the circles, in order."""
        circle = np.ones(len(self.ids), dtype=bool)
        circle[list(self._other)] = False
        return np.flatnonzero(circle)

    def centers(self, rows: np.ndarray) -> np.ndarray:
        """The centres (lon, lat) of the circles numbered ``rows``, an (n, 2) array."""
        return np.column_stack((np.asarray(self._x)[rows], np.asarray(self._y)[rows]))

    def radii(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._r)[rows]

    def others(self) -> list[tuple[int, Zone]]:
        """The zones that are not circles, with their numbers, in order."""
        return sorted(self._other.items())

    def differing(self, other: ZoneList) -> np.ndarray:
        """The numbers of the zones that differ from ``other``'s (as long as this): one held
        as another object counts as different unless it is equal."""
        n = len(self.ids)
        if len(other.ids) != n:
            raise ValueError("the lists differ in length")
        out = np.zeros(n, dtype=bool)
        for a, b in ((self.ids, other.ids), (self.names, other.names),
                     (self.kinds, other.kinds), (self.jurisdiction_ids, other.jurisdiction_ids),
                     (self.schedules, other.schedules)):
            if a is not b and a != b:  # (a C loop, by identity first)
                out |= np.fromiter(map(operator.ne, a, b), dtype=bool, count=n)
        for a, b in ((self._x, other._x), (self._y, other._y), (self._r, other._r)):
            if a != b:
                x, y = np.asarray(a), np.asarray(b)
                out |= (x != y) & ~(np.isnan(x) & np.isnan(y))
        for i in self._other.keys() | other._other.keys():
            mine, theirs = self._other.get(i), other._other.get(i)
            if mine is not theirs and (mine is None or theirs is None or mine != theirs):
                out[i] = True
        return np.flatnonzero(out)

    # --- writing ----------------------------------------------------------------------------

    def append(self, zone: Zone) -> None:
        if zone.shape == "circle" and zone.width_m == 0.0:
            x, y = zone.center
            self.append_circle(zone.id, zone.name, zone.kind, x, y, zone.radius_m,
                               zone.jurisdiction_id, zone.schedule)
            return
        self._other[len(self.ids)] = zone
        self._columns(zone.id, zone.name, zone.kind, math.nan, math.nan, math.nan,
                      zone.jurisdiction_id, zone.schedule)

    def append_circle(self, id: str, name: str, kind: str, lon: float, lat: float,
                      radius_m: float, jurisdiction_id: str | None = None,
                      schedule: Schedule | None = None) -> None:
        """A circle, as :class:`Zone` would hold it, without making one."""
        self._columns(id, name, kind, lon, lat, radius_m, jurisdiction_id, schedule)

    def _columns(self, id: str, name: str, kind: str, x: float, y: float, r: float,
                 jurisdiction_id: str | None, schedule: Schedule | None) -> None:
        if self._shared:
            for column in list(self._shared):
                self._own(column)
        self.ids.append(id)
        self.names.append(name)
        self.kinds.append(kind)
        self.jurisdiction_ids.append(jurisdiction_id)
        self.schedules.append(schedule)
        self._x.append(x)
        self._y.append(y)
        self._r.append(r)

    def extend(self, zones: Iterable[Zone]) -> None:
        for zone in zones:
            self.append(zone)

    def __iadd__(self, zones: Iterable[Zone]) -> ZoneList:
        self.extend(zones)
        return self

    def __setitem__(self, i: int, zone: Zone) -> None:
        i = operator.index(i)
        if i < 0:
            i += len(self.ids)
        circle = zone.shape == "circle" and zone.width_m == 0.0
        x, y = zone.center if circle else (math.nan, math.nan)
        r = zone.radius_m if circle else math.nan
        for column, value in (("ids", zone.id), ("names", zone.name), ("kinds", zone.kind),
                              ("jurisdiction_ids", zone.jurisdiction_id),
                              ("schedules", zone.schedule), ("_x", x), ("_y", y), ("_r", r)):
            values = getattr(self, column)
            if values[i] is not value and not values[i] == value:  # (NaN: written again)
                if column in self._shared:
                    values = self._own(column)
                values[i] = value
        if circle:
            self._other.pop(i, None)
        else:
            self._other[i] = zone

    def _own(self, column: str) -> Any:
        """The column, copied first if it is shared with a copy."""
        values = getattr(self, column)
        if column in self._shared:
            values = array("d", values) if isinstance(values, array) else values.copy()
            setattr(self, column, values)
            self._shared.discard(column)
        return values

    def copy(self) -> ZoneList:
        """A copy sharing the columns until either writes one (a circle redrawn copies its
        numbers' columns, not the ids of two million zones)."""
        out = ZoneList.__new__(ZoneList)
        for column in _COLUMNS:
            setattr(out, column, getattr(self, column))
        out._other = dict(self._other)
        out._shared = set(_COLUMNS)
        self._shared = set(_COLUMNS)
        return out

    def taken(self, rows: Sequence[int]) -> ZoneList:
        """A list of the zones numbered ``rows``, in that order."""
        out = ZoneList.__new__(ZoneList)
        if not len(rows):
            return ZoneList()
        pick = operator.itemgetter(*rows)

        def column(values: list) -> list:
            got = pick(values)
            return list(got) if len(rows) > 1 else [got]

        out.ids, out.names, out.kinds = column(self.ids), column(self.names), column(self.kinds)
        out.jurisdiction_ids, out.schedules = column(self.jurisdiction_ids), column(
            self.schedules)
        at = np.asarray(rows, dtype=np.int64)
        out._x, out._y, out._r = (array("d", np.asarray(a)[at].tobytes())
                                  for a in (self._x, self._y, self._r))
        new_no = {int(old): k for k, old in enumerate(rows) if old in self._other}
        out._other = {k: self._other[old] for old, k in new_no.items()}
        out._shared = set()
        return out


_COLUMNS = ("ids", "names", "kinds", "jurisdiction_ids", "schedules", "_x", "_y", "_r")


def zone_list(zones: Sequence[Zone]) -> ZoneList:
    """``zones`` as a :class:`ZoneList` (itself when it is one)."""
    return zones if isinstance(zones, ZoneList) else ZoneList(zones)
