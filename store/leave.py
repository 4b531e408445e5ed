"""Leave (外出请假) and standing permits: the requests, their approval by the level their length
requires, the return (销假), and the windows the engine reads from them.

A **leave** lets a person out of their county for a while, to a destination (a zone); a
**permit** does the same for regular cross-county travel (work in the next county) for up to
``permit_max_days``. Who approves depends on the length (:class:`LeaveLimits`): up to
``township_max_days`` the person's township office, up to ``county_max_days`` the county, longer
the next level up — a supervisor (or admin) of the person's jurisdiction chain at that level
(:func:`approving_jurisdiction`). Statuses: ``requested`` → ``approved`` | ``refused`` |
``cancelled``; ``approved`` → ``cancelled`` (before it starts) | ``returned`` (销假, once it has
started).

The engine reads approved and returned leaves as :class:`~alerts.suppressions.Suppression`
windows with :class:`~alerts.suppressions.LeaveTerms` (:func:`read_leave_windows`, called by
:mod:`store.registry` and :mod:`store.registry_changes`): the county line (``inclusion_exit``)
does not apply inside the window — nor, for a leave, the curfew at home — and
:mod:`alerts.rules.leave_overdue` makes the destination bind and raises ``leave_overdue``.

Travel (a choice): the route between the county and the destination is unknown, so the county
line is suspended for the whole window while the destination binds only from ``travel_s`` after
the start until ``travel_s`` before the end — the person travels out and back unwatched by
either zone, and must be at the destination in between. A permit has no travel allowance: its
destination (draw the route into it, a corridor, when it is not next to the county) binds for
the whole window together with the county — the person may be in either.

Every function runs in the caller's transaction, which also writes the audit entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.suppressions import LeaveTerms, Suppression
from geofence.zones import Zone

KINDS = ("leave", "permit")
STATUSES = ("requested", "approved", "refused", "cancelled", "returned")
# Jurisdiction levels, highest first; a level approves everything below it too.
LEVELS = ("province", "city", "county", "township")
PERMIT_KINDS = frozenset({"inclusion_exit"})  # a permit lifts the county line, not the curfew


@dataclass(frozen=True, slots=True)
class LeaveLimits:
    """The settings of leave (``cordon.settings``: ``leave_township_max_days``, …)."""

    township_max_days: float = 7.0
    county_max_days: float = 30.0
    permit_max_days: float = 183.0
    travel_hours: float = 12.0

    def level_for(self, days: float) -> str:
        """The level that approves a leave of this many days.

        >>> LeaveLimits().level_for(7), LeaveLimits().level_for(10), LeaveLimits().level_for(31)
        ('township', 'county', 'city')
        """
        if days <= self.township_max_days + 1e-9:
            return "township"
        if days <= self.county_max_days + 1e-9:
            return "county"
        return "city"

    def default_travel_s(self, window_s: float) -> float:
        """A leave's travel allowance each way when the request names none: the setting, at
        most a quarter of the window (a day trip still spends half of it at the destination).

        >>> LeaveLimits().default_travel_s(86400.0 * 5), LeaveLimits().default_travel_s(3600.0)
        (43200.0, 900.0)
        """
        return min(self.travel_hours * 3600.0, window_s / 4)


def binding(kind: str, starts_at: float, ends_at: float, travel_s: float,
            returned_at: float | None = None) -> tuple[float, float]:
    """When the destination binds: a leave's window less the travel each way, a permit's whole
    window; a return (销假) ends it.

    >>> binding("leave", 0.0, 100.0, 10.0), binding("permit", 0.0, 100.0, 10.0)
    ((10.0, 90.0), (0.0, 100.0))
    """
    start, end = (starts_at, ends_at) if kind == "permit" else (starts_at + travel_s,
                                                                ends_at - travel_s)
    if returned_at is not None:
        end = min(end, returned_at)
    return start, max(start, end)


async def jurisdiction_chain(conn: psycopg.AsyncConnection, jurisdiction_id: str
                             ) -> list[tuple[str, str]]:
    """(id, kind) of the jurisdiction and each one above it, nearest first."""
    cur = await conn.execute(
        "WITH RECURSIVE up (id, kind, parent_id, depth) AS ("
        " SELECT id, kind, parent_id, 0 FROM jurisdictions WHERE id = %s"
        " UNION ALL SELECT j.id, j.kind, j.parent_id, u.depth + 1 FROM jurisdictions j"
        " JOIN up u ON j.id = u.parent_id WHERE u.depth < 64"
        ") SELECT id, kind FROM up ORDER BY depth", (jurisdiction_id,))
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def subtree(conn: psycopg.AsyncConnection, jurisdiction_id: str) -> set[str]:
    """The jurisdiction and every one below it."""
    cur = await conn.execute(
        "WITH RECURSIVE down (id, depth) AS (SELECT id, 0 FROM jurisdictions WHERE id = %s"
        " UNION ALL SELECT j.id, d.depth + 1 FROM jurisdictions j JOIN down d"
        " ON j.parent_id = d.id WHERE d.depth < 64) SELECT id FROM down", (jurisdiction_id,))
    return {r[0] for r in await cur.fetchall()}


def approving_jurisdiction(chain: list[tuple[str, str]], level: str) -> str:
    """The jurisdiction of the chain (nearest first) that approves at ``level``: the nearest
    whose level is ``level`` or higher (a person registered at a county with no township
    office is approved by the county); the top of the chain when none is.

    >>> chain = [("t", "township"), ("c", "county"), ("p", "province")]
    >>> [approving_jurisdiction(chain, lv) for lv in ("township", "county", "city")]
    ['t', 'c', 'p']
    """
    rank = LEVELS.index(level)
    for jid, kind in chain:
        if kind in LEVELS and LEVELS.index(kind) <= rank:
            return jid
    return chain[-1][0]


async def store_area(conn: psycopg.AsyncConnection, zone: Zone) -> None:
    """The destination given as an area, stored as an inclusion zone of its own."""
    await conn.execute(
        "INSERT INTO zones (id, name, kind, jurisdiction_id, feature) VALUES (%s, %s, %s, %s, %s)",
        (zone.id, zone.name, zone.kind, zone.jurisdiction_id, Jsonb(zone.to_feature())))


async def next_id(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("SELECT nextval(pg_get_serial_sequence('leaves', 'id'))")
    return (await cur.fetchone())[0]


async def insert_leave(conn: psycopg.AsyncConnection, leave_id: int, supervisee_id: str,
                       kind: str, destination_zone_id: str, destination_made: bool,
                       starts_at: float, ends_at: float, travel_s: float, reason: str,
                       approval_level: str, approval_jurisdiction_id: str, actor: str) -> None:
    await conn.execute(
        "INSERT INTO leaves (id, supervisee_id, kind, destination_zone_id, destination_made, "
        "starts_at, ends_at, travel_s, reason, approval_level, approval_jurisdiction_id, "
        "requested_by) VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s, "
        "%s, %s, %s)",
        (leave_id, supervisee_id, kind, destination_zone_id, destination_made, starts_at,
         ends_at, travel_s, reason, approval_level, approval_jurisdiction_id, actor))


async def overlapping(conn: psycopg.AsyncConnection, supervisee_id: str, starts_at: float,
                      ends_at: float, but: int | None = None) -> int | None:
    """A requested or approved leave of the person whose window overlaps this one."""
    cur = await conn.execute(
        "SELECT id FROM leaves WHERE supervisee_id = %s AND status IN ('requested', 'approved') "
        "AND starts_at < to_timestamp(%s) AND ends_at > to_timestamp(%s) "
        "AND id IS DISTINCT FROM %s ORDER BY id LIMIT 1",
        (supervisee_id, ends_at, starts_at, but))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def decide(conn: psycopg.AsyncConnection, leave_id: int, status: str, actor: str,
                 note: str | None) -> None:
    """Approve or refuse."""
    await conn.execute("UPDATE leaves SET status = %s, decided_by = %s, decided_at = now(), "
                       "decision_note = %s WHERE id = %s", (status, actor, note, leave_id))


async def close(conn: psycopg.AsyncConnection, leave_id: int, status: str, actor: str,
                note: str | None) -> None:
    """Cancel, or record the return (销假)."""
    await conn.execute("UPDATE leaves SET status = %s, closed_by = %s, closed_at = now(), "
                       "close_note = %s WHERE id = %s", (status, actor, note, leave_id))


_LEAVE = (
    "SELECT l.id, l.supervisee_id, s.name, s.jurisdiction_id, l.kind, l.status, "
    "l.destination_zone_id, l.destination_made, extract(epoch FROM l.starts_at)::float8, "
    "extract(epoch FROM l.ends_at)::float8, l.travel_s, l.reason, l.approval_level, "
    "l.approval_jurisdiction_id, l.requested_by, extract(epoch FROM l.requested_at)::float8, "
    "l.decided_by, extract(epoch FROM l.decided_at)::float8, l.decision_note, l.closed_by, "
    "extract(epoch FROM l.closed_at)::float8, l.close_note, "
    "extract(epoch FROM now())::float8 "
    "FROM leaves l JOIN supervisees s ON s.id = l.supervisee_id "
)


def _leave(r: tuple) -> dict[str, Any]:
    kind, status, start, end, travel = r[4], r[5], r[8], r[9], r[10]
    closed_at, now = r[20], r[22]
    returned_at = closed_at if status == "returned" else None
    binds_from, binds_until = binding(kind, start, end, travel, returned_at)
    return {"id": r[0], "supervisee_id": r[1], "supervisee_name": r[2], "jurisdiction_id": r[3],
            "kind": kind, "status": status, "destination_zone_id": r[6],
            "destination_made": r[7], "starts_at": start, "ends_at": end, "travel_s": travel,
            "binds_from": binds_from, "binds_until": binds_until, "reason": r[11],
            "approval_level": r[12], "approval_jurisdiction_id": r[13], "requested_by": r[14],
            "requested_at": r[15], "decided_by": r[16], "decided_at": r[17],
            "decision_note": r[18], "closed_by": r[19], "closed_at": closed_at,
            "close_note": r[21],
            "in_force": status == "approved" and start <= now < end,
            "overdue": status == "approved" and now >= end}


async def leave(conn: psycopg.AsyncConnection, leave_id: int, *, lock: bool = False
                ) -> dict[str, Any] | None:
    cur = await conn.execute(_LEAVE + "WHERE l.id = %s" + (" FOR UPDATE OF l" if lock else ""),
                             (leave_id,))
    row = await cur.fetchone()
    return _leave(row) if row else None


async def leaves(conn: psycopg.AsyncConnection, within: list[str], *,
                 supervisee_id: str | None = None, status: str | None = None,
                 limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    """Leaves of the supervisees of those jurisdictions (or of one person), newest start
    first; ``status``: only those."""
    cur = await conn.execute(
        _LEAVE + "WHERE s.jurisdiction_id = ANY(%s) "
        "AND (%s::text IS NULL OR l.supervisee_id = %s) AND (%s::text IS NULL OR l.status = %s) "
        "ORDER BY l.starts_at DESC, l.id DESC LIMIT %s OFFSET %s",
        (within, supervisee_id, supervisee_id, status, status, limit, offset))
    return [_leave(r) for r in await cur.fetchall()]


async def read_leave_windows(conn: psycopg.AsyncConnection,
                             where: tuple[str, tuple[Any, ...]] = ("", ())
                             ) -> list[Suppression]:
    """Approved and returned leaves as the engine's windows (``where``: a condition on
    ``supervisee_id``, as :mod:`store.registry` narrows its reads). A returned leave's window
    ends at the return; those over for more than a day are left out, as suppressions are."""
    cur = await conn.execute(
        "SELECT id, supervisee_id, kind, status, destination_zone_id, "
        "extract(epoch FROM starts_at)::float8, extract(epoch FROM ends_at)::float8, travel_s, "
        "extract(epoch FROM closed_at)::float8 FROM leaves "
        "WHERE (status = 'approved' OR (status = 'returned' AND closed_at > starts_at)) "
        "AND least(ends_at, coalesce(closed_at, ends_at)) > now() - interval '1 day' "
        f"{where[0]} ORDER BY supervisee_id, starts_at, id", where[1])
    out = []
    for lid, sid, kind, status, dest, start, end, travel, closed_at in await cur.fetchall():
        returned_at = closed_at if status == "returned" else None
        window_end = end if returned_at is None else min(end, returned_at)
        if not window_end > start or not math.isfinite(window_end):
            continue
        binds_from, binds_until = binding(kind, start, end, travel, returned_at)
        out.append(Suppression(
            sid, start, window_end, "leave", PERMIT_KINDS if kind == "permit" else None,
            LeaveTerms(lid, dest, binds_from, binds_until, kind == "permit",
                       returned_at is not None)))
    return out
