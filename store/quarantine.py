"""The quarantine: bad input kept with the reason it was refused, never dropped silently."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg

from devices.formats import Rejection

# Keep enough of an oversize payload to diagnose it without storing megabytes of junk.
MAX_STORED_PAYLOAD = 64 * 1024


async def insert_rejections(conn: psycopg.AsyncConnection, rejections: Sequence[Rejection]) -> None:
    if not rejections:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO quarantine (received_at, topic, device_id, reason, payload) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (
                    datetime.fromtimestamp(r.received_at, UTC),
                    r.topic,
                    r.device_id,
                    r.reason,
                    r.payload[:MAX_STORED_PAYLOAD],
                )
                for r in rejections
            ],
        )
