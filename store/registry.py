"""The registry: jurisdictions, supervisees, devices, zones and which zones apply to whom."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from devices.models import Device, Jurisdiction, Supervisee
from geofence.zones import Zone, ZoneError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Registry:
    """Everything the engine needs to know about who is supervised, and where."""

    jurisdictions: dict[str, Jurisdiction] = field(default_factory=dict)
    supervisees: dict[str, Supervisee] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    zones: list[Zone] = field(default_factory=list)
    rejected_zones: dict[str, str] = field(default_factory=dict)


async def load_registry(conn: psycopg.AsyncConnection) -> Registry:
    reg = Registry()
    cur = await conn.execute("SELECT id, name, kind, parent_id, timezone FROM jurisdictions")
    for r in await cur.fetchall():
        reg.jurisdictions[r[0]] = Jurisdiction(r[0], r[1], r[2], r[3], r[4])
    cur = await conn.execute("SELECT id, feature FROM zones ORDER BY id")
    for zone_id, feature in await cur.fetchall():
        try:
            reg.zones.append(Zone.from_feature(feature, zone_id))
        except ZoneError as exc:
            # Stored before validation tightened, or edited by hand: never evaluate it wrongly.
            log.error("zone %s not loaded: %s", zone_id, exc)
            reg.rejected_zones[zone_id] = str(exc)
    cur = await conn.execute(
        "SELECT s.id, s.name, s.jurisdiction_id, "
        "coalesce(array_agg(sz.zone_id ORDER BY sz.zone_id) "
        "FILTER (WHERE sz.zone_id IS NOT NULL), '{}') "
        "FROM supervisees s LEFT JOIN supervisee_zones sz ON sz.supervisee_id = s.id "
        "GROUP BY s.id"
    )
    for sid, name, jid, zone_ids in await cur.fetchall():
        reg.supervisees[sid] = Supervisee(sid, name, jid, tuple(zone_ids))
    cur = await conn.execute("SELECT id, supervisee_id, kind FROM devices")
    for r in await cur.fetchall():
        reg.devices[r[0]] = Device(r[0], r[1], r[2])
    return reg


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
        "INSERT INTO supervisees (id, name, jurisdiction_id) VALUES (%s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "jurisdiction_id = excluded.jurisdiction_id",
        (s.id, s.name, s.jurisdiction_id),
    )
    await conn.execute("DELETE FROM supervisee_zones WHERE supervisee_id = %s", (s.id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO supervisee_zones (supervisee_id, zone_id) VALUES (%s, %s)",
            [(s.id, z) for z in s.zone_ids],
        )


async def upsert_device(conn: psycopg.AsyncConnection, d: Device) -> None:
    await conn.execute(
        "INSERT INTO devices (id, supervisee_id, kind) VALUES (%s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET supervisee_id = excluded.supervisee_id, "
        "kind = excluded.kind",
        (d.id, d.supervisee_id, d.kind),
    )


async def upsert_zone(conn: psycopg.AsyncConnection, zone: Zone) -> None:
    await conn.execute(
        "INSERT INTO zones (id, name, kind, jurisdiction_id, feature) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
        "jurisdiction_id = excluded.jurisdiction_id, feature = excluded.feature",
        (zone.id, zone.name, zone.kind, zone.jurisdiction_id, Jsonb(zone.to_feature())),
    )


async def zone_features(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    cur = await conn.execute("SELECT feature FROM zones ORDER BY id")
    return [r[0] for r in await cur.fetchall()]


async def jurisdiction_features(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, name, kind, parent_id, boundary FROM jurisdictions "
        "WHERE boundary IS NOT NULL ORDER BY id"
    )
    return [
        {
            "type": "Feature",
            "id": r[0],
            "properties": {"name": r[1], "kind": r[2], "parent_id": r[3]},
            "geometry": r[4],
        }
        for r in await cur.fetchall()
    ]


