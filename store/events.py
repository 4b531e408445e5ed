"""Device events: stored idempotently on (device, event time, kind), like fixes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg

from devices.events import DeviceEvent


async def insert_events(conn: psycopg.AsyncConnection, events: Sequence[DeviceEvent]) -> None:
    """Store events; a redelivered one is not stored twice."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO device_events (device_id, ts, received_at, event, battery, peer) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(e.device_id, datetime.fromtimestamp(e.ts, UTC),
              datetime.fromtimestamp(e.received_at, UTC), e.event,
              None if e.battery != e.battery else e.battery, e.peer) for e in events])


async def recent_events(conn: psycopg.AsyncConnection, device_id: str, limit: int = 100
                        ) -> list[dict[str, object]]:
    """A device's newest events, newest first."""
    cur = await conn.execute(
        "SELECT extract(epoch FROM ts)::float8, event, battery, peer FROM device_events "
        "WHERE device_id = %s ORDER BY ts DESC LIMIT %s", (device_id, limit))
    return [{"ts": r[0], "event": r[1], "battery": r[2], "peer": r[3]}
            for r in await cur.fetchall()]
