"""The quarantine: bad input kept with the reason it was refused, never dropped silently.

It stays bounded: a row keeps at most :data:`MAX_STORED_PAYLOAD` bytes of its message (the
reason says when it was cut) and short text fields, and rows older than the configured
``quarantine_retention_days`` are deleted (:func:`drop_quarantine_older_than`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg

from devices.formats import Rejection

# Keep enough of an oversize payload to diagnose it without storing megabytes of junk.
MAX_STORED_PAYLOAD = 64 * 1024
# A reason may quote the input (a bad timestamp, say), a topic may be 64 KiB: keep enough to
# read.
MAX_TEXT = 1000
DELETE_BATCH = 10_000  # rows per DELETE, so a large backlog never holds one long transaction


def clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut.

    >>> clip("abcdef", 4), clip("abc", 4), clip(None)
    ('abc…', 'abc', None)
    """
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


def stored_reason(r: Rejection) -> str:
    """The reason as stored: clipped, and saying so when the payload is kept only in part.

    >>> stored_reason(Rejection("t", bytes(70_000), "too big", None, 0.0))
    'too big [payload truncated: only its first 65536 bytes are stored]'
    """
    reason = clip(r.reason) or ""
    if len(r.payload) > MAX_STORED_PAYLOAD:
        # Not "of N bytes": an oversize HTTP body is not read to its end (its reason has the
        # size announced).
        reason += f" [payload truncated: only its first {MAX_STORED_PAYLOAD} bytes are stored]"
    return reason


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
                    clip(r.topic),
                    clip(r.device_id),
                    stored_reason(r),
                    r.payload[:MAX_STORED_PAYLOAD],
                )
                for r in rejections
            ],
        )


async def drop_quarantine_older_than(conn: psycopg.AsyncConnection, days: float) -> int:
    """Retention: delete quarantined rows received more than ``days`` ago, a batch per
    transaction. Returns the number of rows deleted."""
    deleted = 0
    while True:
        async with conn.transaction():
            cur = await conn.execute(
                "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine "
                "WHERE received_at < now() - %s * interval '1 day' LIMIT %s)",
                (days, DELETE_BATCH))
        deleted += cur.rowcount
        if cur.rowcount < DELETE_BATCH:
            return deleted
