"""Kiosk credentials: the wall screens of command centres (migration 0017).

A kiosk is not a person: it holds no grant and no role. Its token (``kio_…``) reads exactly one
jurisdiction's wall view (``GET /api/v1/wall/{id}``, that jurisdiction or one below it) and the
wall's live alerts; :mod:`api.auth` refuses it everywhere else. Tokens are stored as SHA-256
digests, like API tokens (:func:`store.accounts.token_digest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from store.accounts import new_token, token_digest

KIOSK_PREFIX = "kio_"


@dataclass(frozen=True, slots=True)
class Kiosk:
    """A live kiosk credential: the jurisdiction whose wall it reads, and whether the agency
    lets it show people's names."""

    id: int
    name: str
    jurisdiction_id: str
    show_names: bool


async def create_kiosk(conn: psycopg.AsyncConnection, jurisdiction_id: str, name: str,
                       show_names: bool, actor: str) -> tuple[int, str]:
    """A new kiosk; returns its id and its token (shown once, never stored)."""
    token = KIOSK_PREFIX + new_token()
    cur = await conn.execute(
        "INSERT INTO kiosks (jurisdiction_id, name, token_hash, show_names, created_by) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (jurisdiction_id, name, token_digest(token), show_names, actor))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), token


async def kiosk_for_token(conn: psycopg.AsyncConnection, token: str) -> Kiosk | None:
    """The live (not revoked) kiosk a token belongs to; None if none."""
    if not token.startswith(KIOSK_PREFIX):
        return None
    cur = await conn.execute(
        "SELECT id, name, jurisdiction_id, show_names FROM kiosks "
        "WHERE token_hash = %s AND revoked_at IS NULL", (token_digest(token),))
    row = await cur.fetchone()
    return Kiosk(int(row[0]), row[1], row[2], bool(row[3])) if row else None


async def kiosk_is_live(conn: psycopg.AsyncConnection, kiosk_id: int) -> bool:
    cur = await conn.execute("SELECT 1 FROM kiosks WHERE id = %s AND revoked_at IS NULL",
                             (kiosk_id,))
    return await cur.fetchone() is not None


async def touch_kiosk(conn: psycopg.AsyncConnection, kiosk_id: int) -> None:
    """Note that the screen was seen (an operator sees which walls are alive)."""
    await conn.execute("UPDATE kiosks SET last_seen_at = now() WHERE id = %s", (kiosk_id,))


async def kiosk(conn: psycopg.AsyncConnection, kiosk_id: int) -> dict[str, Any] | None:
    rows = await _kiosks(conn, "WHERE id = %s", (kiosk_id,))
    return rows[0] if rows else None


async def kiosks(conn: psycopg.AsyncConnection, within: list[str]) -> list[dict[str, Any]]:
    """Every kiosk (live or revoked) of those jurisdictions."""
    return await _kiosks(conn, "WHERE jurisdiction_id = ANY(%s)", (within,))


async def _kiosks(conn: psycopg.AsyncConnection, where: str, params: tuple[Any, ...]
                  ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, name, jurisdiction_id, show_names, created_by, "
        "extract(epoch FROM created_at)::float8, extract(epoch FROM revoked_at)::float8, "
        f"extract(epoch FROM last_seen_at)::float8 FROM kiosks {where} ORDER BY id", params)
    return [{"id": r[0], "name": r[1], "jurisdiction_id": r[2], "show_names": r[3],
             "created_by": r[4], "created_at": r[5], "revoked_at": r[6], "last_seen_at": r[7]}
            for r in await cur.fetchall()]


async def revoke_kiosk(conn: psycopg.AsyncConnection, kiosk_id: int, actor: str) -> bool:
    cur = await conn.execute(
        "UPDATE kiosks SET revoked_at = now(), revoked_by = %s "
        "WHERE id = %s AND revoked_at IS NULL", (actor, kiosk_id))
    return cur.rowcount > 0
