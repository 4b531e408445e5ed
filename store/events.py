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

