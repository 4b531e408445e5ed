"""Single zones written one at a time (the console's editor, ``POST|PUT|DELETE /zones``): who
holds a zone, and taking it away from them. Reading zones is :mod:`store.caseload`; replacing a
zone's row is :func:`store.registry.upsert_zone`.

A zone is held by the people it is assigned to (``supervisee_zones``), by the people whose home
it is (``supervisees.home_zone_id``) and by zone groups (which plans apply to everyone on them).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from geofence.zones import Zone


class ZoneTaken(ValueError):
    """A new zone's id is already used."""


async def insert_zone(conn: psycopg.AsyncConnection, zone: Zone) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO zones (id, name, kind, jurisdiction_id, feature) "
                "VALUES (%s, %s, %s, %s, %s)",
                (zone.id, zone.name, zone.kind, zone.jurisdiction_id, Jsonb(zone.to_feature())))
    except psycopg.errors.UniqueViolation:
        raise ZoneTaken(zone.id) from None


async def holders(conn: psycopg.AsyncConnection, zone_id: str) -> dict[str, Any]:
    """``supervisees``: those it is assigned to or is the home of (id, name, released, home);
    ``zone_groups``: the groups it belongs to."""
    cur = await conn.execute(
        "SELECT s.id, s.name, s.released_at IS NOT NULL, s.home_zone_id = %(z)s "
        "FROM supervisees s WHERE s.home_zone_id = %(z)s OR EXISTS (SELECT 1 FROM "
        "supervisee_zones sz WHERE sz.supervisee_id = s.id AND sz.zone_id = %(z)s) "
        "ORDER BY s.id", {"z": zone_id})
    people = [{"id": r[0], "name": r[1], "released": r[2], "home": bool(r[3])}
              for r in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT group_id FROM zone_group_zones WHERE zone_id = %s ORDER BY group_id", (zone_id,))
    return {"supervisees": people, "zone_groups": [r[0] for r in await cur.fetchall()]}


async def detach_and_delete(conn: psycopg.AsyncConnection, zone_id: str) -> bool:
    """Take the zone from everyone holding it, then delete it. False if there was none."""
    await conn.execute("DELETE FROM supervisee_zones WHERE zone_id = %s", (zone_id,))
    await conn.execute("DELETE FROM zone_group_zones WHERE zone_id = %s", (zone_id,))
    await conn.execute("UPDATE supervisees SET home_zone_id = NULL WHERE home_zone_id = %s",
                       (zone_id,))
    cur = await conn.execute("DELETE FROM zones WHERE id = %s", (zone_id,))
    return cur.rowcount > 0
