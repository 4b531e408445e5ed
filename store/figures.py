"""The figures of a jurisdiction at an instant: what the command centre's wall shows, and what
the monthly bulletin will print — one definition, so that the two agree.

Every figure is of a jurisdiction's **subtree** (the jurisdiction and everything below it),
**at an instant** ``at`` (seconds since the epoch, on the engine's clock), with days counted in
the jurisdiction's own time zone. The queries group by the supervisee's own jurisdiction once;
:func:`figures` rolls those rows up to the subtree and to each child (a map's regions), so a
child's figures always add up to its parent's.

Definitions (each a count unless said otherwise):

``people``
    supervisees not released (``released_at`` unset or after ``at``), by supervision level: the
    plan ``strict`` (严管), ``normal`` (普管), ``relaxed`` (宽管), anything else ``other``.
``devices``
    the devices (not retired) of those people, each in exactly one state at ``at``:

    - ``off``: its newest message up to ``at`` is a ``power_off`` event (no fix after it);
    - ``online``: otherwise, heard (a fix or a device event) within its reporting interval plus
      its plan's grace before ``at`` — the device's own ``report_interval_s``, else its plan's,
      else 60 s; the plan's ``lost_contact_grace_s``, else 1800 s (the defaults of
      :class:`alerts.plans.SupervisionPlan`), looking back at most :data:`LOOKBACK_S`;
    - ``silent``: neither.
``alerts``
    alerts of the subtree's supervisees (released or not) *raised today*: on the engine's clock
    (``raised_at``, else ``started_at``) from the local midnight before ``at`` up to ``at``, by
    their status now: ``open``, ``acknowledged``, ``closed`` (resolved by a person or cleared
    when the condition ended); ``raised`` is all of them, ``escalated`` those escalated.
    ``median_response_s``: the median of the seconds from raising to the first step a person
    took (acknowledged or resolved) up to ``at``, over those of today's alerts a person acted
    on; None when none.
``orders``
    positioning orders of the subtree's people ``in_force`` at ``at`` (started, not ended, not
    removed), and of those the ones ``ending_soon``: ending within 7 days after ``at``.
``on_leave``
    people (not released) on leave at ``at``: a leave (外出请假, migration 0014; not a standing
    permit) approved, begun and not yet ended (``starts_at`` ≤ ``at`` < ``ends_at``), and not
    closed as returned (销假) or cancelled — its status still ``approved``.
``trends``
    alerts raised per local day and kind over the 7 days ending with today (today up to ``at``).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

LEVELS = ("strict", "normal", "relaxed")
DEVICE_STATES = ("online", "silent", "off")
ALERT_STATES = ("open", "acknowledged", "closed")
DEFAULT_INTERVAL_S = 60.0
DEFAULT_GRACE_S = 1800.0
LOOKBACK_S = 7 * 86400.0  # a device not heard in a week is silent whatever its interval
ENDING_SOON_S = 7 * 86400.0
TREND_DAYS = 7
RECENT_LIMIT = 50


def empty_figures() -> dict[str, Any]:
    """All figures at zero (a jurisdiction with nobody in it)."""
    return {
        "people": {"total": 0, **{lv: 0 for lv in (*LEVELS, "other")}},
        "devices": {"total": 0, **{s: 0 for s in DEVICE_STATES}},
        "alerts": {"raised": 0, **{s: 0 for s in ALERT_STATES}, "escalated": 0,
                   "median_response_s": None},
        "orders": {"in_force": 0, "ending_soon": 0},
        "on_leave": 0,
    }


def day_start(at: float, timezone: str) -> float:
    """The local midnight before ``at`` in ``timezone`` (epoch seconds).

    >>> day_start(1763532000.0, "America/Chicago")  # 2025-11-19 00:00 CST = 06:00 UTC
    1763532000.0
    >>> day_start(1763531999.0, "America/Chicago") == 1763532000.0 - 86400
    True
    """
    local = datetime.fromtimestamp(at, ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def local_days(at: float, timezone: str, days: int = TREND_DAYS) -> list[str]:
    """The ISO dates of the ``days`` local days ending with the day of ``at``.

    >>> local_days(1763532000.0, "America/Chicago", 3)
    ['2025-11-17', '2025-11-18', '2025-11-19']
    """
    today = datetime.fromtimestamp(at, ZoneInfo(timezone)).date()
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


async def subtree(conn: psycopg.AsyncConnection, jurisdiction_id: str
                  ) -> list[dict[str, Any]]:
    """The jurisdiction and all below it: id, parent_id, name, kind, timezone, depth (0 for
    the jurisdiction itself), whether it has a boundary and children."""
    cur = await conn.execute(
        "WITH RECURSIVE t (id, depth) AS ("
        " SELECT %s::text, 0 UNION ALL"
        " SELECT j.id, t.depth + 1 FROM jurisdictions j JOIN t ON j.parent_id = t.id"
        ") SELECT j.id, j.parent_id, j.name, j.kind, j.timezone, t.depth,"
        " j.boundary IS NOT NULL,"
        " EXISTS (SELECT 1 FROM jurisdictions c WHERE c.parent_id = j.id)"
        " FROM t JOIN jurisdictions j ON j.id = t.id ORDER BY t.depth, j.id",
        (jurisdiction_id,))
    return [{"id": r[0], "parent_id": r[1], "name": r[2], "kind": r[3], "timezone": r[4],
             "depth": r[5], "has_boundary": r[6], "has_children": r[7]}
            for r in await cur.fetchall()]


def _region_of(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each jurisdiction of a subtree → the child of its root it lies under (the root → itself).

    >>> _region_of([{"id": "p", "parent_id": None, "depth": 0},
    ...             {"id": "c", "parent_id": "p", "depth": 1},
    ...             {"id": "t", "parent_id": "c", "depth": 2}])
    {'p': 'p', 'c': 'c', 't': 'c'}
    """
    region: dict[str, str] = {}
    for r in rows:  # ordered by depth: a parent comes before its children
        region[r["id"]] = r["id"] if r["depth"] <= 1 else region[r["parent_id"]]
    return region


