"""Accounts: users, their grants on jurisdictions, refresh and API tokens, failed sign-ins.

A grant gives a role on a jurisdiction *and everything below it* in the tree (province › city ›
county › township, any depth). Where grants overlap, the highest role holds. Tokens are stored
only as SHA-256 digests: a database dump signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

ROLES = ("officer", "supervisor", "admin")  # in rising order of power
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}


class AccountError(ValueError):
    """A change to accounts that cannot be made (unknown user, duplicate name, bad role)."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    password_hash: str
    disabled: bool
    auth_version: int = 0  # moves whenever what its sessions may do does (migration 0006)


@dataclass(frozen=True, slots=True)
class Grant:
    jurisdiction_id: str
    role: str


def token_digest(token: str) -> str:
    """What is stored of a token.

    >>> len(token_digest("abc")), token_digest("abc") == token_digest("abc")
    (64, True)
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def create_user(conn: psycopg.AsyncConnection, username: str, password_hash: str,
                      display_name: str = "") -> int:
    try:
        cur = await conn.execute(
            "INSERT INTO users (username, password_hash, display_name) VALUES (%s, %s, %s) "
            "RETURNING id", (username, password_hash, display_name))
    except psycopg.errors.UniqueViolation:
        raise AccountError(f"a user named {username!r} already exists") from None
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def upsert_user(conn: psycopg.AsyncConnection, username: str, password_hash: str,
                      display_name: str = "") -> int:
    """Create the user, or set the password of an existing one (the demo account)."""
    cur = await conn.execute(
        "INSERT INTO users (username, password_hash, display_name) VALUES (%s, %s, %s) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, "
        "display_name = excluded.display_name, disabled = false RETURNING id",
        (username, password_hash, display_name))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def user_by_name(conn: psycopg.AsyncConnection, username: str) -> User | None:
    cur = await conn.execute(
        "SELECT id, username, display_name, password_hash, disabled, auth_version FROM users "
        "WHERE username = %s", (username,))
    row = await cur.fetchone()
    return User(*row) if row else None


async def user_by_id(conn: psycopg.AsyncConnection, user_id: int) -> User | None:
    cur = await conn.execute(
        "SELECT id, username, display_name, password_hash, disabled, auth_version FROM users "
        "WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return User(*row) if row else None


async def auth_versions(conn: psycopg.AsyncConnection, user_ids: list[int]) -> dict[int, int]:
    """The auth version of each of these users that still exists."""
    cur = await conn.execute("SELECT id, auth_version FROM users WHERE id = ANY(%s)",
                             (user_ids,))
    return {int(r[0]): int(r[1]) for r in await cur.fetchall()}


async def lock_user(conn: psycopg.AsyncConnection, user_id: int) -> User | None:
    """The user, its row locked until the transaction ends: a change to its grants made
    meanwhile by another admin waits, so what was checked still holds when it is written."""
    cur = await conn.execute(
        "SELECT id, username, display_name, password_hash, disabled, auth_version FROM users "
        "WHERE id = %s FOR UPDATE", (user_id,))
    row = await cur.fetchone()
    return User(*row) if row else None


async def set_password(conn: psycopg.AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s",
                       (password_hash, user_id))


async def set_disabled(conn: psycopg.AsyncConnection, user_id: int, disabled: bool) -> None:
    await conn.execute("UPDATE users SET disabled = %s WHERE id = %s", (disabled, user_id))


async def grant(conn: psycopg.AsyncConnection, user_id: int, jurisdiction_id: str,
                role: str) -> None:
    if role not in ROLE_RANK:
        raise AccountError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    try:
        await conn.execute(
            "INSERT INTO grants (user_id, jurisdiction_id, role) VALUES (%s, %s, %s) "
            "ON CONFLICT (user_id, jurisdiction_id) DO UPDATE SET role = excluded.role",
            (user_id, jurisdiction_id, role))
    except psycopg.errors.ForeignKeyViolation:
        raise AccountError(f"no jurisdiction {jurisdiction_id!r}") from None


async def revoke_grant(conn: psycopg.AsyncConnection, user_id: int,
                       jurisdiction_id: str) -> bool:
    cur = await conn.execute("DELETE FROM grants WHERE user_id = %s AND jurisdiction_id = %s",
                             (user_id, jurisdiction_id))
    return cur.rowcount > 0


async def grants_of(conn: psycopg.AsyncConnection, user_id: int) -> list[Grant]:
    cur = await conn.execute(
        "SELECT jurisdiction_id, role FROM grants WHERE user_id = %s ORDER BY jurisdiction_id",
        (user_id,))
    return [Grant(*r) for r in await cur.fetchall()]


async def reach_of(conn: psycopg.AsyncConnection, user_id: int) -> dict[str, str]:
    """Every jurisdiction a user may see, with the highest role they hold on it (granted on it
    or on any jurisdiction above it)."""
    cur = await conn.execute(
        "WITH RECURSIVE below (id, role) AS ("
        " SELECT jurisdiction_id, role FROM grants WHERE user_id = %s"
        " UNION"
        " SELECT j.id, b.role FROM jurisdictions j JOIN below b ON j.parent_id = b.id"
        ") SELECT id, role FROM below", (user_id,))
    reach: dict[str, str] = {}
    for jid, role in await cur.fetchall():
        if jid not in reach or ROLE_RANK[role] > ROLE_RANK[reach[jid]]:
            reach[jid] = role
    return reach


async def list_users(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT u.id, u.username, u.display_name, u.disabled, "
        "coalesce(json_agg(json_build_object('jurisdiction_id', g.jurisdiction_id, "
        "'role', g.role) ORDER BY g.jurisdiction_id) FILTER (WHERE g.user_id IS NOT NULL), "
        "'[]') FROM users u LEFT JOIN grants g ON g.user_id = u.id "
        "GROUP BY u.id ORDER BY u.username")
    return [{"id": r[0], "username": r[1], "display_name": r[2], "disabled": r[3],
             "grants": r[4]} for r in await cur.fetchall()]


# --- tokens -----------------------------------------------------------------------------------


async def store_refresh_token(conn: psycopg.AsyncConnection, user_id: int,
                              ttl_s: float) -> str:
    token = new_token()
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, user_id, expires_at) "
        "VALUES (%s, %s, now() + make_interval(secs => %s))",
        (token_digest(token), user_id, ttl_s))
    return token


async def use_refresh_token(conn: psycopg.AsyncConnection, token: str) -> int | None:
    """The user a refresh token speaks for, spending it (each is good once); None if it is
    unknown, spent or expired."""
    cur = await conn.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = %s AND used_at IS NULL "
        "AND expires_at > now() RETURNING user_id", (token_digest(token),))
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def create_api_token(conn: psycopg.AsyncConnection, user_id: int, name: str,
                           ttl_s: float | None) -> tuple[int, str]:
    token = "cdn_" + new_token()
    cur = await conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, expires_at) VALUES (%s, %s, %s, "
        "CASE WHEN %s::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => %s) END) "
        "RETURNING id", (user_id, name, token_digest(token), ttl_s, ttl_s))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), token


async def api_token_user(conn: psycopg.AsyncConnection, token: str
                         ) -> tuple[int, float | None] | None:
    """The user a live API token acts for, and when it expires (seconds since the epoch; None:
    never); None if it is unknown, revoked or expired."""
    cur = await conn.execute(
        "SELECT user_id, extract(epoch FROM expires_at)::float8 FROM api_tokens "
        "WHERE token_hash = %s AND revoked_at IS NULL "
        "AND (expires_at IS NULL OR expires_at > now())", (token_digest(token),))
    row = await cur.fetchone()
    return (int(row[0]), row[1]) if row else None


async def list_api_tokens(conn: psycopg.AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, name, created_at, expires_at, revoked_at FROM api_tokens "
        "WHERE user_id = %s ORDER BY id", (user_id,))
    return [{"id": r[0], "name": r[1], "created_at": r[2].isoformat(),
             "expires_at": r[3].isoformat() if r[3] else None,
             "revoked_at": r[4].isoformat() if r[4] else None} for r in await cur.fetchall()]


async def revoke_api_token(conn: psycopg.AsyncConnection, user_id: int, token_id: int) -> bool:
    cur = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND user_id = %s "
        "AND revoked_at IS NULL", (token_id, user_id))
    return cur.rowcount > 0


# --- throttling and secrets -------------------------------------------------------------------


async def record_sign_in(conn: psycopg.AsyncConnection, user_id: int) -> None:
    """A password sign-in now: the last one becomes the previous one (migration 0013)."""
    await conn.execute(
        "UPDATE users SET previous_sign_in_at = signed_in_at, signed_in_at = now() "
        "WHERE id = %s", (user_id,))


async def previous_sign_in(conn: psycopg.AsyncConnection, user_id: int) -> datetime | None:
    """The sign-in before the latest one (None for a first sign-in)."""
    cur = await conn.execute("SELECT previous_sign_in_at FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return row[0] if row else None


async def recent_failures(conn: psycopg.AsyncConnection, username: str, window_s: float) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM login_failures WHERE username = %s "
        "AND at > now() - make_interval(secs => %s)", (username, window_s))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def record_failure(conn: psycopg.AsyncConnection, username: str) -> None:
    await conn.execute("INSERT INTO login_failures (username) VALUES (%s)", (username,))


async def clear_failures(conn: psycopg.AsyncConnection, username: str) -> None:
    await conn.execute("DELETE FROM login_failures WHERE username = %s", (username,))


async def shared_secret(conn: psycopg.AsyncConnection, name: str, size: int = 32) -> bytes:
    """A secret every engine process shares, made at first use."""
    await conn.execute(
        "INSERT INTO server_secrets (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (name, secrets.token_bytes(size)))
    cur = await conn.execute("SELECT value FROM server_secrets WHERE name = %s", (name,))
    row = await cur.fetchone()
    assert row is not None
    return bytes(row[0])
