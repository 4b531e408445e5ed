"""Alerts and their history."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from alerts.episodes import AlertChange, EpisodeKey
from alerts.lifecycle import LIVE, Action, Status, next_status


class AlertNotFound(LookupError):
    """No alert has that id."""

_ALERT_COLUMNS = (
    "a.id, a.kind, a.severity, a.status, a.supervisee_id, a.device_id, a.subject, "
    "extract(epoch FROM a.started_at)::float8, extract(epoch FROM a.ended_at)::float8, "
    "a.lon, a.lat, coalesce(z.name, a.subject), extract(epoch FROM a.raised_at)::float8, "
    "extract(epoch FROM a.escalated_at)::float8, s.jurisdiction_id"
)
_ALERTS_FROM = ("alerts a JOIN supervisees s ON s.id = a.supervisee_id "
                "LEFT JOIN zones z ON z.id = a.subject")


def _row(r: tuple) -> dict[str, Any]:
    return {
        "id": r[0],
        "kind": r[1],
        "severity": r[2],
        "status": r[3],
        "supervisee_id": r[4],
        "device_id": r[5],
        "subject": r[6],
        "started_at": r[7],
        "ended_at": r[8],
        "lon": r[9],
        "lat": r[10],
        "subject_name": r[11],
        "raised_at": r[12],
        "escalated_at": r[13],
        "jurisdiction_id": r[14],
    }


async def supervisee_names(conn: psycopg.AsyncConnection, ids: Iterable[str]
                           ) -> dict[str, str]:
    """The names of these supervisees, for the live feed of their alerts (the engine's
    registry holds no names: a million of them were 60 bytes a person, read for alerts only)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    cur = await conn.execute("SELECT id, name FROM supervisees WHERE id = ANY(%s)", (wanted,))
    return {r[0]: r[1] for r in await cur.fetchall()}


async def apply_change(conn: psycopg.AsyncConnection, change: AlertChange,
                       now: float | None = None) -> int:
    """Record an opened or cleared episode; return the alert's id. ``now``: the engine's clock
    (default: the wall clock), stored as when the alert was raised."""
    at = datetime.fromtimestamp(change.at, UTC)
    raised = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    if change.action == "opened":
        cur = await conn.execute(
            "INSERT INTO alerts (kind, severity, status, supervisee_id, device_id, subject,"
            " started_at, lon, lat, raised_at) VALUES (%s, %s, 'open', %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (
                change.key.kind,
                change.severity,
                change.key.supervisee_id,
                change.device_id,
                change.key.subject,
                at,
                None if math.isnan(change.lon) else change.lon,
                None if math.isnan(change.lat) else change.lat,
                raised,
            ),
        )
        alert_id = (await cur.fetchone())[0]
    else:
        cur = await conn.execute(
            "UPDATE alerts SET status = 'cleared', ended_at = %s, updated_at = now() "
            "WHERE supervisee_id = %s AND subject = %s AND kind = %s "
            "AND status IN ('open', 'acknowledged') RETURNING id",
            (at, change.key.supervisee_id, change.key.subject, change.key.kind),
        )
        row = await cur.fetchone()
        if row is None:  # already resolved by a person: the episode ends without a new event
            return change.alert_id or 0
        alert_id = row[0]
    await conn.execute(
        "INSERT INTO alert_events (alert_id, action, actor) VALUES (%s, %s, 'engine')",
        (alert_id, change.action),
    )
    return alert_id


async def live_episodes(conn: psycopg.AsyncConnection) -> list[tuple[EpisodeKey, int]]:
    """Episodes whose alert is still live (open or acknowledged), to rebuild state at start."""
    cur = await conn.execute(
        "SELECT supervisee_id, subject, kind, id FROM alerts "
        "WHERE status IN ('open', 'acknowledged')"
    )
    return [(EpisodeKey(r[0], r[1], r[2]), r[3]) for r in await cur.fetchall()]


