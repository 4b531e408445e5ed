"""Leases on the partitions of the device topics, and the heartbeat of the engine processes.

With ``partition_ownership = "leases"`` no setting says which engine process reads which
partition: a process holds a partition while it holds its lease, a row of
``partition_leases`` that it renews every few seconds (:mod:`cordon.leases` runs the loop).
A lease that is not renewed lapses, and another process may then take it. Each function here is
one SQL statement, so it is one atomic step whoever runs it at the same time: two processes
racing for a partition both run :func:`acquire`, the row lock and the ``WHERE`` of
``ON CONFLICT … DO UPDATE`` (evaluated on the newest version of the row, after the lock) let
exactly one of them win.

Every time is the database's clock (``now()``, the start of the statement's transaction: run
each call in a transaction of its own). Hosts' clocks are never compared; a process measures
how long it may go on reading from when it *sent* the renewal, on its own monotonic clock —
the database can only have started the lease's time later than that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import psycopg


class Lease(NamedTuple):
    """A row of ``partition_leases`` as a process sees it (``owner`` None: free)."""

    partition: int
    owner: str | None
    epoch: int
    expires_in_s: float  # by the database's clock; 0 or less: lapsed


async def acquire(conn: psycopg.AsyncConnection, owner: str, partitions: Iterable[int],
                  ttl_s: float) -> dict[int, int]:
    """Take those of ``partitions`` that are free, never leased, or whose lease has lapsed
    (the owner's own lapsed lease included: it stopped reading); {partition: epoch} of those
    taken. A partition someone holds is left alone, and of two processes taking the same
    partition at once exactly one gets it. Rows are taken in partition order, so two
    processes taking several each cannot deadlock."""
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    cur = await conn.execute(
        "INSERT INTO partition_leases AS l (partition, owner, epoch, acquired_at, expires_at) "
        "SELECT k, %(owner)s, 1, now(), now() + make_interval(secs => %(ttl)s) "
        "FROM unnest(%(ks)s::int[]) AS k ORDER BY k "
        "ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner, epoch = l.epoch + 1, "
        "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at "
        "WHERE l.owner IS NULL OR l.expires_at <= now() "
        "RETURNING partition, epoch",
        {"owner": owner, "ttl": ttl_s, "ks": wanted})
    return {k: epoch for k, epoch in await cur.fetchall()}


async def renew(conn: psycopg.AsyncConnection, owner: str, partitions: Iterable[int],
                ttl_s: float) -> set[int]:
    """Extend ``owner``'s leases on ``partitions`` to ``ttl_s`` from now; the partitions whose
    lease was extended. One that lapsed is not (someone may have taken it, or may be about
    to): its reader must stop at once."""
    held = sorted(set(partitions))
    if not held:
        return set()
    cur = await conn.execute(
        "UPDATE partition_leases SET expires_at = now() + make_interval(secs => %s) "
        "WHERE partition = ANY(%s) AND owner = %s AND expires_at > now() RETURNING partition",
        (ttl_s, held, owner))
    return {k for (k,) in await cur.fetchall()}


async def release(conn: psycopg.AsyncConnection, owner: str,
                  partitions: Iterable[int] | None = None) -> set[int]:
    """Give back ``owner``'s leases on ``partitions`` (None: all of them), free for another
    at once; the partitions given back. Call it only once their reading has stopped."""
    cur = await conn.execute(
        "UPDATE partition_leases SET owner = NULL, acquired_at = NULL, expires_at = now() "
        "WHERE owner = %(owner)s AND (%(ks)s::int[] IS NULL OR partition = ANY(%(ks)s)) "
        "RETURNING partition",
        {"owner": owner, "ks": None if partitions is None else sorted(set(partitions))})
    return {k for (k,) in await cur.fetchall()}


async def heartbeat(conn: psycopg.AsyncConnection, owner: str, host: str, pid: int,
                    ttl_s: float) -> dict[str, int]:
    """Say that ``owner`` is alive for ``ttl_s`` more seconds; the engine processes alive
    (``owner`` included) with how many partitions each holds, from which each works out its
    fair share. Heartbeats a day old are deleted on the way."""
    cur = await conn.execute(
        "WITH beat AS ("
        " INSERT INTO engine_members (owner, host, pid, expires_at) "
        " VALUES (%(owner)s, %(host)s, %(pid)s, now() + make_interval(secs => %(ttl)s)) "
        " ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at RETURNING owner), "
        "gone AS (DELETE FROM engine_members WHERE expires_at < now() - interval '1 day') "
        "SELECT o, (SELECT count(*) FROM partition_leases l "
        "           WHERE l.owner = o AND l.expires_at > now())::int "
        "FROM (SELECT owner AS o FROM engine_members "
        "      WHERE expires_at > now() AND owner <> %(owner)s "
        "      UNION ALL SELECT %(owner)s) AS live",
        {"owner": owner, "host": host, "pid": pid, "ttl": ttl_s})
    return dict(await cur.fetchall())


async def leave(conn: psycopg.AsyncConnection, owner: str) -> set[int]:
    """An engine process stopping in good order: its heartbeat ends and every lease it holds
    is given back (call it once its reading has stopped), so that the others take its
    partitions over at once instead of after the leases lapse. The partitions given back."""
    cur = await conn.execute(
        "WITH gone AS (DELETE FROM engine_members WHERE owner = %(owner)s) "
        "UPDATE partition_leases SET owner = NULL, acquired_at = NULL, expires_at = now() "
        "WHERE owner = %(owner)s RETURNING partition",
        {"owner": owner})
    return {k for (k,) in await cur.fetchall()}


async def free_partitions(conn: psycopg.AsyncConnection, partitions: int) -> list[int]:
    """Partitions 0…``partitions``-1 nobody holds: never leased, given back, or lapsed."""
    cur = await conn.execute(
        "SELECT k FROM generate_series(0, %s - 1) AS k "
        "LEFT JOIN partition_leases l ON l.partition = k "
        "WHERE l.partition IS NULL OR l.owner IS NULL OR l.expires_at <= now() ORDER BY k",
        (partitions,))
    return [k for (k,) in await cur.fetchall()]


async def leases(conn: psycopg.AsyncConnection) -> list[Lease]:
    """Every lease row, by partition (what an operator, or a test, asks: who reads what)."""
    cur = await conn.execute(
        "SELECT partition, owner, epoch, extract(epoch FROM expires_at - now())::float8 "
        "FROM partition_leases ORDER BY partition")
    return [Lease(*row) for row in await cur.fetchall()]