async def _people(conn: psycopg.AsyncConnection, within: list[str], at: datetime
                  ) -> list[tuple[str, str, int]]:
    cur = await conn.execute(
        "SELECT s.jurisdiction_id, CASE WHEN s.plan_id = ANY(%(levels)s) THEN s.plan_id"
        " ELSE 'other' END, count(*) FROM supervisees s"
        " WHERE s.jurisdiction_id = ANY(%(within)s)"
        " AND (s.released_at IS NULL OR s.released_at > %(at)s) GROUP BY 1, 2",
        {"within": within, "at": at, "levels": list(LEVELS)})
    return [(r[0], r[1], int(r[2])) for r in await cur.fetchall()]


async def _devices(conn: psycopg.AsyncConnection, within: list[str], at: datetime
                   ) -> list[tuple[str, str, int]]:
    cur = await conn.execute(
        "WITH d AS ("
        " SELECT d.id, s.jurisdiction_id,"
        "  coalesce(d.report_interval_s, (p.settings->>'report_interval_s')::float8,"
        "           %(interval)s) + coalesce((p.settings->>'lost_contact_grace_s')::float8,"
        "           %(grace)s) AS allowed_s"
        " FROM devices d JOIN supervisees s ON s.id = d.supervisee_id"
        " LEFT JOIN supervision_plans p ON p.id = s.plan_id"
        " WHERE d.retired_at IS NULL AND s.jurisdiction_id = ANY(%(within)s)"
        " AND (s.released_at IS NULL OR s.released_at > %(at)s)"
        "), heard AS ("
        " SELECT d.jurisdiction_id, d.allowed_s, lf.ts AS fix_ts, le.ts AS event_ts,"
        "  le.event FROM d"
        " LEFT JOIN LATERAL (SELECT f.ts FROM fixes f WHERE f.device_id = d.id"
        "  AND f.ts <= %(at)s AND f.ts > %(from)s ORDER BY f.ts DESC LIMIT 1) lf ON true"
        " LEFT JOIN LATERAL (SELECT e.ts, e.event FROM device_events e WHERE e.device_id = d.id"
        "  AND e.ts <= %(at)s AND e.ts > %(from)s ORDER BY e.ts DESC, e.event LIMIT 1) le"
        "  ON true"
        ") SELECT jurisdiction_id, CASE"
        " WHEN event = 'power_off' AND (fix_ts IS NULL OR fix_ts < event_ts) THEN 'off'"
        " WHEN greatest(fix_ts, event_ts) >= %(at)s - make_interval(secs => allowed_s)"
        "  THEN 'online' ELSE 'silent' END, count(*) FROM heard GROUP BY 1, 2",
        {"within": within, "at": at, "from": at - timedelta(seconds=LOOKBACK_S),
         "interval": DEFAULT_INTERVAL_S, "grace": DEFAULT_GRACE_S})
    return [(r[0], r[1], int(r[2])) for r in await cur.fetchall()]


