"""Check-ins (信息化核查) in the database: the requests sent to a person's phone, their answers,
and the schedules that make requests on their own (migration 0015).

A request names the phone it was sent to and its window, [requested, deadline]. The answer is
that phone's first fix in the window which reached Cordon by the deadline plus
:data:`~alerts.rules.check_in_missed.ANSWER_GRACE_S` — the rule
(:mod:`alerts.rules.check_in_missed`) decides by the same test — recorded on the row by
:func:`settle` with the distance from the person's home; none by then: ``missed``.
"""

from __future__ import annotations

import logging
import math
from datetime import time
from typing import Any

import psycopg
from shapely.geometry import Point

from alerts.rules.check_in_missed import ANSWER_GRACE_S, KIND, STALE_AFTER_S, CheckIn
from geofence.distance import distance_m
from geofence.zones import Zone, ZoneError

log = logging.getLogger(__name__)

SCHEDULER = "schedule"  # who asked, for a request a schedule made
LOADED_FOR_S = STALE_AFTER_S  # the engine holds the requests decided since then, or not yet

Where = tuple[str, tuple[Any, ...]]


async def read_check_ins(conn: psycopg.AsyncConnection, where: Where = ("", ())
                         ) -> list[CheckIn]:
    """The requests the engine's rule holds (``where`` on ``c.*``): of people still supervised,
    decided lately or still to be, neither answered nor alerted already — so a restart neither
    forgets nor repeats one."""
    cur = await conn.execute(
        "SELECT c.id, c.supervisee_id, c.device_id, extract(epoch FROM c.requested_at)::float8, "
        "extract(epoch FROM c.deadline)::float8 FROM check_ins c "
        "JOIN supervisees s ON s.id = c.supervisee_id "
        "WHERE s.released_at IS NULL AND c.status <> 'answered' "
        "AND c.deadline > now() - make_interval(secs => %s) "
        "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.supervisee_id = c.supervisee_id "
        "                AND a.kind = %s AND a.subject = 'check-in ' || c.id) "
        f"{where[0]} ORDER BY c.supervisee_id, c.id", (LOADED_FOR_S, KIND, *where[1]))
    return [CheckIn(*r) for r in await cur.fetchall()]


async def phone_of(conn: psycopg.AsyncConnection, supervisee_id: str) -> str | None:
    """The phone a check-in asks: the person's phone in service (the first by id)."""
    cur = await conn.execute(
        "SELECT id FROM devices WHERE supervisee_id = %s AND kind = 'phone' "
        "AND retired_at IS NULL ORDER BY id LIMIT 1", (supervisee_id,))
    row = await cur.fetchone()
    return row[0] if row else None


async def insert(conn: psycopg.AsyncConnection, supervisee_id: str, device_id: str,
                 requested_at: float, deadline: float, requested_by: str, topic: str, *,
                 scheduled_for: float | None = None, note: str | None = None) -> int | None:
    """A new request; None when the schedule's slot has one already. The request's time is
    taken down to the whole second: OwnTracks sends whole-second fix times, and an answer
    made in the second of the request must not look older than it."""
    requested_at = float(math.floor(requested_at))
    cur = await conn.execute(
        "INSERT INTO check_ins (supervisee_id, device_id, requested_at, deadline, requested_by, "
        "scheduled_for, note, topic) VALUES (%s, %s, to_timestamp(%s), to_timestamp(%s), %s, "
        "to_timestamp(%s), %s, %s) "
        "ON CONFLICT (supervisee_id, scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING "
        "RETURNING id",
        (supervisee_id, device_id, requested_at, deadline, requested_by, scheduled_for, note,
         topic))
    row = await cur.fetchone()
    return row[0] if row else None


async def mark_sent(conn: psycopg.AsyncConnection, check_in_id: int) -> None:
    await conn.execute("UPDATE check_ins SET sent_at = now() WHERE id = %s AND sent_at IS NULL",
                       (check_in_id,))


async def unsent(conn: psycopg.AsyncConnection, now: float) -> list[tuple[int, str]]:
    """(id, topic) of the requests whose command the broker has not taken yet, still open."""
    cur = await conn.execute(
        "SELECT id, topic FROM check_ins WHERE status = 'pending' AND sent_at IS NULL "
        "AND deadline > to_timestamp(%s) ORDER BY id LIMIT 1000", (now,))
    return [(r[0], r[1]) for r in await cur.fetchall()]


_COLUMNS = (
    "c.id, c.supervisee_id, c.device_id, extract(epoch FROM c.requested_at)::float8, "
    "extract(epoch FROM c.deadline)::float8, c.requested_by, "
    "extract(epoch FROM c.scheduled_for)::float8, c.note, c.topic, "
    "extract(epoch FROM c.sent_at)::float8, c.status, extract(epoch FROM c.answer_ts)::float8, "
    "extract(epoch FROM c.answer_received_at)::float8, c.answer_lon, c.answer_lat, "
    "c.answer_accuracy_m, c.home_distance_m, c.at_home, "
    "extract(epoch FROM c.settled_at)::float8 ")


