"""The registry by the piece: which rows changed since the engine last looked (the log kept by
migration 0012), those rows read again, and a new :class:`~store.registry.Registry` made from
the old one with only them replaced.

The log names each row written by the transaction that wrote it. The engine keeps a
*watermark*: the oldest transaction still running when it last looked. Every transaction that
commits later has an id at or above it, so reading the rows written at or above the watermark
misses nothing; a row read twice is harmless (what is read is the row's current state).

Reading (:func:`read_changes`, :func:`fetch_changed`) is I/O on the event loop, a few small
queries; :func:`patched` is pure and leaves the old registry untouched (the evaluator built
from it may still be deciding a batch), so it can run in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import psycopg

from alerts.rules.check_in_missed import CheckIn
from alerts.suppressions import Suppression, Suppressions
from devices.models import (
    Device,
    Jurisdiction,
    Pairing,
    PositioningOrder,
    ProtectionOrder,
)
from geofence.layered import layered
from geofence.numbers import number, numbering
from store.check_ins import read_check_ins
from store.leave import read_leave_windows
from store.registry import (
    Registry,
    SuperviseeRow,
    add_plan,
    add_zone,
    order_holds,
    pairing_holds,
    read_devices,
    read_jurisdictions,
    read_orders,
    read_pairings,
    read_plans,
    read_positioning,
    read_supervisees,
    read_suppressions,
    read_zone_groups,
    read_zones,
    supervisee_of_row,
)

T = TypeVar("T")
KEEP_CHANGES = "1 hour"  # how long the log keeps a row (an engine further behind reloads whole)


@dataclass(slots=True)
class RegistryChanges:
    """The keys written since the watermark, by what the engine holds of them."""

    everything: bool = False  # a table was truncated: reload whole
    jurisdictions: set[str] = field(default_factory=set)
    zones: set[str] = field(default_factory=set)
    plans: set[str] = field(default_factory=set)
    zone_groups: set[str] = field(default_factory=set)
    supervisees: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)  # supervisees whose pairings, orders... changed

    def __bool__(self) -> bool:
        return self.everything or any((self.jurisdictions, self.zones, self.plans,
                                       self.zone_groups, self.supervisees, self.devices,
                                       self.links))


_KINDS = {"jurisdiction": "jurisdictions", "zone": "zones", "plan": "plans",
          "zone_group": "zone_groups", "supervisee": "supervisees", "device": "devices",
          "links": "links"}


async def watermark(conn: psycopg.AsyncConnection) -> int:
    """The oldest transaction still running: every change not yet visible is at or above it."""
    cur = await conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    return (await cur.fetchone())[0]


async def read_changes(conn: psycopg.AsyncConnection, since: int
                       ) -> tuple[RegistryChanges, int]:
    """The keys written by transactions at or above ``since``, and the next watermark (taken
    first: what commits after it is read next time)."""
    mark = await watermark(conn)
    cur = await conn.execute(
        "SELECT kind, key FROM registry_changes WHERE xid >= %s::text::xid8", (str(since),))
    changes = RegistryChanges()
    for kind, key in await cur.fetchall():
        if kind == "all":
            changes.everything = True
        else:
            getattr(changes, _KINDS[kind]).add(key)
    return changes, mark


async def prune_changes(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(f"DELETE FROM registry_changes WHERE at < now() - interval '{KEEP_CHANGES}'")


@dataclass(slots=True)
class ChangedRows:
    """The current state of what changed, as read from the database."""

    changes: RegistryChanges
    jurisdictions: list[Jurisdiction] = field(default_factory=list)
    zone_ids: set[str] = field(default_factory=set)  # re-read (absent below: gone)
    zones: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    plans: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    supervisee_ids: set[str] = field(default_factory=set)  # re-read (absent below: gone)
    supervisees: list[SuperviseeRow] = field(default_factory=list)
    device_ids: set[str] = field(default_factory=set)  # re-read by id
    devices: list[Device] = field(default_factory=list)  # by id, and of the supervisees re-read
    link_ids: set[str] = field(default_factory=set)  # supervisees whose links were re-read
    pairings: list[Pairing] = field(default_factory=list)
    orders: list[ProtectionOrder] = field(default_factory=list)
    positioning: list[PositioningOrder] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    check_ins: list[CheckIn] = field(default_factory=list)


def _any(column: str, keys: set[str]) -> tuple[str, tuple[Any, ...]]:
    return f"AND {column} = ANY(%s)", (sorted(keys),)


async def fetch_changed(conn: psycopg.AsyncConnection, registry: Registry,
                        changes: RegistryChanges) -> ChangedRows:
    """Read again every row that ``changes`` touch, and what depends on them: a supervisee's
    devices and links (a release ends them), a device's owners' links, the supervisees of a
    plan or zone group whose zones changed."""
    rows = ChangedRows(changes)
    held = registry.held
    if changes.jurisdictions:
        rows.jurisdictions = await read_jurisdictions(
            conn, _any("id", changes.jurisdictions))
    if changes.zones and held is None:
        rows.zone_ids = set(changes.zones)
        rows.zones = await read_zones(conn, _any("id", changes.zones))
    if changes.plans:
        rows.plans = await read_plans(conn, _any("id", changes.plans))
    supervisees = {s for s in changes.supervisees if held is None or held.holds(s)}
    # A plan's or a group's zones are part of its supervisees' zones.
    plans_of_groups = set()
    if changes.zone_groups:
        plans_of_groups = {p.id for p in registry.plans.values()
                           if set(p.zone_groups) & changes.zone_groups}
    # A plan that has or had zone groups: its supervisees' zones are read again (an edit that
    # left its groups alone costs a little more, and is never wrong).
    regrouped = {pid for pid in changes.plans
                 if pid in registry.plans and registry.plans[pid].zone_groups}
    regrouped |= {pid for pid, settings in rows.plans
                  if isinstance(settings, dict) and settings.get("zone_groups")}
    regrouped |= plans_of_groups
    if regrouped:
        cur = await conn.execute("SELECT id FROM supervisees WHERE plan_id = ANY(%s)",
                                 (sorted(regrouped),))
        supervisees |= {r[0] for r in await cur.fetchall() if held is None or held.holds(r[0])}
    if supervisees or rows.plans:
        rows.groups = await read_zone_groups(conn)
    devices = set(changes.devices)
    links = {s for s in changes.links if held is None or held.holds(s)} | supervisees
    if supervisees:
        rows.supervisee_ids = supervisees
        rows.supervisees = await read_supervisees(conn, _any("s.id", supervisees))
        # Theirs (a release ends them all; one moved away is itself in the log).
        cur = await conn.execute("SELECT id FROM devices WHERE supervisee_id = ANY(%s)",
                                 (sorted(supervisees),))
        devices |= {r[0] for r in await cur.fetchall()}
    if held is not None:
        await _fetch_zones_held(conn, registry, rows)
    if devices:
        # Another process's (moved to someone of another partition: gone from here).
        rows.devices = [d for d in await read_devices(conn, _any("d.id", devices))
                        if held is None or held.holds(d.supervisee_id)]
        # Those of other processes' people, before and after, are nothing to this one.
        rows.device_ids = devices if held is None else (
            {d for d in devices if d in registry.devices} | {d.id for d in rows.devices})
        # A pairing holds only while both its devices do.
        links |= {registry.devices[d].supervisee_id for d in devices
                  if d in registry.devices and registry.devices[d].supervisee_id}
        links |= {d.supervisee_id for d in rows.devices if d.supervisee_id}
    if links or devices:
        rows.link_ids = links
        rows.pairings = await read_pairings(
            conn, ("AND (supervisee_id = ANY(%s) OR bracelet_id = ANY(%s) "
                   "OR phone_id = ANY(%s))", (sorted(links), sorted(devices), sorted(devices))))
        rows.positioning = await read_positioning(conn, _any("o.supervisee_id", links))
        rows.check_ins = await read_check_ins(conn, _any("c.supervisee_id", links))
        rows.suppressions = await read_suppressions(conn, _any("supervisee_id", links))
        rows.suppressions += await read_leave_windows(conn, _any("supervisee_id", links))
    if links or devices:
        # A protection order holds only while the victim's device does.
        rows.orders = await read_orders(
            conn, ("AND (supervisee_id = ANY(%s) OR device_id = ANY(%s))",
                   (sorted(links), sorted(devices))))
    return rows


async def _fetch_zones_held(conn: psycopg.AsyncConnection, registry: Registry,
                            rows: ChangedRows) -> None:
    """The zones to read again when the registry holds some partitions only: those it holds
    that changed, and those its people re-read now use and it did not hold. (A zone no one
    here uses any more stays until the next whole load: finding out would mean walking
    everyone's zones.)"""
    changed = rows.changes.zones
    wanted: set[str] = set()
    if changed or rows.supervisees:
        def have(zid: str) -> bool:
            return zid in registry.zone_index or zid in registry.rejected_zones

        wanted = {zid for zid in changed if have(zid)}
        # A row's zones, before its plan's zone groups are added (those come in below).
        wanted |= {z for row in rows.supervisees for z in row[3] if not have(z)}
        groups = rows.groups
        for row in rows.supervisees:
            plan = None
            for pid, settings in rows.plans:
                if pid == row[2]:
                    plan = settings
            zone_groups = (plan.get("zone_groups") if isinstance(plan, dict) else
                           (registry.plans[row[2]].zone_groups if row[2] in registry.plans
                            else ()))
            for g in zone_groups or ():
                wanted |= {z for z in groups.get(g, ()) if not have(z)}
    rows.zone_ids = wanted
    if wanted:
        rows.zones = await read_zones(conn, _any("id", wanted))


def evaluated_alike(old: Registry, new: Registry, rows: ChangedRows) -> bool:
    """Whether ``new`` differs from ``old`` only in what the evaluator does not read: the
    jurisdictions, and how long a plan's alerts wait before they escalate (read by the
    pipeline alone). Then the evaluator built from ``old`` serves ``new`` as it is — an edit
    of a plan that a hundred thousand people are on rebuilds nothing."""
    if rows.supervisee_ids or rows.device_ids or rows.link_ids or rows.zone_ids:
        return False  # (a zone, a group or a person of another partition: none re-read)
    return not plans_evaluated_otherwise(old, new, rows.changes.plans)


def plans_evaluated_otherwise(old: Registry, new: Registry, plan_ids: set[str]) -> set[str]:
    """Those of ``plan_ids`` whose settings the rules read differ between ``old`` and ``new``
    (made, dropped, or edited other than in how long its alerts wait to escalate)."""
    out = set()
    for pid in plan_ids:
        a, b = old.plans.get(pid), new.plans.get(pid)
        if (a is None) != (b is None) or (a is not None and b is not None and replace(
                a, escalate_after_s=0.0) != replace(b, escalate_after_s=0.0)):
            out.add(pid)
    return out


def patched(registry: Registry, rows: ChangedRows) -> Registry:
    """A new registry: ``registry`` with the rows read replaced, added or removed. Entries
    keep their places (the evaluator numbers devices and zones in order); new ones come last.
    ``registry`` itself is not touched: what changed is copied, what did not is shared (a
    copy of the dict of a million supervisees or two million devices holds the interpreter
    for 50–100 ms, and the event loop waits)."""
    reg = replace(registry, jurisdictions=dict(registry.jurisdictions),
                  rejected_zones=dict(registry.rejected_zones), plans=dict(registry.plans),
                  rejected_plans=dict(registry.rejected_plans))
    changes = rows.changes
    for jid in changes.jurisdictions:
        reg.jurisdictions.pop(jid, None)
    for j in rows.jurisdictions:
        reg.jurisdictions[j.id] = j
    if rows.zone_ids:
        _patch_zones(reg, registry, rows)
    for pid in changes.plans:
        reg.plans.pop(pid, None)
        reg.rejected_plans.pop(pid, None)
    for pid, settings in rows.plans:
        add_plan(reg, pid, settings)
    if rows.supervisee_ids:
        read = {s.id: s for s in (supervisee_of_row(row, reg.plans, rows.groups)
                                  for row in rows.supervisees)}
        reg.supervisees = layered(registry.supervisees).changed(
            read, removed=set(rows.supervisee_ids) - read.keys())
    if rows.device_ids:
        present = {d.id: d for d in rows.devices}
        reg.devices = layered(registry.devices).changed(
            present, removed=rows.device_ids - present.keys())
    if rows.link_ids or rows.device_ids:
        _patch_links(reg, registry, rows)
    return reg


def _patch_zones(reg: Registry, old: Registry, rows: ChangedRows) -> None:
    changed = rows.zone_ids
    for zid in changed:
        reg.rejected_zones.pop(zid, None)
    parsed = Registry(schedules=reg.schedules)
    for zid, feature in rows.zones:
        add_zone(parsed, zid, feature)
    reg.rejected_zones.update(parsed.rejected_zones)
    fresh = {zid: parsed.zones[i] for zid, i in parsed.zone_index.items()}
    index = old.zone_index
    if any(zid in index and zid not in fresh for zid in changed):
        # One dropped (or now rejected): the zones after it move up.
        zones = old.zones.taken([i for i, zid in enumerate(old.zones.ids)
                                 if zid not in changed or zid in fresh])
        index = numbering(zones.ids)
    else:  # redrawn in place: no walk over everyone's zones
        zones = old.zones.copy()
    for zid in [zid for zid in fresh if zid in index]:
        zones[index[zid]] = fresh.pop(zid)
    if fresh:  # new ones last
        index = dict(index) if index is old.zone_index else index
        for z in fresh.values():
            index[z.id] = number(len(zones))
            zones.append(z)
    reg.zones, reg.zone_index = zones, index


def _links_patched(old: Mapping[str, tuple[T, ...]], people: set[str], read: list[T],
                   touches: Callable[[T], bool] | None = None,
                   holds: Callable[[T], bool] | None = None) -> Mapping[str, tuple[T, ...]]:
    """Links by supervisee (``old``) with those of ``people`` replaced by the ones ``read``
    that hold; a link read for someone else (it ``touches`` a device that changed) replaces
    what of theirs touches it. (Layered over ``old``, not a copy of it.)"""
    fresh: dict[str, list[T]] = {}
    for x in read:
        sid = x.supervisee_id  # type: ignore[attr-defined]
        if sid not in fresh:
            fresh[sid] = [] if sid in people or touches is None else [
                y for y in old.get(sid, ()) if not touches(y)]
        if holds is None or holds(x):
            fresh[sid].append(x)
    kept = {sid: tuple(xs) for sid, xs in fresh.items() if xs}
    return layered(old).changed(kept, removed=(people | fresh.keys()) - kept.keys())


def _patch_links(reg: Registry, old: Registry, rows: ChangedRows) -> None:
    links, devices = rows.link_ids, rows.device_ids
    reg.pairings_of = _links_patched(
        old.pairings_of, links, rows.pairings,
        lambda p: p.bracelet_id in devices or p.phone_id in devices,
        lambda p: pairing_holds(p, reg.devices, reg.supervisees))
    reg.orders = [o for o in old.orders
                  if o.supervisee_id not in links and o.device_id not in devices] + [
        o for o in rows.orders if order_holds(o, reg.devices, reg.supervisees)]
    reg.positioning_of = _links_patched(old.positioning_of, links, rows.positioning)
    reg.check_ins_of = _links_patched(old.check_ins_of, links, rows.check_ins)
    # A whole load by partition reads the windows of the people it holds only (not of those
    # released since, as a whole load of everyone does).
    fresh = (rows.suppressions if reg.held is None else
             [w for w in rows.suppressions if w.supervisee_id in reg.supervisees])
    reg.suppressions = Suppressions(
        [w for w in old.suppressions.windows() if w.supervisee_id not in links] + fresh)