async def list_alerts(
    conn: psycopg.AsyncConnection,
    status: str | None = None,
    limit: int = 200,
    *,
    jurisdictions: Sequence[str] | None = None,
    kind: str | None = None,
    supervisee_id: str | None = None,
    after_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``status`` one of the lifecycle's, or ``live`` (open or acknowledged);
    ``jurisdictions``: only alerts of supervisees there (None: everywhere); ``after_id``: only
    alerts newer than that id, oldest first (what a live client missed)."""
    statuses = (sorted(s.value for s in LIVE) if status == "live" else [status]) if status \
        else None
    cur = await conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM {_ALERTS_FROM} "
        "WHERE (%(statuses)s::text[] IS NULL OR a.status = ANY(%(statuses)s)) "
        "AND (%(jur)s::text[] IS NULL OR s.jurisdiction_id = ANY(%(jur)s)) "
        "AND (%(kind)s::text IS NULL OR a.kind = %(kind)s) "
        "AND (%(sup)s::text IS NULL OR a.supervisee_id = %(sup)s) "
        "AND (%(after)s::bigint IS NULL OR a.id > %(after)s) "
        + ("ORDER BY a.id LIMIT %(limit)s" if after_id is not None
           else "ORDER BY a.started_at DESC, a.id DESC LIMIT %(limit)s"),
        {"statuses": statuses, "jur": list(jurisdictions) if jurisdictions is not None else None,
         "kind": kind, "sup": supervisee_id, "after": after_id, "limit": limit},
    )
    return [_row(r) for r in await cur.fetchall()]


async def count_live(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM alerts WHERE status IN ('open', 'acknowledged')"
    )
    return (await cur.fetchone())[0]


async def get_alert(conn: psycopg.AsyncConnection, alert_id: int) -> dict[str, Any] | None:
    cur = await conn.execute(f"SELECT {_ALERT_COLUMNS} FROM {_ALERTS_FROM} WHERE a.id = %s",
                             (alert_id,))
    row = await cur.fetchone()
    return _row(row) if row else None


async def act_on_alert(
    conn: psycopg.AsyncConnection,
    alert_id: int,
    action: Action,
    actor: str,
    note: str | None = None,
    *,
    cause: str | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    """A person's step in the lifecycle (see :mod:`alerts.lifecycle`), recorded with who, when,
    the note and, for a resolution, the cause and outcome (codes of :mod:`store.resolutions`,
    checked by the caller); returns the alert as it now is. Run inside the caller's
    transaction: the row is locked, so two officers acting at once are served one after the
    other, and the second sees the first's step (``TransitionRefused``). Raises
    :class:`AlertNotFound`."""
    cur = await conn.execute("SELECT status FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
    row = await cur.fetchone()
    if row is None:
        raise AlertNotFound(f"no alert {alert_id}")
    status = next_status(Status(row[0]), action, note)
    await conn.execute("UPDATE alerts SET status = %s, updated_at = now() WHERE id = %s",
                       (status.value, alert_id))
    await conn.execute(
        "INSERT INTO alert_events (alert_id, action, actor, note, cause, outcome) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (alert_id, action.value, actor, note.strip() if note else None, cause, outcome),
    )
    alert = await get_alert(conn, alert_id)
    assert alert is not None
    return alert


async def alert_history(conn: psycopg.AsyncConnection, alert_id: int) -> list[dict[str, Any]]:
    """Every step of an alert, oldest first: what, who, when, the note, and for a resolution
    its cause and outcome."""
    cur = await conn.execute(
        "SELECT action, actor, extract(epoch FROM at)::float8, note, cause, outcome "
        "FROM alert_events WHERE alert_id = %s ORDER BY at, id",
        (alert_id,),
    )
    return [{"action": r[0], "actor": r[1], "at": r[2], "note": r[3], "cause": r[4],
             "outcome": r[5]} for r in await cur.fetchall()]


ESCALATED_SEVERITY = {"low": "medium", "medium": "high", "high": "critical",
                      "critical": "critical"}


async def escalate_overdue(
    conn: psycopg.AsyncConnection, now: float, after_s: float,
    plans: Sequence[str] = (), others: bool = True,
    supervisees: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Escalate every alert still open (nobody acknowledged it) ``after_s`` seconds after it
    was raised — of people on ``plans`` (with ``others``: of people on none of them, on no
    plan included), and of these ``supervisees`` only (None: all): its severity goes up a
    level, once, and the step is recorded. Returns the escalated alerts. Driven by the
    database, so an engine that restarts escalates what fell due while it was down."""
    when = datetime.fromtimestamp(now, UTC)
    due = datetime.fromtimestamp(now - after_s, UTC)
    case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in ESCALATED_SEVERITY.items())
    where, params = "", [when, due]
    if plans or not others:
        where += ("AND EXISTS (SELECT 1 FROM supervisees s WHERE s.id = alerts.supervisee_id "
                  f"AND {'NOT ' if others else ''}coalesce(s.plan_id, '') = ANY(%s)) ")
        params.append(list(plans))
    if supervisees is not None:
        where += "AND supervisee_id = ANY(%s) "
        params.append(list(supervisees))
    cur = await conn.execute(
        f"UPDATE alerts SET escalated_at = %s, severity = CASE severity {case} ELSE severity END,"
        " updated_at = now() WHERE status = 'open' AND escalated_at IS NULL AND raised_at <= %s "
        f"{where}RETURNING id",
        tuple(params),
    )
    ids = [r[0] for r in await cur.fetchall()]
    if not ids:
        return []
    async with conn.cursor() as c:
        await c.executemany(
            "INSERT INTO alert_events (alert_id, action, actor, at) VALUES (%s, 'escalated', "
            "'engine', %s)", [(i, when) for i in ids])
    cur = await conn.execute(f"SELECT {_ALERT_COLUMNS} FROM {_ALERTS_FROM} WHERE a.id = ANY(%s)",
                             (ids,))
    return [_row(r) for r in await cur.fetchall()]