def _check_in(r: tuple) -> dict[str, Any]:
    answer = None if r[11] is None else {
        "ts": r[11], "received_at": r[12], "lon": r[13], "lat": r[14],
        "accuracy_m": None if r[15] is None else float(r[15]),
        "home_distance_m": r[16], "at_home": r[17]}
    return {"id": r[0], "supervisee_id": r[1], "device_id": r[2], "requested_at": r[3],
            "deadline": r[4], "requested_by": r[5], "scheduled_for": r[6], "note": r[7],
            "topic": r[8], "sent_at": r[9], "status": r[10], "answer": answer,
            "settled_at": r[18]}


async def one(conn: psycopg.AsyncConnection, check_in_id: int) -> dict[str, Any] | None:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM check_ins c WHERE c.id = %s",
                             (check_in_id,))
    row = await cur.fetchone()
    return _check_in(row) if row else None


async def of_supervisee(conn: psycopg.AsyncConnection, supervisee_id: str,
                        since: float | None, until: float | None, limit: int
                        ) -> list[dict[str, Any]]:
    """A person's requests asked in [since, until), newest first."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM check_ins c WHERE c.supervisee_id = %s "
        "AND (%s::float8 IS NULL OR c.requested_at >= to_timestamp(%s)) "
        "AND (%s::float8 IS NULL OR c.requested_at < to_timestamp(%s)) "
        "ORDER BY c.requested_at DESC, c.id DESC LIMIT %s",
        (supervisee_id, since, since, until, until, limit))
    return [_check_in(r) for r in await cur.fetchall()]


# --- settling: the answer, or none -------------------------------------------------------------

def home_distance(feature: dict[str, Any] | None, zone_id: str, lon: float, lat: float
                  ) -> tuple[float | None, bool | None]:
    """Metres from the home zone's centre (a circle's centre, a polygon's centroid) and whether
    the point is inside it; (None, None) without a usable home.

    >>> home = {"type": "Feature", "properties": {"kind": "inclusion", "radius_m": 150},
    ...         "geometry": {"type": "Point", "coordinates": [116.35, 39.92]}}
    >>> d, inside = home_distance(home, "h", 116.35, 39.921)
    >>> round(d), inside
    (111, True)
    """
    if feature is None:
        return None, None
    try:
        zone = Zone.from_feature(feature, zone_id)
    except ZoneError:
        return None, None
    centre = zone.geometry if zone.shape == "circle" else zone.geometry.centroid
    metres = float(distance_m(centre.x, centre.y, lon, lat))
    if zone.shape == "circle":
        return metres, metres <= zone.radius_m
    if zone.shape == "corridor":
        return metres, None
    return metres, bool(zone.geometry.covers(Point(lon, lat)))


async def settle(conn: psycopg.AsyncConnection, now: float) -> tuple[int, int]:
    """Record the answers of the pending requests, and ``missed`` on those whose deadline (and
    grace) passed without one; (answered, missed)."""
    cur = await conn.execute(
        "SELECT c.id, f.ts, f.received_at, f.lon, f.lat, f.accuracy_m, s.home_zone_id, "
        "z.feature, extract(epoch FROM c.deadline)::float8 FROM check_ins c "
        "JOIN supervisees s ON s.id = c.supervisee_id "
        "LEFT JOIN zones z ON z.id = s.home_zone_id "
        "LEFT JOIN LATERAL (SELECT extract(epoch FROM x.ts)::float8 AS ts, "
        "       extract(epoch FROM x.received_at)::float8 AS received_at, x.lon, x.lat, "
        "       x.accuracy_m FROM fixes x WHERE x.device_id = c.device_id "
        "       AND x.ts BETWEEN c.requested_at AND c.deadline "
        "       AND x.received_at <= c.deadline + make_interval(secs => %s) "
        "       ORDER BY x.ts LIMIT 1) f ON true "
        "WHERE c.status = 'pending' AND c.requested_at <= to_timestamp(%s) "
        "ORDER BY c.id LIMIT 5000", (ANSWER_GRACE_S, now))
    answered = missed = 0
    for cid, ts, received, lon, lat, acc, home_id, feature, deadline in await cur.fetchall():
        if ts is not None:
            metres, at_home = home_distance(feature, home_id or "home", lon, lat)
            await conn.execute(
                "UPDATE check_ins SET status = 'answered', answer_ts = to_timestamp(%s), "
                "answer_received_at = to_timestamp(%s), answer_lon = %s, answer_lat = %s, "
                "answer_accuracy_m = %s, home_distance_m = %s, at_home = %s, settled_at = now() "
                "WHERE id = %s AND status = 'pending'",
                (ts, received, lon, lat, acc, metres, at_home, cid))
            answered += 1
        elif now > deadline + ANSWER_GRACE_S:
            await conn.execute("UPDATE check_ins SET status = 'missed', settled_at = now() "
                               "WHERE id = %s AND status = 'pending'", (cid,))
            missed += 1
    return answered, missed


# --- schedules ----------------------------------------------------------------------------------

def _schedule(r: tuple | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"times_per_day": r[0], "window_start": r[1].strftime("%H:%M"),
            "window_end": r[2].strftime("%H:%M"), "deadline_min": r[3], "updated_by": r[4],
            "updated_at": r[5].isoformat()}


_SCHEDULE = ("SELECT times_per_day, window_start, window_end, deadline_min, updated_by, "
             "updated_at FROM check_in_schedules ")


async def schedules_of(conn: psycopg.AsyncConnection, supervisee_id: str
                       ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The person's own schedule and their plan's (either may be None)."""
    cur = await conn.execute(_SCHEDULE + "WHERE supervisee_id = %s", (supervisee_id,))
    own = _schedule(await cur.fetchone())
    cur = await conn.execute(
        _SCHEDULE + "WHERE plan_id = (SELECT plan_id FROM supervisees WHERE id = %s)",
        (supervisee_id,))
    return own, _schedule(await cur.fetchone())


