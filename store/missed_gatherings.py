"""Gatherings the real-time rule missed, raised for review from the nightly co-location pass.

The engine compares people in real time only within one engine process (its partitions), on
the fixes it has when it has them, and not while it is down; the nightly pass
(:func:`store.colocations.colocation_pass`) sees every fix of the day, buffered uploads
included. A meeting it finds that no ``gathering`` alert of the pair covers becomes one:

- on the caseload of each of the two whom the ``gathering`` rule would have alerted
  (:func:`alerts.rules.gathering.review_sides`: their plan's rules and thresholds, family under
  one roof, co-defendants only), one alert a day per pair (two missed meetings of a day are
  one thing to review, and one live alert per subject is all the table allows);
- ``open``, so that it stands in the officers' queue until one acknowledges and resolves it,
  its ``ended_at`` already the meeting's end (the meeting is over; nothing will clear it);
- severity ``low`` (:data:`SEVERITY`): found hours after the fact, for review, not for a
  patrol; an escalation nobody acknowledges lifts it to ``medium`` like any other;
- subject ``<companion>@<day>`` (:func:`subject_of`), not the companion's id alone, so that the
  engine never takes it for an episode of its own — neither restores it as a live episode at a
  restart (and clears it when the two are apart) nor clears it with a later real-time alert of
  the same pair;
- marked as found by the nightly pass in ``nightly_gathering_alerts`` (migration 0022), with
  the span, closest approach and number of the meetings it stands for, and its ``opened`` step
  recorded by :data:`ACTOR`.

Covered means: a ``gathering`` alert between the two (either's caseload, real-time or nightly)
whose span overlaps the meeting, widened by the rule's longest pause between verdicts
(:data:`alerts.rules.gathering.MAX_GAP_S`: the real-time episode may start a little later or
end a little sooner than the minute-by-minute placement says). A pass run again over the same
day therefore raises nothing twice.

The pass raises what the engine missed; it has no live bus of its own, so the consoles see these
alerts when they next read the queue (at start and at each reconnect), not the moment they are
raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import psycopg

from alerts.plans import PlanError, SupervisionPlan
from alerts.rules.gathering import KIND, MAX_GAP_S, Home, home_of_zone, review_sides
from geofence import Zone
from history.together import Meeting

SEVERITY = "low"
ACTOR = "nightly-colocation-pass"


def subject_of(companion: str, day: date) -> str:
    """The subject of a nightly gathering alert: the companion and the local day.

    >>> subject_of("P-2", date(2026, 11, 2))
    'P-2@2026-11-02'
    """
    return f"{companion}@{day.isoformat()}"


async def _uncovered(conn: psycopg.AsyncConnection, found: Sequence[Meeting]) -> list[int]:
    """Indexes of the meetings no gathering alert of the pair covers."""
    slack = timedelta(seconds=MAX_GAP_S)
    cur = await conn.execute(
        "SELECT m.no - 1 FROM unnest(%(a)s::text[], %(b)s::text[], %(s)s::timestamptz[], "
        "%(e)s::timestamptz[]) WITH ORDINALITY AS m(a, b, s, e, no) "
        "WHERE NOT EXISTS (SELECT 1 FROM alerts x WHERE x.kind = %(kind)s "
        " AND ((x.supervisee_id = m.a AND x.subject = m.b) "
        "  OR (x.supervisee_id = m.b AND x.subject = m.a)) "
        " AND x.started_at < m.e + %(slack)s "
        " AND coalesce(x.ended_at, 'infinity') > m.s - %(slack)s) "
        "AND NOT EXISTS (SELECT 1 FROM nightly_gathering_alerts n "
        " WHERE ((n.supervisee_id = m.a AND n.companion_id = m.b) "
        "  OR (n.supervisee_id = m.b AND n.companion_id = m.a)) "
        " AND n.start_at < m.e + %(slack)s AND n.end_at > m.s - %(slack)s) "
        "ORDER BY m.no",
        {"a": [m.a for m in found], "b": [m.b for m in found],
         "s": [datetime.fromtimestamp(m.start, UTC) for m in found],
         "e": [datetime.fromtimestamp(m.end, UTC) for m in found], "kind": KIND,
         "slack": slack})
    return [r[0] for r in await cur.fetchall()]


async def _people(conn: psycopg.AsyncConnection, ids: list[str]
                  ) -> dict[str, tuple[SupervisionPlan, str | None, Home | None, str]]:
    """Per supervisee: their plan (the default one where it cannot be read, as the engine
    does), case number, home (the zone of their curfew) and the device an alert names (a
    bracelet first: it is on the body)."""
    cur = await conn.execute(
        "SELECT s.id, s.plan_id, p.settings, s.case_no, "
        " (SELECT d.id FROM devices d WHERE d.supervisee_id = s.id "
        "  ORDER BY d.retired_at IS NOT NULL, d.kind <> 'bracelet', d.id LIMIT 1), "
        " (SELECT array_agg(z.feature ORDER BY z.id) FROM supervisee_zones sz "
        "  JOIN zones z ON z.id = sz.zone_id WHERE sz.supervisee_id = s.id) "
        "FROM supervisees s LEFT JOIN supervision_plans p ON p.id = s.plan_id "
        "WHERE s.id = ANY(%s)", (ids,))
    out = {}
    for sid, plan_id, settings, case_no, device, features in await cur.fetchall():
        try:
            plan = SupervisionPlan.from_settings(plan_id or "default", settings or {})
        except PlanError:
            plan = SupervisionPlan()
        home = None
        for feature in features or ():
            try:
                zone = Zone.from_feature(feature)
            except Exception:  # noqa: BLE001 — a zone the engine rejects is no home either
                continue
            if zone.is_curfew:
                home = home_of_zone(zone)
                break
        out[sid] = (plan, case_no, home, device or "")
    return out


async def raise_missed(conn: psycopg.AsyncConnection, day: date, timezone: str,
                       found: Sequence[Meeting], *, now: float | None = None) -> list[int]:
    """Raise the meetings of the nightly pass over ``day`` that no alert covered (see the
    module), in the caller's transaction; returns the new alerts' ids."""
    if not found:
        return []
    missed = [found[i] for i in await _uncovered(conn, found)]
    if not missed:
        return []
    people = await _people(conn, sorted({p for m in missed for p in (m.a, m.b)}))
    raised_at = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    sides: dict[tuple[str, str], list[Meeting]] = {}
    for m in missed:
        if m.a not in people or m.b not in people:
            continue
        (plan_a, case_a, home_a, _), (plan_b, case_b, home_b, _) = people[m.a], people[m.b]
        for who in review_sides(m.a, m.b, plan_a, plan_b, case_a, case_b, home_a, home_b,
                                m.duration_s, m.closest_m):
            sides.setdefault((who, m.b if who == m.a else m.a), []).append(m)
    ids = []
    for (who, other), meetings in sides.items():
        alert_id = await _raise(conn, who, other, people[who][3], meetings, day, timezone,
                                raised_at)
        if alert_id is not None:
            ids.append(alert_id)
    return ids


async def _raise(conn: psycopg.AsyncConnection, who: str, other: str, device: str,
                 meetings: list[Meeting], day: date, timezone: str, raised_at: datetime
                 ) -> int | None:
    """One alert on ``who``'s caseload for their missed meetings with ``other`` on ``day``
    (one a day per pair: its span runs from the first to the last; its place is the closest
    approach's). None when an alert of the same subject is live already (a pass run again
    after late uploads found another meeting that day: the officer has the day in hand)."""
    closest = min(meetings, key=lambda m: m.closest_m)
    start = datetime.fromtimestamp(min(m.start for m in meetings), UTC)
    end = datetime.fromtimestamp(max(m.end for m in meetings), UTC)
    cur = await conn.execute(
        "INSERT INTO alerts (kind, severity, status, supervisee_id, device_id, subject, "
        "started_at, ended_at, lon, lat, raised_at) VALUES "
        "(%s, %s, 'open', %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (supervisee_id, subject, kind) WHERE status IN ('open', 'acknowledged') "
        "DO NOTHING RETURNING id",
        (KIND, SEVERITY, who, device, subject_of(other, day), start, end, closest.lon,
         closest.lat, raised_at))
    row = await cur.fetchone()
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO alert_events (alert_id, action, actor, at) VALUES (%s, 'opened', %s, %s)",
        (row[0], ACTOR, raised_at))
    await conn.execute(
        "INSERT INTO nightly_gathering_alerts (alert_id, supervisee_id, companion_id, start_at, "
        "end_at, closest_m, meetings, day, timezone) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
        "%s)", (row[0], who, other, start, end, closest.closest_m, len(meetings), day,
                timezone))
    return row[0]


async def nightly_mark(conn: psycopg.AsyncConnection, alert_id: int) -> dict | None:
    """What marks an alert as raised by the nightly pass (None for any other): the companion,
    the meeting's span and closest distance, and the local day and time zone of the pass."""
    cur = await conn.execute(
        "SELECT companion_id, extract(epoch FROM start_at)::float8, "
        "extract(epoch FROM end_at)::float8, closest_m::float8, meetings, day, timezone "
        "FROM nightly_gathering_alerts WHERE alert_id = %s", (alert_id,))
    r = await cur.fetchone()
    if r is None:
        return None
    return {"companion_id": r[0], "start": r[1], "end": r[2], "closest_m": round(r[3], 1),
            "meetings": r[4], "day": r[5].isoformat(), "timezone": r[6]}
