"""What changed in a caseload after a moment (the console's "since you last looked"): alerts
raised, escalated, resolved by someone else and cleared; people enrolled and released;
positioning orders ending soon or ended. Each list newest first and capped, with full counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

CAP = 50


async def alert_steps(conn: psycopg.AsyncConnection, within: Sequence[str], since: datetime,
                      me: str) -> dict[str, Any]:
    """``opened``, ``escalated``, ``cleared`` and ``resolved`` (by others than ``me``) steps on
    the alerts of people in those jurisdictions, each a count and the newest :data:`CAP`."""
    cur = await conn.execute(
        "WITH steps AS ("
        " SELECT e.action, e.at, e.actor, e.note, a.id, a.kind, a.severity, a.status,"
        "  a.supervisee_id, s.name,"
        "  row_number() OVER (PARTITION BY e.action ORDER BY e.at DESC, e.id DESC) AS n,"
        "  count(*) OVER (PARTITION BY e.action) AS total"
        " FROM alert_events e JOIN alerts a ON a.id = e.alert_id"
        " JOIN supervisees s ON s.id = a.supervisee_id"
        " WHERE e.at >= %(since)s AND s.jurisdiction_id = ANY(%(within)s)"
        " AND (e.action IN ('opened', 'escalated', 'cleared')"
        "      OR (e.action = 'resolved' AND e.actor <> %(me)s))"
        ") SELECT action, at, actor, id, kind, severity, status, supervisee_id, name, total"
        " FROM steps WHERE n <= %(cap)s ORDER BY action, at DESC",
        {"since": since, "within": list(within), "me": me, "cap": CAP})
    out: dict[str, Any] = {k: {"count": 0, "alerts": []}
                           for k in ("opened", "escalated", "resolved", "cleared")}
    for action, at, actor, aid, kind, severity, status, sid, name, total in await cur.fetchall():
        out[action]["count"] = int(total)
        out[action]["alerts"].append({
            "id": aid, "kind": kind, "severity": severity, "status": status,
            "supervisee_id": sid, "supervisee_name": name, "at": at.timestamp(), "by": actor})
    return out


async def people(conn: psycopg.AsyncConnection, within: Sequence[str],
                 since: datetime) -> dict[str, Any]:
    """``enrolled`` (from the audit trail) and ``released`` since then, still in reach."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (l.subject) l.subject, s.name, l.at, l.actor FROM audit_log l "
        "JOIN supervisees s ON s.id = l.subject "
        "WHERE l.action = 'supervisee.enrolled' AND l.at >= %s AND s.jurisdiction_id = ANY(%s) "
        "ORDER BY l.subject, l.at DESC", (since, list(within)))
    enrolled = sorted(({"id": r[0], "name": r[1], "at": r[2].timestamp(), "by": r[3]}
                       for r in await cur.fetchall()), key=lambda p: -p["at"])
    cur = await conn.execute(
        "SELECT id, name, released_at, released_by FROM supervisees "
        "WHERE released_at >= %s AND jurisdiction_id = ANY(%s) ORDER BY released_at DESC",
        (since, list(within)))
    released = [{"id": r[0], "name": r[1], "at": r[2].timestamp(), "by": r[3]}
                for r in await cur.fetchall()]
    return {"enrolled": enrolled[:CAP], "enrolled_count": len(enrolled),
            "released": released[:CAP], "released_count": len(released)}


async def orders_ending(conn: psycopg.AsyncConnection, within: Sequence[str], since: datetime,
                        now: datetime, ahead: timedelta) -> list[dict[str, Any]]:
    """Positioning orders that ended since then, or end within ``ahead``, not renewed and not
    removed, of people still supervised: soonest first."""
    cur = await conn.execute(
        "SELECT o.id, o.supervisee_id, s.name, o.ends_at FROM positioning_orders o "
        "JOIN supervisees s ON s.id = o.supervisee_id "
        "WHERE s.jurisdiction_id = ANY(%s) AND s.released_at IS NULL AND o.removed_at IS NULL "
        "AND o.ends_at >= %s AND o.ends_at < %s "
        "AND NOT EXISTS (SELECT 1 FROM positioning_orders r WHERE r.renews = o.id "
        "                AND r.removed_at IS NULL) "
        "ORDER BY o.ends_at LIMIT %s", (list(within), since, now + ahead, CAP))
    return [{"id": r[0], "supervisee_id": r[1], "supervisee_name": r[2],
             "ends_at": r[3].timestamp(), "ended": r[3] <= now} for r in await cur.fetchall()]
