"""The registry as people read it through the API: jurisdictions, supervisees, devices,
pairings, zones and plans — each query limited to a set of jurisdictions (a caller's reach).

What the engine loads is :mod:`store.registry`; this module answers questions one page at a
time and never returns what lies outside the jurisdictions it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


async def jurisdictions(conn: psycopg.AsyncConnection, within: Sequence[str]
                        ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, parent_id, name, kind, timezone, boundary IS NOT NULL FROM jurisdictions "
        "WHERE id = ANY(%s) ORDER BY id", (list(within),))
    return [{"id": r[0], "parent_id": r[1], "name": r[2], "kind": r[3], "timezone": r[4],
             "has_boundary": r[5]} for r in await cur.fetchall()]


async def jurisdiction_boundaries(conn: psycopg.AsyncConnection, within: Sequence[str]
                                  ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, name, kind, parent_id, boundary FROM jurisdictions "
        "WHERE boundary IS NOT NULL AND id = ANY(%s) ORDER BY id", (list(within),))
    return [{"type": "Feature", "id": r[0],
             "properties": {"name": r[1], "kind": r[2], "parent_id": r[3]}, "geometry": r[4]}
            for r in await cur.fetchall()]


def tree(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest jurisdictions under their parents; a row whose parent is not among them is a root.

    >>> roots = tree([{"id": "c", "parent_id": "p"}, {"id": "p", "parent_id": None}])
    >>> [r["id"] for r in roots], [c["id"] for c in roots[0]["children"]]
    (['p'], ['c'])
    """
    nodes = {r["id"]: {**r, "children": []} for r in rows}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node["parent_id"]) if node["parent_id"] else None
        (parent["children"] if parent else roots).append(node)
    return roots


_SUPERVISEE = (
    "SELECT s.id, s.name, s.jurisdiction_id, s.plan_id, "
    "extract(epoch FROM s.created_at)::float8, "
    "coalesce((SELECT array_agg(sz.zone_id ORDER BY sz.zone_id) FROM supervisee_zones sz "
    "WHERE sz.supervisee_id = s.id), '{}'), "
    "coalesce((SELECT array_agg(d.id ORDER BY d.id) FROM devices d "
    "WHERE d.supervisee_id = s.id AND d.retired_at IS NULL), '{}'), s.home_zone_id, "
    "extract(epoch FROM s.released_at)::float8, s.release_reason FROM supervisees s "
)


def _supervisee(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "name": r[1], "jurisdiction_id": r[2], "plan_id": r[3],
            "created_at": r[4], "zone_ids": list(r[5]), "device_ids": list(r[6]),
            "home_zone_id": r[7], "released_at": r[8], "release_reason": r[9]}


async def supervisees(conn: psycopg.AsyncConnection, within: Sequence[str], *,
                      search: str | None = None, limit: int = 500, offset: int = 0,
                      released: bool = False) -> list[dict[str, Any]]:
    """``released``: also those released (解矫), whose records stay."""
    cur = await conn.execute(
        _SUPERVISEE + "WHERE s.jurisdiction_id = ANY(%s) "
        "AND (%s::text IS NULL OR s.name ILIKE '%%' || %s || '%%' OR s.id = %s) "
        "AND (%s OR s.released_at IS NULL) "
        "ORDER BY s.id LIMIT %s OFFSET %s",
        (list(within), search, search, search, released, limit, offset))
    return [_supervisee(r) for r in await cur.fetchall()]


async def supervisee(conn: psycopg.AsyncConnection, supervisee_id: str
                     ) -> dict[str, Any] | None:
    cur = await conn.execute(_SUPERVISEE + "WHERE s.id = %s", (supervisee_id,))
    row = await cur.fetchone()
    return _supervisee(row) if row else None


_DEVICE = (
    "SELECT d.id, d.kind, d.supervisee_id, d.victim_id, d.report_interval_s, "
    "coalesce(s.jurisdiction_id, v.jurisdiction_id), "
    "extract(epoch FROM d.retired_at)::float8 FROM devices d "
    "LEFT JOIN supervisees s ON s.id = d.supervisee_id "
    "LEFT JOIN victims v ON v.id = d.victim_id "
)


def _device(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "kind": r[1], "supervisee_id": r[2], "victim_id": r[3],
            "report_interval_s": r[4], "jurisdiction_id": r[5], "retired_at": r[6]}


async def devices(conn: psycopg.AsyncConnection, within: Sequence[str], *,
                  supervisee_id: str | None = None, limit: int = 500, offset: int = 0
                  ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        _DEVICE + "WHERE coalesce(s.jurisdiction_id, v.jurisdiction_id) = ANY(%s) "
        "AND d.retired_at IS NULL "
        "AND (%s::text IS NULL OR d.supervisee_id = %s) ORDER BY d.id LIMIT %s OFFSET %s",
        (list(within), supervisee_id, supervisee_id, limit, offset))
    return [_device(r) for r in await cur.fetchall()]