async def set_schedule(conn: psycopg.AsyncConnection, supervisee_id: str, times_per_day: int,
                       window_start: time, window_end: time, deadline_min: int, actor: str
                       ) -> None:
    await conn.execute(
        "INSERT INTO check_in_schedules (supervisee_id, times_per_day, window_start, "
        "window_end, deadline_min, updated_by) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (supervisee_id) WHERE supervisee_id IS NOT NULL DO UPDATE SET "
        "times_per_day = excluded.times_per_day, window_start = excluded.window_start, "
        "window_end = excluded.window_end, deadline_min = excluded.deadline_min, "
        "updated_by = excluded.updated_by, updated_at = now()",
        (supervisee_id, times_per_day, window_start, window_end, deadline_min, actor))


async def remove_schedule(conn: psycopg.AsyncConnection, supervisee_id: str) -> bool:
    cur = await conn.execute("DELETE FROM check_in_schedules WHERE supervisee_id = %s",
                             (supervisee_id,))
    return cur.rowcount > 0


async def set_plan_schedule(conn: psycopg.AsyncConnection, plan_id: str, times_per_day: int,
                            window_start: time, window_end: time, deadline_min: int,
                            actor: str) -> None:
    await conn.execute(
        "INSERT INTO check_in_schedules (plan_id, times_per_day, window_start, window_end, "
        "deadline_min, updated_by) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (plan_id) WHERE plan_id IS NOT NULL DO UPDATE SET "
        "times_per_day = excluded.times_per_day, window_start = excluded.window_start, "
        "window_end = excluded.window_end, deadline_min = excluded.deadline_min, "
        "updated_by = excluded.updated_by, updated_at = now()",
        (plan_id, times_per_day, window_start, window_end, deadline_min, actor))


async def scheduled_people(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    """Everyone a schedule applies to (their own, else their plan's), still supervised and with
    a phone in service: the schedule, the jurisdiction's time zone and the phone."""
    cur = await conn.execute(
        "SELECT s.id, j.timezone, sch.times_per_day, sch.window_start, sch.window_end, "
        "sch.deadline_min, p.id FROM supervisees s "
        "JOIN jurisdictions j ON j.id = s.jurisdiction_id "
        "JOIN LATERAL (SELECT * FROM check_in_schedules x "
        "              WHERE x.supervisee_id = s.id OR x.plan_id = s.plan_id "
        "              ORDER BY x.supervisee_id NULLS LAST LIMIT 1) sch ON true "
        "JOIN LATERAL (SELECT d.id FROM devices d WHERE d.supervisee_id = s.id "
        "              AND d.kind = 'phone' AND d.retired_at IS NULL ORDER BY d.id LIMIT 1) p "
        "     ON true "
        "WHERE s.released_at IS NULL AND sch.times_per_day > 0 ORDER BY s.id")
    return [{"supervisee_id": r[0], "timezone": r[1], "times_per_day": r[2],
             "window_start": r[3], "window_end": r[4], "deadline_min": r[5], "phone": r[6]}
            for r in await cur.fetchall()]


async def plan_schedule(conn: psycopg.AsyncConnection, plan_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(_SCHEDULE + "WHERE plan_id = %s", (plan_id,))
    return _schedule(await cur.fetchone())
