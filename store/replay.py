"""What a replay and an alert's explanation read beside the track: the fixes of given devices
over an interval (every one, unthinned: the ones that decided an alert must all be there), a
person's device events, and the rule context of an alert (its zone, the plan, the protection
order or pairing behind it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg


async def fixes_of(conn: psycopg.AsyncConnection, device_ids: Sequence[str], start: datetime,
                   end: datetime, limit: int) -> list[dict[str, Any]]:
    """Fixes of ``device_ids`` in ``[start, end)``, by time, at most ``limit``."""
    if not device_ids:
        return []
    cur = await conn.execute(
        "SELECT device_id, extract(epoch FROM ts)::float8, lon, lat, accuracy_m::float8, "
        "battery::float8 FROM fixes WHERE device_id = ANY(%s) AND ts >= %s AND ts < %s "
        "ORDER BY ts, device_id LIMIT %s", (list(device_ids), start, end, limit))
    return [{"device_id": r[0], "ts": r[1], "lon": r[2], "lat": r[3], "accuracy_m": r[4],
             "battery": r[5]} for r in await cur.fetchall()]


async def events_of(conn: psycopg.AsyncConnection, device_ids: Sequence[str], start: datetime,
                    end: datetime, limit: int) -> list[dict[str, Any]]:
    """Device events (tamper, power, charger, link, …) of ``device_ids`` in ``[start, end)``."""
    if not device_ids:
        return []
    cur = await conn.execute(
        "SELECT device_id, extract(epoch FROM ts)::float8, event, battery::float8, peer "
        "FROM device_events WHERE device_id = ANY(%s) AND ts >= %s AND ts < %s "
        "ORDER BY ts, device_id LIMIT %s", (list(device_ids), start, end, limit))
    return [{"device_id": r[0], "ts": r[1], "event": r[2], "battery": r[3], "peer": r[4]}
            for r in await cur.fetchall()]


async def devices_of(conn: psycopg.AsyncConnection, supervisee_id: str) -> list[str]:
    cur = await conn.execute("SELECT id FROM devices WHERE supervisee_id = %s ORDER BY id",
                             (supervisee_id,))
    return [r[0] for r in await cur.fetchall()]


async def plan_settings(conn: psycopg.AsyncConnection, supervisee_id: str
                        ) -> tuple[str | None, dict[str, Any]]:
    """(plan id, its stored settings) of the supervisee ({} with no plan)."""
    cur = await conn.execute(
        "SELECT s.plan_id, p.settings FROM supervisees s "
        "LEFT JOIN supervision_plans p ON p.id = s.plan_id WHERE s.id = %s", (supervisee_id,))
    row = await cur.fetchone()
    if row is None:
        return None, {}
    return row[0], row[1] or {}


async def protection_order(conn: psycopg.AsyncConnection, supervisee_id: str, victim_id: str
                           ) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT device_id, enter_m, exit_m FROM protection_orders "
        "WHERE supervisee_id = %s AND victim_id = %s", (supervisee_id, victim_id))
    row = await cur.fetchone()
    return {"device_id": row[0], "enter_m": row[1], "exit_m": row[2]} if row else None


async def pairing_of(conn: psycopg.AsyncConnection, bracelet_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT bracelet_id, phone_id FROM pairings WHERE bracelet_id = %s", (bracelet_id,))
    row = await cur.fetchone()
    return {"bracelet_id": row[0], "phone_id": row[1]} if row else None