async def device(conn: psycopg.AsyncConnection, device_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(_DEVICE + "WHERE d.id = %s", (device_id,))
    row = await cur.fetchone()
    return _device(row) if row else None


async def pairings(conn: psycopg.AsyncConnection, within: Sequence[str]
                   ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT p.supervisee_id, p.bracelet_id, p.phone_id FROM pairings p "
        "JOIN supervisees s ON s.id = p.supervisee_id WHERE s.jurisdiction_id = ANY(%s) "
        "ORDER BY p.supervisee_id, p.bracelet_id", (list(within),))
    return [{"supervisee_id": r[0], "bracelet_id": r[1], "phone_id": r[2]}
            for r in await cur.fetchall()]


async def zones(conn: psycopg.AsyncConnection, within: Sequence[str]) -> list[dict[str, Any]]:
    """Zones of those jurisdictions, and zones that belong to none (shared by everyone)."""
    cur = await conn.execute(
        "SELECT feature, jurisdiction_id FROM zones "
        "WHERE jurisdiction_id IS NULL OR jurisdiction_id = ANY(%s) ORDER BY id",
        (list(within),))
    return [_with_jurisdiction(f, j) for f, j in await cur.fetchall()]


async def zone(conn: psycopg.AsyncConnection, zone_id: str) -> dict[str, Any] | None:
    cur = await conn.execute("SELECT feature, jurisdiction_id FROM zones WHERE id = %s",
                             (zone_id,))
    row = await cur.fetchone()
    return _with_jurisdiction(*row) if row else None


def _with_jurisdiction(feature: dict[str, Any], jurisdiction_id: str | None) -> dict[str, Any]:
    props = dict(feature.get("properties") or {})
    props["jurisdiction_id"] = jurisdiction_id
    return {**feature, "properties": props}


async def root_jurisdictions(conn: psycopg.AsyncConnection) -> list[str]:
    """The jurisdictions at the top of the tree (those without a parent)."""
    cur = await conn.execute("SELECT id FROM jurisdictions WHERE parent_id IS NULL ORDER BY id")
    return [r[0] for r in await cur.fetchall()]


async def plans(conn: psycopg.AsyncConnection, within: Sequence[str], *,
                plan_id: str | None = None) -> list[dict[str, Any]]:
    """The plans seen from those jurisdictions: the whole agency's (no jurisdiction), theirs,
    and those of every jurisdiction above them (their people may be on it); each with how many
    of the supervisees of those jurisdictions are on it. ``plan_id``: only that plan."""
    cur = await conn.execute(
        "WITH RECURSIVE above (id) AS ("
        " SELECT id FROM jurisdictions WHERE id = ANY(%(within)s)"
        " UNION"
        " SELECT j.parent_id FROM jurisdictions j JOIN above a ON j.id = a.id"
        " WHERE j.parent_id IS NOT NULL"
        ") SELECT p.id, p.name, p.jurisdiction_id, p.settings, (SELECT count(*) FROM supervisees s"
        " WHERE s.plan_id = p.id AND s.jurisdiction_id = ANY(%(within)s))"
        " FROM supervision_plans p"
        " WHERE (p.jurisdiction_id IS NULL OR p.jurisdiction_id IN (SELECT id FROM above))"
        " AND (%(plan)s::text IS NULL OR p.id = %(plan)s) ORDER BY p.id",
        {"within": list(within), "plan": plan_id})
    return [{"id": r[0], "name": r[1], "jurisdiction_id": r[2], "settings": r[3],
             "supervisees": r[4]} for r in await cur.fetchall()]


async def plan_jurisdiction(conn: psycopg.AsyncConnection, plan_id: str, *,
                            lock: bool = False) -> tuple[bool, str | None]:
    """Whether the plan exists, and the jurisdiction it belongs to (None: the whole agency).
    ``lock``: hold its row until the transaction ends."""
    cur = await conn.execute(
        "SELECT jurisdiction_id FROM supervision_plans WHERE id = %s"
        + (" FOR UPDATE" if lock else ""), (plan_id,))
    row = await cur.fetchone()
    return (row is not None, row[0] if row else None)


async def plan_users_outside(conn: psycopg.AsyncConnection, plan_id: str,
                             jurisdiction_id: str) -> int:
    """How many supervisees on the plan are neither in that jurisdiction nor below it (they
    would no longer see the plan were it moved there)."""
    cur = await conn.execute(
        "WITH RECURSIVE below (id) AS ("
        " SELECT %s::text UNION SELECT j.id FROM jurisdictions j JOIN below b ON j.parent_id = b.id"
        ") SELECT count(*) FROM supervisees WHERE plan_id = %s "
        "AND jurisdiction_id NOT IN (SELECT id FROM below)", (jurisdiction_id, plan_id))
    return int((await cur.fetchone())[0])


async def zone_groups(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT g.id, g.name, coalesce(array_agg(z.zone_id ORDER BY z.zone_id) "
        "FILTER (WHERE z.zone_id IS NOT NULL), '{}') FROM zone_groups g "
        "LEFT JOIN zone_group_zones z ON z.group_id = g.id GROUP BY g.id ORDER BY g.id")
    return [{"id": r[0], "name": r[1], "zone_ids": list(r[2])} for r in await cur.fetchall()]