async def _alerts_today(conn: psycopg.AsyncConnection, within: list[str], since: datetime,
                        at: datetime) -> list[tuple[str, str, bool, float | None]]:
    """(jurisdiction, status, escalated, response seconds or None) of each alert raised today."""
    cur = await conn.execute(
        "SELECT s.jurisdiction_id, a.status, a.escalated_at IS NOT NULL,"
        " (SELECT extract(epoch FROM min(e.at) - coalesce(a.raised_at, a.started_at))::float8"
        "  FROM alert_events e WHERE e.alert_id = a.id AND e.actor <> 'engine'"
        "  AND e.action IN ('acknowledged', 'resolved') AND e.at <= %(at)s)"
        " FROM alerts a JOIN supervisees s ON s.id = a.supervisee_id"
        " WHERE s.jurisdiction_id = ANY(%(within)s)"
        " AND coalesce(a.raised_at, a.started_at) >= %(since)s"
        " AND coalesce(a.raised_at, a.started_at) <= %(at)s",
        {"within": within, "since": since, "at": at})
    return [(r[0], r[1], bool(r[2]), r[3]) for r in await cur.fetchall()]


async def _orders(conn: psycopg.AsyncConnection, within: list[str], at: datetime
                  ) -> list[tuple[str, int, int]]:
    cur = await conn.execute(
        "SELECT s.jurisdiction_id, count(*),"
        " count(*) FILTER (WHERE o.ends_at <= %(soon)s)"
        " FROM positioning_orders o JOIN supervisees s ON s.id = o.supervisee_id"
        " WHERE s.jurisdiction_id = ANY(%(within)s) AND o.starts_at <= %(at)s"
        " AND %(at)s < least(o.ends_at, o.removed_at) GROUP BY 1",
        {"within": within, "at": at, "soon": at + timedelta(seconds=ENDING_SOON_S)})
    return [(r[0], int(r[1]), int(r[2])) for r in await cur.fetchall()]


async def _trends(conn: psycopg.AsyncConnection, within: list[str], since: datetime,
                  at: datetime, timezone: str) -> dict[str, dict[str, int]]:
    cur = await conn.execute(
        "SELECT a.kind, to_char(coalesce(a.raised_at, a.started_at) AT TIME ZONE %(tz)s,"
        " 'YYYY-MM-DD'), count(*)"
        " FROM alerts a JOIN supervisees s ON s.id = a.supervisee_id"
        " WHERE s.jurisdiction_id = ANY(%(within)s)"
        " AND coalesce(a.raised_at, a.started_at) >= %(since)s"
        " AND coalesce(a.raised_at, a.started_at) <= %(at)s GROUP BY 1, 2",
        {"within": within, "since": since, "at": at, "tz": timezone})
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, day, n in await cur.fetchall():
        out[kind][day] = int(n)
    return out


async def recent_alerts(conn: psycopg.AsyncConnection, within: list[str], since: float,
                        at: float, limit: int = RECENT_LIMIT) -> list[dict[str, Any]]:
    """Today's alerts of those jurisdictions, newest first: the wall's feed at its start."""
    cur = await conn.execute(
        "SELECT a.id, a.kind, a.severity, a.status, a.supervisee_id, s.name, s.jurisdiction_id,"
        " extract(epoch FROM coalesce(a.raised_at, a.started_at))::float8, a.lon, a.lat,"
        " a.escalated_at IS NOT NULL"
        " FROM alerts a JOIN supervisees s ON s.id = a.supervisee_id"
        " WHERE s.jurisdiction_id = ANY(%(within)s)"
        " AND coalesce(a.raised_at, a.started_at) >= %(since)s"
        " AND coalesce(a.raised_at, a.started_at) <= %(at)s"
        " ORDER BY coalesce(a.raised_at, a.started_at) DESC, a.id DESC LIMIT %(limit)s",
        {"within": within, "since": datetime.fromtimestamp(since, UTC),
         "at": datetime.fromtimestamp(at, UTC), "limit": limit})
    return [{"id": r[0], "kind": r[1], "severity": r[2], "status": r[3], "supervisee_id": r[4],
             "supervisee_name": r[5], "jurisdiction_id": r[6], "raised_at": r[7],
             "lon": r[8], "lat": r[9], "escalated": r[10]} for r in await cur.fetchall()]


