"""Storage on real PostgreSQL with TimescaleDB: schema, hypertable, idempotent fixes."""

from __future__ import annotations

import psycopg
import pytest

from devices.fixes import Fix
from store.database import is_hypertable, migrate, migrations
from store.fixes import insert_fixes

pytestmark = pytest.mark.asyncio


async def test_migrate_creates_a_hypertable_and_is_idempotent(db_url):
    first = await migrate(db_url)
    again = await migrate(db_url)
    assert first.version == again.version >= 1
    assert first.timescaledb is not None
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        assert await is_hypertable(conn, "fixes")
        cur = await conn.execute("SELECT count(*), max(version) FROM schema_migrations")
        assert tuple(await cur.fetchone()) == (len(migrations()), first.version)
        # Every index on fixes costs ingest: the unique key, a BRIN on time (no B-tree on
        # time), the (cell, ts) B-tree of the "who was near" search (migration 0008, measured
        # within the ingest bar) and a partial index that only fixes without a cell enter.
        cur = await conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'fixes' ORDER BY 1")
        indexes = dict(await cur.fetchall())
        assert sorted(indexes) == ["fixes_cell_ts", "fixes_pkey", "fixes_ts_brin",
                                   "fixes_without_cell"]
        assert "USING brin (ts)" in indexes["fixes_ts_brin"]
        assert "WHERE (cell IS NULL)" in indexes["fixes_without_cell"]


async def test_fixes_are_stored_once_per_device_and_time(db_url):
    await migrate(db_url)
    t0 = 1_763_740_800.0
    fixes = [Fix("d1", t0 + i, -97.0, 30.0, 5.0, float("nan"), t0 + i, "native") for i in range(5)]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        async with conn.transaction():
            assert await insert_fixes(conn, fixes) == 5
        async with conn.transaction():
            # A redelivery plus a repeat inside one batch plus one new fix: only the new one.
            again = [*fixes, fixes[0], Fix("d1", t0 + 99, -97.0, 30.0, 5.0, 50.0, t0, "native")]
            assert await insert_fixes(conn, again) == 1
        cur = await conn.execute("SELECT count(*), count(battery) FROM fixes")
        assert await cur.fetchone() == (6, 1)


async def test_retention_drops_old_chunks_and_keeps_recent_fixes(db_url):
    import time

    from store.fixes import drop_fixes_older_than

    await migrate(db_url)
    now = time.time()
    old = [Fix("d1", now - 40 * 86400 + i, 0.0, 0.0, 5.0, float("nan"), now, "native")
           for i in range(10)]
    recent = [Fix("d1", now - 3600 + i, 0.0, 0.0, 5.0, float("nan"), now, "native")
              for i in range(10)]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        async with conn.transaction():
            await insert_fixes(conn, old + recent)
        async with conn.transaction():
            assert await drop_fixes_older_than(conn, 30) >= 1  # at least one whole chunk
        cur = await conn.execute("SELECT count(*) FROM fixes")
        assert (await cur.fetchone())[0] == 10


async def test_fixes_round_trip_through_the_binary_copy(db_url):
    await migrate(db_url)
    fixes = [
        Fix("br-ü-1", 1_763_740_800.123456, -97.7431234567, 30.2672345678, 8.5, 64.0,
            1_763_740_801.5, "native"),
        Fix("ph-長い-2", 1_763_740_860.0, 179.999999, -89.5, 0.0, float("nan"),
            1_763_740_861.25, "owntracks"),
    ]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        async with conn.transaction():
            assert await insert_fixes(conn, fixes) == 2
        cur = await conn.execute(
            "SELECT device_id, extract(epoch FROM ts)::float8, lon, lat, accuracy_m, battery, "
            "extract(epoch FROM received_at)::float8, source FROM fixes ORDER BY ts")
        rows = await cur.fetchall()
    assert rows[0] == ("br-ü-1", 1_763_740_800.123456, -97.7431234567, 30.2672345678, 8.5,
                       64.0, 1_763_740_801.5, "native")
    assert rows[1] == ("ph-長い-2", 1_763_740_860.0, 179.999999, -89.5, 0.0, None,
                       1_763_740_861.25, "owntracks")
