"""The audit trail: who read whose positions, who did what to an alert or an account.

Append-only: the table refuses updates and deletes (a trigger, see migration 0005), and the API
offers no way to change it. Entries are written in the same transaction as what they record
where there is one, so a recorded action and its entry stand or fall together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg


async def record(conn: psycopg.AsyncConnection, actor: str, action: str, subject: str,
                 detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, subject, detail) VALUES (%s, %s, %s, %s)",
        (actor, action, subject, orjson.dumps(detail or {}).decode()))


async def entries(conn: psycopg.AsyncConnection, *, actor: str | None = None,
                  action: str | None = None, subject: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = 200, jurisdictions: Sequence[str] | None = None
                  ) -> list[dict[str, Any]]:
    """Newest first, filtered by whichever of the arguments are given; ``jurisdictions``:
    only entries about those (``detail.jurisdiction_id``) and entries about no jurisdiction
    (sign-ins, accounts)."""
    cur = await conn.execute(
        "SELECT id, at, actor, action, subject, detail FROM audit_log "
        "WHERE (%(actor)s::text IS NULL OR actor = %(actor)s) "
        "AND (%(action)s::text IS NULL OR action = %(action)s) "
        "AND (%(subject)s::text IS NULL OR subject = %(subject)s) "
        "AND (%(since)s::timestamptz IS NULL OR at >= %(since)s) "
        "AND (%(until)s::timestamptz IS NULL OR at < %(until)s) "
        "AND (%(jur)s::text[] IS NULL OR NOT detail ? 'jurisdiction_id' "
        "     OR detail->>'jurisdiction_id' = ANY(%(jur)s)) "
        "ORDER BY id DESC LIMIT %(limit)s",
        {"actor": actor, "action": action, "subject": subject, "since": since, "until": until,
         "limit": limit, "jur": list(jurisdictions) if jurisdictions is not None else None})
    return [{"id": r[0], "at": r[1].isoformat(), "actor": r[2], "action": r[3],
             "subject": r[4], "detail": r[5]} for r in await cur.fetchall()]
