"""Fixes: stored idempotently by binary COPY, read back as latest positions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from devices.fixes import Fix

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS fixes_staging "
    "(LIKE fixes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COLUMNS = "device_id, ts, received_at, lon, lat, accuracy_m, battery, source"
_TYPES = ["text", "timestamptz", "timestamptz", "float8", "float8", "float4", "float4", "text"]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def insert_fixes(conn: psycopg.AsyncConnection, fixes: Sequence[Fix]) -> int:
    """Store fixes once each; return how many were new (the rest were already stored).

    Runs in the caller's transaction: COPY into a session-private staging table, then one
    INSERT … ON CONFLICT DO NOTHING on the (device_id, ts) key.
    """
    if not fixes:
        return 0
    await conn.execute(_STAGING)
    async with conn.cursor() as cur:
        async with cur.copy(f"COPY fixes_staging ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(_TYPES)
            for f in fixes:
                await cp.write_row(
                    (
                        f.device_id,
                        _dt(f.ts),
                        _dt(f.received_at),
                        f.lon,
                        f.lat,
                        f.accuracy_m,
                        None if math.isnan(f.battery) else f.battery,
                        f.source,
                    )
                )
        await cur.execute(
            f"INSERT INTO fixes ({_COLUMNS}) SELECT DISTINCT ON (device_id, ts) {_COLUMNS} "
            "FROM fixes_staging ORDER BY device_id, ts ON CONFLICT (device_id, ts) DO NOTHING"
        )
        stored = cur.rowcount
        await cur.execute("TRUNCATE fixes_staging")
    return stored


async def drop_fixes_older_than(conn: psycopg.AsyncConnection, days: float) -> int:
    """Retention: drop fixes older than ``days``. On TimescaleDB whole chunks go
    (``drop_chunks``, no row-by-row delete; the Apache build has no retention policies, so the
    engine calls this on a schedule); on plain PostgreSQL the rows are deleted. Returns the
    number of chunks dropped, or of rows deleted."""
    cur = await conn.execute(
        "SELECT count(*) FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = 'fixes'"
        if await _has_timescaledb(conn) else "SELECT 0"
    )
    if (await cur.fetchone())[0]:
        cur = await conn.execute(
            "SELECT count(*) FROM drop_chunks('fixes', "
            "older_than => now() - %s * interval '1 day')",
            (days,),
        )
        return (await cur.fetchone())[0]
    cur = await conn.execute(
        "DELETE FROM fixes WHERE ts < now() - %s * interval '1 day'", (days,)
    )
    return cur.rowcount


async def _has_timescaledb(conn: psycopg.AsyncConnection) -> bool:
    cur = await conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
    return (await cur.fetchone())[0] > 0


async def device_clocks(
    conn: psycopg.AsyncConnection, since_s: float = 2 * 86400.0
) -> dict[str, float]:
    """Fix time of the newest stored fix of each device seen in the last ``since_s`` seconds."""
    cur = await conn.execute(
        "SELECT device_id, extract(epoch FROM max(ts))::float8 FROM fixes "
        "WHERE ts > now() - make_interval(secs => %s) GROUP BY device_id",
        (since_s,),
    )
    return {device: ts for device, ts in await cur.fetchall()}


async def latest_positions(
    conn: psycopg.AsyncConnection, since_s: float = 3600.0
) -> list[dict[str, Any]]:
    """The newest fix of every device seen in the last ``since_s`` seconds."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (f.device_id) f.device_id, d.supervisee_id, "
        "extract(epoch FROM f.ts)::float8, f.lon, f.lat, f.accuracy_m, f.battery "
        "FROM fixes f JOIN devices d ON d.id = f.device_id "
        "WHERE f.ts > now() - make_interval(secs => %s) "
        "ORDER BY f.device_id, f.ts DESC",
        (since_s,),
    )
    return [
        {
            "device_id": r[0],
            "supervisee_id": r[1],
            "ts": r[2],
            "lon": r[3],
            "lat": r[4],
            "accuracy_m": r[5],
            "battery": r[6],
        }
        for r in await cur.fetchall()
    ]
