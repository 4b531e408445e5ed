"""A person's timeline one local day at a time, kept for closed days (migration 0020).

A day's timeline is computed from the fixes of the day and the two hours before it (a stop under
way at midnight is found whole, then clipped to the day) and kept once the day is over. It is
served from the kept row only while the day holds as many fixes as it did: a stored fix never
changes and a duplicate is dropped, so only a late upload of buffered fixes changes a past day,
and it changes the count — read from the primary key alone, without the fixes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from history.stops import Segment, StopSettings, timeline
from store.history import device_fixes

LEAD = timedelta(hours=2)
FETCH_LIMIT = 500_000


def _key(s: StopSettings) -> str:
    return f"{s.radius_m:g}/{s.dwell_s:g}/{s.gap_s:g}/{s.max_accuracy_m:g}/{s.exit_fixes}"


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


def _to_json(segments: Sequence[Segment]) -> list[dict]:
    return [{"kind": s.kind, "start": s.start, "end": s.end, "fixes": s.fixes,
             "lon": _num(s.lon), "lat": _num(s.lat), "radius_m": _num(s.radius_m),
             "distance_m": _num(s.distance_m), "same_place": s.same_place} for s in segments]


def _from_json(rows: Sequence[dict]) -> list[Segment]:
    nan = math.nan
    return [Segment(r["kind"], r["start"], r["end"], r["fixes"],
                    nan if r["lon"] is None else r["lon"], nan if r["lat"] is None else r["lat"],
                    nan if r["radius_m"] is None else r["radius_m"],
                    nan if r["distance_m"] is None else r["distance_m"], r["same_place"])
            for r in rows]


def clipped(segments: Sequence[Segment], lo: float, hi: float) -> list[Segment]:
    """The segments cut to ``[lo, hi)`` (a trip's distance in proportion to the time kept)."""
    out = []
    for s in segments:
        a, b = max(s.start, lo), min(s.end, hi)
        if b <= a:
            continue
        if a == s.start and b == s.end:
            out.append(s)
            continue
        share = (b - a) / max(s.end - s.start, 1e-9)
        out.append(Segment(s.kind, float(a), float(b), s.fixes, s.lon, s.lat, s.radius_m,
                           s.distance_m * share if not math.isnan(s.distance_m) else math.nan,
                           s.same_place))
    return out


async def day_timelines(conn: psycopg.AsyncConnection, supervisee_id: str,
                        devices: Sequence[str], days: Sequence[date], timezone: str,
                        settings: StopSettings) -> dict[date, list[Segment]]:
    """Each day's timeline, clipped to the local day (up to now for today): kept ones where
    still valid, the others computed (and kept once the day is over). Returns them by day."""
    tz = ZoneInfo(timezone)
    now = time.time()
    key = _key(settings)
    bounds = {d: (datetime.combine(d, datetime.min.time(), tz),
                  datetime.combine(d + timedelta(days=1), datetime.min.time(), tz))
              for d in days}
    cur = await conn.execute(
        "SELECT day, fixes, segments FROM kept_timelines WHERE supervisee_id = %s"
        " AND timezone = %s AND settings = %s AND day = ANY(%s)",
        (supervisee_id, timezone, key, list(days)))
    kept = {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
    # How many fixes each day holds now, per day, in one query.
    cur = await conn.execute(
        "SELECT d.day, (SELECT count(*) FROM fixes f WHERE f.device_id = ANY(%(dev)s)"
        "  AND f.ts >= d.lo AND f.ts < d.hi)"
        " FROM unnest(%(days)s::date[], %(lo)s::timestamptz[], %(hi)s::timestamptz[])"
        " AS d(day, lo, hi)",
        {"dev": list(devices), "days": list(days),
         "lo": [bounds[d][0] - LEAD for d in days], "hi": [bounds[d][1] for d in days]})
    count = {r[0]: int(r[1]) for r in await cur.fetchall()}
    out: dict[date, list[Segment]] = {}
    for d in days:
        lo, hi = bounds[d]
        if d in kept and kept[d][0] == count.get(d):
            out[d] = _from_json(kept[d][1])
            continue
        got = await device_fixes(conn, devices, lo - LEAD, hi, FETCH_LIMIT)
        end = min(hi.timestamp(), now)
        start = (lo - LEAD).timestamp()
        segments = clipped(timeline(got.ts, got.lon, got.lat, got.accuracy_m, settings,
                                    start, max(end, start)), lo.timestamp(), end)
        out[d] = segments
        if hi.timestamp() <= now:  # closed: keep it
            await conn.execute(
                "INSERT INTO kept_timelines (supervisee_id, day, timezone, settings, fixes,"
                " segments) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (supervisee_id, day, timezone, settings) DO UPDATE SET"
                " fixes = EXCLUDED.fixes, segments = EXCLUDED.segments, computed_at = now()",
                (supervisee_id, d, timezone, key, count.get(d, 0), Jsonb(_to_json(segments))))
    return out
