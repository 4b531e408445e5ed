"""Connecting to PostgreSQL and bringing its schema up to date.

Migrations are the numbered ``store/migrations/NNNN_name.sql`` files, applied in order, each in
its own transaction, under an advisory lock so that several engine processes starting together
apply each one once. ``fixes`` becomes a TimescaleDB hypertable when the extension can be loaded;
otherwise it stays a plain table and every query works the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x0C0D0


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    version: int
    timescaledb: str | None  # extension version, or None on plain PostgreSQL


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped, in order."""
    out = []
    for entry in resources.files("store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text()))
    return sorted(out)


async def migrate(url: str, fix_chunk_interval: str = "1 day") -> SchemaInfo:
    """Apply pending migrations and set up TimescaleDB where available. Idempotent."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            applied = {r[0] for r in await cur.fetchall()}
            current = max(applied, default=0)
            # Every migration not yet applied, in order — also one numbered below the newest
            # applied (made on a branch that merged after a later number had been applied).
            for version, name, sql in migrations():
                if version in applied:
                    continue
                log.info("applying migration %s", name)
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                current = max(current, version)
            tsdb = await _ensure_hypertable(conn, fix_chunk_interval)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return SchemaInfo(current, tsdb)


async def _ensure_hypertable(conn: psycopg.AsyncConnection, chunk_interval: str) -> str | None:
    cur = await conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    if await cur.fetchone() is None:
        log.info("TimescaleDB not installed: fixes stay in a plain PostgreSQL table")
        return None
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        log.warning(
            "TimescaleDB is installed but cannot be loaded (%s); add "
            "shared_preload_libraries = 'timescaledb' to postgresql.conf. Using a plain table.",
            str(exc).strip().splitlines()[0],
        )
        return None
    await conn.execute(
        "SELECT create_hypertable('fixes', 'ts', chunk_time_interval => %s::interval,"
        " if_not_exists => true, migrate_data => true,"
        " create_default_indexes => false)",  # see migration 0003
        (chunk_interval,),
    )
    cur = await conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    return (await cur.fetchone())[0]


async def is_hypertable(conn: psycopg.AsyncConnection, table: str) -> bool:
    cur = await conn.execute(
        "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
    )
    if (await cur.fetchone())[0] == 0:
        return False
    cur = await conn.execute(
        "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = %s",
        (table,),
    )
    return (await cur.fetchone())[0] > 0