async def leave_in_force(conn: psycopg.AsyncConnection, within: list[str], at: datetime
                         ) -> list[tuple[str, int]]:
    """People on leave at ``at``, per jurisdiction (see ``on_leave`` above)."""
    cur = await conn.execute(
        "SELECT s.jurisdiction_id, count(DISTINCT l.supervisee_id)"
        " FROM leaves l JOIN supervisees s ON s.id = l.supervisee_id"
        " WHERE s.jurisdiction_id = ANY(%(within)s) AND l.kind = 'leave'"
        " AND l.status = 'approved' AND l.starts_at <= %(at)s AND %(at)s < l.ends_at"
        " AND (s.released_at IS NULL OR s.released_at > %(at)s) GROUP BY 1",
        {"within": within, "at": at})
    return [(r[0], int(r[1])) for r in await cur.fetchall()]


def _median(values: Iterable[float]) -> float | None:
    """The median, or None of nothing.

    >>> _median([3.0, 1.0, 2.0]), _median([])
    (2.0, None)
    """
    vs = list(values)
    return float(statistics.median(vs)) if vs else None


async def figures(conn: psycopg.AsyncConnection, jurisdiction_id: str, at: float,
                  since: float | None = None) -> dict[str, Any] | None:
    """The figures of a jurisdiction's subtree at ``at`` (see the module's docstring), and of
    each of its children; None if there is no such jurisdiction. ``since``: count the alerts
    raised from then on rather than today's (the monthly bulletin's month).

    Returns ``{"jurisdiction", "children", "timezone", "as_of", "day_start", "kpis",
    "regions": {child id: figures}, "trends": {"days", "kinds": {kind: [n per day]}}}``.
    """
    rows = await subtree(conn, jurisdiction_id)
    if not rows:
        return None
    root = rows[0]
    tz = root["timezone"] or "UTC"
    region = _region_of(rows)
    within = list(region)
    at_dt = datetime.fromtimestamp(at, UTC)
    today = day_start(at, tz) if since is None else since
    days = local_days(at, tz)
    first_day = datetime.fromisoformat(days[0]).replace(tzinfo=ZoneInfo(tz)).timestamp()

    kpis = empty_figures()
    children = [r for r in rows if r["depth"] == 1]
    regions = {c["id"]: empty_figures() for c in children}

    def targets(jid: str) -> list[dict[str, Any]]:
        """The figures a row of ``jid`` adds to: the whole subtree's and its region's."""
        r = region[jid]
        return [kpis] if r == root["id"] else [kpis, regions[r]]

    def keys(jid: str) -> list[str]:
        r = region[jid]
        return [""] if r == root["id"] else ["", r]

    for jid, level, n in await _people(conn, within, at_dt):
        for f in targets(jid):
            f["people"][level] += n
            f["people"]["total"] += n
    for jid, state, n in await _devices(conn, within, at_dt):
        for f in targets(jid):
            f["devices"][state] += n
            f["devices"]["total"] += n
    responses: dict[str, list[float]] = defaultdict(list)  # "": the subtree; else a region
    for jid, status, escalated, response_s in await _alerts_today(
            conn, within, datetime.fromtimestamp(today, UTC), at_dt):
        state = status if status in ("open", "acknowledged") else "closed"
        for f in targets(jid):
            f["alerts"]["raised"] += 1
            f["alerts"][state] += 1
            f["alerts"]["escalated"] += int(escalated)
        if response_s is not None:
            for key in keys(jid):
                responses[key].append(response_s)
    for key, f in (("", kpis), *regions.items()):
        f["alerts"]["median_response_s"] = _median(responses.get(key, ()))
    for jid, in_force, ending in await _orders(conn, within, at_dt):
        for f in targets(jid):
            f["orders"]["in_force"] += in_force
            f["orders"]["ending_soon"] += ending
    for jid, n in await leave_in_force(conn, within, at_dt):
        for f in targets(jid):
            f["on_leave"] += n
    trend_rows = await _trends(conn, within, datetime.fromtimestamp(first_day, UTC), at_dt, tz)
    return {
        "jurisdiction": {k: root[k] for k in ("id", "parent_id", "name", "kind")},
        "children": [{k: c[k] for k in ("id", "name", "kind", "has_boundary", "has_children")}
                     for c in children],
        "timezone": tz,
        "as_of": at,
        "day_start": today,
        "kpis": kpis,
        "regions": regions,
        "trends": {"days": days,
                   "kinds": {k: [per_day.get(d, 0) for d in days]
                             for k, per_day in sorted(trend_rows.items())}},
        "subtree": within,
        "names": {r["id"]: r["name"] for r in rows},
    }
