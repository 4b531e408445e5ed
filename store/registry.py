"""The registry: jurisdictions, supervisees, victims, devices, pairings, protection orders,
zones, zone groups, supervision plans, leave and maintenance windows — who is supervised, with
what, under which rules.

:func:`import_registry` loads a whole registry document (the JSON ``cordon simulate
--registry`` writes, see :meth:`simulators.fleet.Fleet.registry`) in one transaction.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, TypeVar

import orjson
import psycopg
from psycopg.types.json import Jsonb, set_json_loads

from alerts.plans import PlanError, SupervisionPlan
from alerts.rules.check_in_missed import CheckIn
from alerts.suppressions import Suppression, Suppressions
from devices.models import (
    Device,
    Jurisdiction,
    Pairing,
    PositioningOrder,
    ProtectionOrder,
    Supervisee,
)
from devices.tables import DeviceTable, SuperviseeTable, held_id
from devices.topics import partition_of
from geofence.numbers import number
from geofence.schedules import Schedule, ScheduleError
from geofence.zonelist import ZoneList, zone_list
from geofence.zones import Zone, ZoneError
from store.check_ins import read_check_ins
from store.leave import read_leave_windows

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Partitions:
    """The supervisees one engine process holds: those whose partition (:func:`~devices.topics.
    partition_of`, of ``count``) is in ``owned``; with the devices, links and orders of those
    people, and only the zones they use. Devices of no supervisee (a victim's phone) are held
    by every process."""

    count: int
    owned: frozenset[int]

    def holds(self, supervisee_id: str | None) -> bool:
        return supervisee_id is None or partition_of(supervisee_id, self.count) in self.owned


@dataclass(slots=True)
class Registry:
    """Everything the engine needs to know about who is supervised, and where. ``held``: the
    partitions it holds (None: everyone). A registry patched from another
    (:mod:`store.registry_changes`) holds its large maps — supervisees, devices, links — as
    :class:`~geofence.layered.Layered` mappings over the other's: read them as mappings."""

    jurisdictions: dict[str, Jurisdiction] = field(default_factory=dict)
    supervisees: Mapping[str, Supervisee] = field(default_factory=SuperviseeTable)
    devices: Mapping[str, Device] = field(default_factory=DeviceTable)
    zones: ZoneList = field(default_factory=ZoneList)
    zone_index: dict[str, int] = field(default_factory=dict)  # a zone's place in ``zones``
    rejected_zones: dict[str, str] = field(default_factory=dict)
    plans: dict[str, SupervisionPlan] = field(default_factory=dict)
    rejected_plans: dict[str, str] = field(default_factory=dict)
    # Pairings, positioning orders and recent check-in requests (store.check_ins), by
    # supervisee: a change to one person's links replaces their entry, not a list of everyone's.
    pairings_of: Mapping[str, tuple[Pairing, ...]] = field(default_factory=dict)
    orders: list[ProtectionOrder] = field(default_factory=list)  # (one per victim: a few)
    suppressions: Suppressions = field(default_factory=Suppressions)
    positioning_of: Mapping[str, tuple[PositioningOrder, ...]] = field(default_factory=dict)
    check_ins_of: Mapping[str, tuple[CheckIn, ...]] = field(default_factory=dict)
    held: Partitions | None = None
    # One Schedule object per distinct schedule: a curfew shared by 100,000 home zones is
    # parsed once and held once (see :func:`add_zone`).
    schedules: dict[bytes | str, Schedule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.zones = zone_list(self.zones)  # (given as a list of zones)

    @property
    def pairings(self) -> list[Pairing]:
        return [p for ps in self.pairings_of.values() for p in ps]

    @property
    def positioning(self) -> list[PositioningOrder]:
        return [o for os in self.positioning_of.values() for o in os]

    @property
    def check_ins(self) -> list[CheckIn]:
        return [c for cs in self.check_ins_of.values() for c in cs]


class ByPerson(Mapping[str, tuple[T, ...]]):
    """Links by supervisee id, a tuple each, held as the link itself where a person has only
    one — most have one pairing: a tuple of one cost 56 bytes a person. (A link is never a
    plain tuple.)

    >>> m = ByPerson({"a": "x", "b": ("y", "z")})
    >>> m["a"], m.get("b"), m.get("c", ()), dict(m.fold({"a": None, "c": ("w",)}))
    (('x',), ('y', 'z'), (), {'b': ('y', 'z'), 'c': ('w',)})
    """

    __slots__ = ("_of",)

    def __init__(self, of: dict[str, Any]):
        self._of = of

    def __getitem__(self, sid: str) -> tuple[T, ...]:
        v = self._of[sid]
        return v if type(v) is tuple else (v,)

    def get(self, sid: str, default: Any = None) -> Any:
        v = self._of.get(sid, default)
        return v if v is default or type(v) is tuple else (v,)

    def __contains__(self, sid: object) -> bool:
        return sid in self._of

    def __iter__(self) -> Iterator[str]:
        return iter(self._of)

    def __len__(self) -> int:
        return len(self._of)

    def fold(self, changes: Mapping[str, tuple[T, ...] | None]) -> ByPerson[T]:
        """A new mapping: this one with the people ``changes`` names set (None: taken out)
        — what :class:`~geofence.layered.Layered` folds its changes into."""
        of = dict(self._of)
        for sid, xs in changes.items():
            if xs is None:
                of.pop(sid, None)
            else:
                of[sid] = xs[0] if len(xs) == 1 else xs
        return ByPerson(of)


def by_supervisee(items: Iterable[T]) -> ByPerson[T]:
    """Links grouped by their ``supervisee_id``, in the order given."""
    out: dict[str, Any] = {}
    for x in items:
        sid = x.supervisee_id  # type: ignore[attr-defined]
        had = out.get(sid)
        out[sid] = x if had is None else (*had, x) if type(had) is tuple else (had, x)
    return ByPerson(out)


async def load_registry(conn: psycopg.AsyncConnection, held: Partitions | None = None
                        ) -> Registry:
    """The whole registry. Every table is read in key order: the evaluator numbers devices,
    supervisees and zones as they come, and a row merely rewritten (an update stores a new
    row version elsewhere in the table) must not renumber them at the next reload.

    Released supervisees and retired devices are not loaded (nor pairings and protection
    orders naming them): their supervision has ended. :mod:`store.registry_changes` reloads
    pieces of it with the same queries, narrowed to the rows that changed.

    ``held``: only the supervisees of those partitions (and what is theirs, and the zones they
    use). The partition is a CRC-32 of the id, which PostgreSQL cannot compute: the ids are
    read first (one narrow column), chosen here, and every other read is narrowed to them.

    An id is held as one string object, however many rows name it: a supervisee's zone ids
    are the zones' own strings, a device's supervisee id the supervisee's, a pairing's ids
    its devices' and supervisee's — each found in the registry's own dicts as the rows come
    (a million people name millions of ids, and a lookup in a dict of millions costs about a
    microsecond, most of it waiting for memory: no dict is made only to share strings)."""
    reg = Registry(held=held)
    for j in await read_jurisdictions(conn):
        reg.jurisdictions[j.id] = j
    mine: Where = EVERYTHING
    zone_id: Callable[[str], str] = Canonical()  # (held: the zones are read after the people)
    if held is None:
        async for zid, feature in zone_rows(conn):
            add_zone(reg, zid, feature)
        zone_id = _held_key(reg.zone_index, reg.zones.ids)
    else:
        cur = await conn.execute("SELECT id FROM supervisees WHERE released_at IS NULL")
        ids = [sid for (sid,) in await cur.fetchall() if held.holds(sid)]
        mine = ("AND {} = ANY(%s)", (ids,))
    for plan_id, settings in await read_plans(conn):
        add_plan(reg, plan_id, settings)
    groups = await read_zone_groups(conn)
    people = reg.supervisees = SuperviseeTable()
    async for row in supervisee_rows(conn, narrowed(mine, "s.id")):
        people.add(*supervisee_fields(row, reg.plans, groups, zone_id))
    if held is not None:
        used = sorted({z for zs in people.zone_ids() for z in zs})
        async for zid, feature in zone_rows(conn, ("AND id = ANY(%s)", (used,))):
            add_zone(reg, zone_id(zid), feature)
    owner = _held_key(people.numbers, people.ids)
    if held is not None:
        # Devices of no one (a victim's phone) too: every process holds those.
        reg.devices = await read_device_table(
            conn, ("AND (d.supervisee_id IS NULL OR d.supervisee_id = ANY(%s))", mine[1]), owner)
    else:
        reg.devices = await read_device_table(conn, EVERYTHING, owner)
    reg.pairings_of = by_supervisee(
        p for p in map(partial(pairing_held, devices=reg.devices, supervisees=reg.supervisees),
                       await read_pairings(conn, narrowed(mine, "supervisee_id")))
        if p is not None)
    reg.orders = [o for o in await read_orders(conn, narrowed(mine, "supervisee_id"))
                  if order_holds(o, reg.devices, reg.supervisees)]
    reg.positioning_of = by_supervisee(
        await read_positioning(conn, narrowed(mine, "o.supervisee_id")))
    reg.check_ins_of = by_supervisee(await read_check_ins(conn, narrowed(mine, "c.supervisee_id")))
    reg.suppressions = Suppressions(
        await read_suppressions(conn, narrowed(mine, "supervisee_id"))
        + await read_leave_windows(conn, narrowed(mine, "supervisee_id")))
    return reg


class Canonical(dict[str, str]):
    """One string object for each id given: the first one. Ids of few values (jurisdictions,
    plans, kinds) are interned instead."""

    def __call__(self, s: str) -> str:
        return self.setdefault(s, s)


def _held_key(index: Mapping[str, int], keys: Sequence[str]) -> Callable[[str], str]:
    """The string ``keys`` holds for an id ``index`` numbers (the id itself when it does not
    number it)."""
    def key(s: str) -> str:
        i = index.get(s)
        return s if i is None else keys[i]
    return key


def _no_canonical(s: str) -> str:
    return s


def narrowed(where: Where, column: str) -> Where:
    """A condition written with ``{}`` for the key column, on ``column``."""
    return (where[0].format(column), where[1])


# --- the queries, whole or narrowed to some keys (``where``: a condition on the key column,
# --- with its parameters) ---------------------------------------------------------------------

Where = tuple[str, tuple[Any, ...]]
EVERYTHING: Where = ("", ())


CHUNK_ROWS = 5_000


async def in_chunks(cur: psycopg.AsyncCursor[Any]) -> AsyncIterator[Any]:
    """The rows of the query ``cur`` ran, made into Python objects a few thousand at a time
    (libpq holds the whole result in C memory until the cursor is done). A million rows made
    at once would be a million tuples, strings and parsed documents alive together, and what
    the registry keeps of them (an id, a zone) would pin the memory of the rest: about 1.5 KB
    a person of heap that is free but cannot be given back."""
    while rows := await cur.fetchmany(CHUNK_ROWS):
        for row in rows:
            yield row


async def read_jurisdictions(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                             ) -> list[Jurisdiction]:
    cur = await conn.execute(
        "SELECT id, name, kind, parent_id, timezone FROM jurisdictions WHERE true "
        f"{where[0]} ORDER BY id", where[1])
    return [Jurisdiction(r[0], r[1], r[2], r[3], r[4]) for r in await cur.fetchall()]


async def read_zones(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                     ) -> list[tuple[str, dict[str, Any]]]:
    return [row async for row in zone_rows(conn, where)]


class StoredCircle(NamedTuple):
    """A circle zone as the columns :func:`zone_rows` reads of its feature (``schedule``: its
    JSON text)."""

    name: str | None
    kind: str | None
    lon: float
    lat: float
    radius_m: float
    jurisdiction_id: str | None
    schedule: str | None


# A plain circle (see migration 0024) is read as the columns the database keeps of it: a
# million home circles are most of a registry, and parsing each one's GeoJSON was a fifth of a
# start. Any other zone comes as its feature, for Zone.from_feature to read (or reject, saying
# why).
_ZONE_ROWS = (
    "SELECT id, CASE WHEN circle_lon IS NULL THEN feature END, circle_name, circle_kind, "
    "circle_lon, circle_lat, circle_radius_m, circle_jurisdiction_id, circle_schedule "
    "FROM zones WHERE true {} ORDER BY id")


async def zone_rows(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                    ) -> AsyncIterator[tuple[str, dict[str, Any] | StoredCircle]]:
    """Stored zones, a chunk at a time: a plain circle as a :class:`StoredCircle`, any other
    zone as its GeoJSON feature (parsed by orjson: a county line has thousands of numbers)."""
    async with conn.cursor() as cur:
        set_json_loads(orjson.loads, cur)
        await cur.execute(_ZONE_ROWS.format(where[0]), where[1])
        async for r in in_chunks(cur):
            yield r[0], (r[1] if r[1] is not None else StoredCircle(*r[2:]))


def add_zone(reg: Registry, zone_id: str, feature: dict[str, Any] | StoredCircle) -> None:
    """Parse a stored zone into ``reg`` (its list of zones, or its rejected ones). Its schedule
    is the registry's one object for that schedule (``reg.schedules``): parsed once, held
    once. A plain circle goes into the list as its columns, never made a :class:`Zone`."""
    try:
        if isinstance(feature, StoredCircle):
            _add_circle(reg, zone_id, feature)
        else:
            reg.zones.append(_parsed_zone(reg.schedules, zone_id, feature))
    except ZoneError as exc:
        # Stored before validation tightened, or edited by hand: never evaluate it wrongly.
        log.error("zone %s not loaded: %s", zone_id, exc)
        reg.rejected_zones[zone_id] = str(exc)
        return
    reg.zone_index[zone_id] = number(len(reg.zones) - 1)


def _parsed_zone(schedules: dict[bytes | str, Schedule], zone_id: str,
                 feature: dict[str, Any]) -> Zone:
    props = feature.get("properties")
    if not isinstance(props, dict):
        return Zone.from_feature(feature, zone_id)
    raw = props.get("schedule")
    props = {k: v for k, v in props.items() if k != "schedule"}
    # A kind is one of two words, and a name is often the id: held once, not once per zone.
    if isinstance(props.get("kind"), str):
        props["kind"] = sys.intern(props["kind"])
    if props.get("name") == zone_id:
        props["name"] = zone_id
    zone = Zone.from_feature({**feature, "properties": props}, zone_id)
    if raw is None:
        return zone
    key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    schedule = schedules.get(key)
    if schedule is None:
        try:
            schedule = Schedule.from_dict(raw)
        except ScheduleError as exc:
            raise ZoneError(f"zone {zone.id}: schedule: {exc}") from None
        schedules[key] = schedule
    return zone.replace(schedule=schedule)


def _add_circle(reg: Registry, zone_id: str, c: StoredCircle) -> None:
    """A plain circle read as columns (see migration 0024), added as the zone
    :meth:`Zone.from_feature` would make of its feature."""
    schedule = None
    if c.schedule is not None:
        schedule = reg.schedules.get(c.schedule)
        if schedule is None:
            try:
                schedule = Schedule.from_dict(orjson.loads(c.schedule))
            except ScheduleError as exc:
                raise ZoneError(f"zone {zone_id}: schedule: {exc}") from None
            reg.schedules[c.schedule] = schedule
    name = zone_id if not c.name or c.name == zone_id else c.name
    reg.zones.append_circle(
        zone_id, name, sys.intern(c.kind or "exclusion"), c.lon, c.lat, c.radius_m,
        sys.intern(c.jurisdiction_id) if c.jurisdiction_id is not None else None, schedule)


async def read_plans(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                     ) -> list[tuple[str, dict[str, Any]]]:
    cur = await conn.execute(
        f"SELECT id, settings FROM supervision_plans WHERE true {where[0]} ORDER BY id", where[1])
    return [(r[0], r[1]) for r in await cur.fetchall()]


def add_plan(reg: Registry, plan_id: str, settings: dict[str, Any]) -> None:
    try:
        reg.plans[plan_id] = SupervisionPlan.from_settings(plan_id, settings)
    except PlanError as exc:
        # Its supervisees fall back to the default plan rather than to no rules at all.
        log.error("plan %s not loaded: %s", plan_id, exc)
        reg.rejected_plans[plan_id] = str(exc)


async def read_zone_groups(conn: psycopg.AsyncConnection) -> dict[str, list[str]]:
    cur = await conn.execute(
        "SELECT group_id, zone_id FROM zone_group_zones ORDER BY group_id, zone_id")
    groups: dict[str, list[str]] = {}
    for group_id, zone_id in await cur.fetchall():
        groups.setdefault(group_id, []).append(zone_id)
    return groups


# (id, jurisdiction, plan, own zones, case number): no name — the engine holds none (a live
# alert reads its person's, see store.alerts.supervisee_names).
SuperviseeRow = tuple[str, str, str | None, list[str], str | None]


async def read_supervisees(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                           ) -> list[SuperviseeRow]:
    return [row async for row in supervisee_rows(conn, where)]


async def supervisee_rows(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                          ) -> AsyncIterator[SuperviseeRow]:
    """Supervisees still supervised (``where`` on ``s.id``), with their own zones, a chunk
    at a time."""
    cur = await conn.execute(
        "SELECT s.id, s.jurisdiction_id, s.plan_id, "
        "coalesce(array_agg(sz.zone_id ORDER BY sz.zone_id) "
        "FILTER (WHERE sz.zone_id IS NOT NULL), '{}'), s.case_no "
        "FROM supervisees s LEFT JOIN supervisee_zones sz ON sz.supervisee_id = s.id "
        f"WHERE s.released_at IS NULL {where[0]} "
        "GROUP BY s.id ORDER BY s.id", where[1])
    async for r in in_chunks(cur):
        yield tuple(r)  # type: ignore[misc]


def supervisee_of_row(row: SuperviseeRow, plans: dict[str, SupervisionPlan],
                      groups: dict[str, list[str]], same: Callable[[str], str] = _no_canonical
                      ) -> Supervisee:
    """A supervisee with their zones: their own, then their plan's zone groups' (``same``:
    the string to hold for a zone id)."""
    sid, jid, zones, plan_id, case_no = supervisee_fields(row, plans, groups, same)
    return Supervisee(sid, "", jid, zones, plan_id, case_no)


def supervisee_fields(row: SuperviseeRow, plans: dict[str, SupervisionPlan],
                      groups: dict[str, list[str]], same: Callable[[str], str] = _no_canonical
                      ) -> tuple[str, str, tuple[str, ...], str | None, str | None]:
    """(id, jurisdiction, zone ids, plan, case number) of :func:`supervisee_of_row`."""
    sid, jid, plan_id, zone_ids, case_no = row
    plan = plans.get(plan_id or "")
    if plan is None or not plan.zone_groups:  # (their own are distinct: a key)
        zones = tuple(map(same, zone_ids))
    else:
        from_groups = [z for g in plan.zone_groups for z in groups.get(g, ())]
        zones = tuple(map(same, dict.fromkeys([*zone_ids, *from_groups])))
    return (sid, sys.intern(jid), zones, sys.intern(plan_id) if plan_id is not None else None,
            case_no)


async def read_devices(conn: psycopg.AsyncConnection, where: Where = EVERYTHING,
                       same: Callable[[str], str] = _no_canonical) -> list[Device]:
    """Devices in service of supervisees still supervised (or of victims); ``where`` on
    ``d.*``; ``same``: the string to hold for a supervisee id."""
    return [Device(*r) async for r in device_rows(conn, where, same)]


async def read_device_table(conn: psycopg.AsyncConnection, where: Where = EVERYTHING,
                            same: Callable[[str], str] = _no_canonical) -> DeviceTable:
    """:func:`read_devices` as a :class:`~devices.tables.DeviceTable` (no object a device)."""
    out = DeviceTable()
    async for r in device_rows(conn, where, same):
        out.add(*r)
    return out


async def device_rows(conn: psycopg.AsyncConnection, where: Where, same: Callable[[str], str]
                      ) -> AsyncIterator[tuple[str, str | None, str, str | None, float | None]]:
    """(id, supervisee id, kind, victim id, report interval) of :func:`read_devices`."""
    cur = await conn.execute(
        "SELECT d.id, d.supervisee_id, d.kind, d.victim_id, d.report_interval_s FROM devices d "
        "LEFT JOIN supervisees s ON s.id = d.supervisee_id "
        f"WHERE d.retired_at IS NULL AND s.released_at IS NULL {where[0]} ORDER BY d.id",
        where[1])
    async for r in in_chunks(cur):
        yield r[0], same(r[1]) if r[1] is not None else None, sys.intern(r[2]), r[3], r[4]


async def read_owners(conn: psycopg.AsyncConnection, device_ids: set[str]) -> dict[str, str]:
    """The supervisee of each of these devices that is in service with someone still
    supervised (a process holding some partitions asks about the devices of the others)."""
    cur = await conn.execute(
        "SELECT d.id, d.supervisee_id FROM devices d JOIN supervisees s ON s.id = d.supervisee_id "
        "WHERE d.retired_at IS NULL AND s.released_at IS NULL AND d.id = ANY(%s)",
        (sorted(device_ids),))
    return {r[0]: r[1] for r in await cur.fetchall()}


async def read_pairings(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                        ) -> list[Pairing]:
    cur = await conn.execute("SELECT supervisee_id, bracelet_id, phone_id FROM pairings "
                             f"WHERE true {where[0]} ORDER BY bracelet_id", where[1])
    return [Pairing(*r) async for r in in_chunks(cur)]


def pairing_holds(p: Pairing, devices: Mapping[str, Device],
                  supervisees: dict[str, Supervisee]) -> bool:
    return p.bracelet_id in devices and p.phone_id in devices and p.supervisee_id in supervisees


def pairing_held(p: Pairing, devices: Mapping[str, Device], supervisees: dict[str, Supervisee]
                 ) -> Pairing | None:
    """The pairing as the registry holds it, naming its devices and supervisee with their own
    id strings; None when it does not hold (see :func:`pairing_holds`)."""
    b, ph, s = (held_id(devices, p.bracelet_id), held_id(devices, p.phone_id),
                held_id(supervisees, p.supervisee_id))
    if b is None or ph is None or s is None:
        return None
    return Pairing(s, b, ph)


async def read_orders(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                      ) -> list[ProtectionOrder]:
    cur = await conn.execute(
        "SELECT supervisee_id, victim_id, device_id, enter_m, exit_m FROM protection_orders "
        f"WHERE true {where[0]} ORDER BY supervisee_id, victim_id", where[1])
    return [ProtectionOrder(*r) for r in await cur.fetchall()]


def order_holds(o: ProtectionOrder, devices: Mapping[str, Device],
                supervisees: dict[str, Supervisee]) -> bool:
    return o.device_id in devices and o.supervisee_id in supervisees


async def read_positioning(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                           ) -> list[PositioningOrder]:
    """Positioning orders of supervisees still supervised (``where`` on ``o.*``), as windows
    in force (an early removal ends one); those long over cannot cover a fix the intake still
    accepts."""
    cur = await conn.execute(
        "SELECT o.id, o.supervisee_id, extract(epoch FROM o.starts_at)::float8, "
        "extract(epoch FROM least(o.ends_at, o.removed_at))::float8 "
        "FROM positioning_orders o JOIN supervisees s ON s.id = o.supervisee_id "
        "WHERE s.released_at IS NULL AND least(o.ends_at, o.removed_at) > o.starts_at "
        f"AND least(o.ends_at, o.removed_at) > now() - interval '400 days' {where[0]} "
        "ORDER BY o.supervisee_id, o.starts_at, o.id", where[1])
    return [PositioningOrder(*r) for r in await cur.fetchall()]


async def read_suppressions(conn: psycopg.AsyncConnection, where: Where = EVERYTHING
                            ) -> list[Suppression]:
    cur = await conn.execute(
        "SELECT supervisee_id, extract(epoch FROM starts_at)::float8, "
        "extract(epoch FROM ends_at)::float8, reason, kinds FROM suppressions "
        f"WHERE ends_at > now() - interval '1 day' {where[0]} "
        "ORDER BY supervisee_id, starts_at, id", where[1])
    return [Suppression(r[0], r[1], r[2], r[3], frozenset(r[4]) if r[4] is not None else None)
            for r in await cur.fetchall()]


async def registry_version(conn: psycopg.AsyncConnection) -> int:
    """A number that changes whenever the registry does (see migration 0002)."""
    cur = await conn.execute("SELECT last_value + (CASE WHEN is_called THEN 1 ELSE 0 END) "
                             "FROM registry_version")
    return (await cur.fetchone())[0]


async def upsert_jurisdiction(
    conn: psycopg.AsyncConnection,
    j: Jurisdiction,
    boundary: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO jurisdictions (id, parent_id, name, kind, timezone, boundary) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
        "parent_id = excluded.parent_id, name = excluded.name, kind = excluded.kind, "
        "timezone = excluded.timezone, boundary = excluded.boundary",
        (j.id, j.parent_id, j.name, j.kind, j.timezone, Jsonb(boundary) if boundary else None),
    )


async def upsert_supervisee(conn: psycopg.AsyncConnection, s: Supervisee) -> None:
    await conn.execute(
        "INSERT INTO supervisees (id, name, jurisdiction_id, plan_id) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "jurisdiction_id = excluded.jurisdiction_id, plan_id = excluded.plan_id",
        (s.id, s.name, s.jurisdiction_id, s.plan_id),
    )
    if s.case_no is not None:
        await conn.execute("UPDATE supervisees SET case_no = %s WHERE id = %s",
                           (s.case_no, s.id))
    await conn.execute("DELETE FROM supervisee_zones WHERE supervisee_id = %s", (s.id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO supervisee_zones (supervisee_id, zone_id) VALUES (%s, %s)",
            [(s.id, z) for z in s.zone_ids],
        )


async def upsert_device(conn: psycopg.AsyncConnection, d: Device) -> None:
    await conn.execute(
        "INSERT INTO devices (id, supervisee_id, kind, victim_id, report_interval_s) "
        "VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET supervisee_id = excluded.supervisee_id, "
        "kind = excluded.kind, victim_id = excluded.victim_id, "
        "report_interval_s = excluded.report_interval_s",
        (d.id, d.supervisee_id, d.kind, d.victim_id, d.report_interval_s),
    )


async def upsert_victim(conn: psycopg.AsyncConnection, victim_id: str, name: str,
                        jurisdiction_id: str) -> None:
    await conn.execute(
        "INSERT INTO victims (id, name, jurisdiction_id) VALUES (%s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "jurisdiction_id = excluded.jurisdiction_id", (victim_id, name, jurisdiction_id))


async def upsert_order(conn: psycopg.AsyncConnection, o: ProtectionOrder) -> None:
    await conn.execute(
        "INSERT INTO protection_orders (supervisee_id, victim_id, device_id, enter_m, exit_m) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (supervisee_id, victim_id) DO UPDATE SET "
        "device_id = excluded.device_id, enter_m = excluded.enter_m, exit_m = excluded.exit_m",
        (o.supervisee_id, o.victim_id, o.device_id, o.enter_m, o.exit_m))


async def upsert_pairing(conn: psycopg.AsyncConnection, p: Pairing) -> None:
    await conn.execute(
        "INSERT INTO pairings (supervisee_id, bracelet_id, phone_id) VALUES (%s, %s, %s) "
        "ON CONFLICT (bracelet_id) DO UPDATE SET supervisee_id = excluded.supervisee_id, "
        "phone_id = excluded.phone_id", (p.supervisee_id, p.bracelet_id, p.phone_id))


async def upsert_plan(conn: psycopg.AsyncConnection, plan: SupervisionPlan,
                      name: str | None = None, jurisdiction_id: str | None = None) -> None:
    """Store a plan, belonging to ``jurisdiction_id`` (None: to the whole agency)."""
    await conn.execute(
        "INSERT INTO supervision_plans (id, name, settings, jurisdiction_id) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "settings = excluded.settings, jurisdiction_id = excluded.jurisdiction_id",
        (plan.id, name or plan.id, Jsonb(plan.to_settings()), jurisdiction_id))


async def insert_plan(conn: psycopg.AsyncConnection, plan: SupervisionPlan, name: str,
                      jurisdiction_id: str | None) -> bool:
    """Store a new plan; False (and nothing changed) if its id is taken."""
    cur = await conn.execute(
        "INSERT INTO supervision_plans (id, name, settings, jurisdiction_id) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (plan.id, name, Jsonb(plan.to_settings()), jurisdiction_id))
    return cur.rowcount > 0


async def plans_out_of_sight(conn: psycopg.AsyncConnection, supervisee_ids: list[str]
                             ) -> list[tuple[str, str]]:
    """(supervisee, plan) of those supervisees whose plan belongs to a jurisdiction that is
    neither theirs nor above theirs — a plan they may not be on."""
    cur = await conn.execute(
        "WITH RECURSIVE on_local (sid, pid, pj, jid) AS ("
        " SELECT s.id, p.id, p.jurisdiction_id, s.jurisdiction_id FROM supervisees s"
        " JOIN supervision_plans p ON p.id = s.plan_id"
        " WHERE p.jurisdiction_id IS NOT NULL AND s.id = ANY(%s)"
        "), above (sid, jid) AS ("
        " SELECT sid, jid FROM on_local"
        " UNION SELECT a.sid, j.parent_id FROM above a JOIN jurisdictions j ON j.id = a.jid"
        " WHERE j.parent_id IS NOT NULL"
        ") SELECT o.sid, o.pid FROM on_local o WHERE NOT EXISTS ("
        " SELECT 1 FROM above a WHERE a.sid = o.sid AND a.jid = o.pj) ORDER BY o.sid",
        (supervisee_ids,))
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def upsert_zone_group(conn: psycopg.AsyncConnection, group_id: str, name: str,
                            zone_ids: list[str]) -> None:
    await conn.execute(
        "INSERT INTO zone_groups (id, name) VALUES (%s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name", (group_id, name))
    await conn.execute("DELETE FROM zone_group_zones WHERE group_id = %s", (group_id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO zone_group_zones (group_id, zone_id) VALUES (%s, %s)",
            [(group_id, z) for z in zone_ids])


async def add_suppression(conn: psycopg.AsyncConnection, s: Suppression,
                          note: str | None = None, created_by: str | None = None) -> int:
    cur = await conn.execute(
        "INSERT INTO suppressions (supervisee_id, starts_at, ends_at, reason, kinds, note, "
        "created_by) VALUES (%s, to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s) "
        "RETURNING id",
        (s.supervisee_id, s.starts_at, s.ends_at, s.reason,
         sorted(s.kinds) if s.kinds is not None else None, note, created_by))
    return (await cur.fetchone())[0]


async def upsert_zone(conn: psycopg.AsyncConnection, zone: Zone) -> None:
    await conn.execute(
        "INSERT INTO zones (id, name, kind, jurisdiction_id, feature) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
        "jurisdiction_id = excluded.jurisdiction_id, feature = excluded.feature",
        (zone.id, zone.name, zone.kind, zone.jurisdiction_id, Jsonb(zone.to_feature())),
    )


async def import_registry(conn: psycopg.AsyncConnection, doc: dict[str, Any]) -> dict[str, int]:
    """Load a registry document — ``jurisdictions``, ``zones`` (GeoJSON Features),
    ``supervisees`` (with ``zone_ids``, ``home_zone_id``, ``plan_id``), ``victims``,
    ``devices``, ``pairings``, and optionally ``plans`` (each with an optional
    ``jurisdiction_id``: none, the whole agency's) and ``zone_groups`` — upserting each entry. A
    supervisee may be only on a plan of the agency, of their jurisdiction or of one above it.
    Run it in a transaction: a bad entry raises ``ValueError`` naming it, and nothing is kept.
    Returns how many of each were loaded."""
    for j in sorted(doc.get("jurisdictions", []), key=lambda j: j.get("parent_id") is not None):
        await upsert_jurisdiction(conn, Jurisdiction(j["id"], j["name"], j["kind"],
                                                     j.get("parent_id"), j.get("timezone", "UTC")),
                                  j.get("boundary"))
    for feature in doc.get("zones", []):
        try:
            await upsert_zone(conn, Zone.from_feature(feature))
        except ZoneError as exc:
            raise ValueError(f"zones: {exc}") from None
    for p in doc.get("plans", []):
        try:
            plan = SupervisionPlan.from_settings(p["id"], p.get("settings", {}))
        except PlanError as exc:
            raise ValueError(f"plans: {exc}") from None
        await upsert_plan(conn, plan, p.get("name"), p.get("jurisdiction_id"))
    for g in doc.get("zone_groups", []):
        await upsert_zone_group(conn, g["id"], g.get("name", g["id"]), list(g["zone_ids"]))
    for s in doc.get("supervisees", []):
        zone_ids = [*s.get("zone_ids", []), *([s["home_zone_id"]] if s.get("home_zone_id")
                                               else [])]
        await upsert_supervisee(conn, Supervisee(s["id"], s["name"], s["jurisdiction_id"],
                                                 tuple(dict.fromkeys(zone_ids)),
                                                 s.get("plan_id"), s.get("case_no")))
    for v in doc.get("victims", []):
        await upsert_victim(conn, v["id"], v["name"], v["jurisdiction_id"])
    for d in doc.get("devices", []):
        await upsert_device(conn, Device(d["id"], d.get("supervisee_id"), d.get("kind", "phone"),
                                         d.get("victim_id"), d.get("report_interval_s")))
    for v in doc.get("victims", []):
        await upsert_order(conn, ProtectionOrder(v["protected_from"], v["id"], v["device_id"],
                                                 v.get("enter_m", 500.0), v.get("exit_m", 700.0)))
    for p in doc.get("pairings", []):
        await upsert_pairing(conn, Pairing(p["supervisee_id"], p["bracelet_id"], p["phone_id"]))
    astray = await plans_out_of_sight(conn, [s["id"] for s in doc.get("supervisees", [])])
    if astray:
        sid, pid = astray[0]
        raise ValueError(f"supervisees: {sid} is on plan {pid}, which belongs to a jurisdiction "
                         "neither theirs nor above theirs")
    return {key: len(doc.get(key, [])) for key in (
        "jurisdictions", "zones", "plans", "zone_groups", "supervisees", "victims", "devices",
        "pairings")}
