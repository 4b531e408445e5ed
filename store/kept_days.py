"""The nightly day pass: every device's closed UTC day summed up once, for the searches and the
tracks that read it later (migration 0023).

One read of each device's fixes of the day gives both summaries: its coverage runs
(:mod:`store.coverage`, the gaps a search reports) and its track thinned in time
(:mod:`store.kept_tracks`, the levels a long track is read from). A device silent all day is
not written (a read that needs its day keeps it then: an empty row), and a day already kept
with no late fix since is left alone. Searches and tracks keep what they find missing
themselves; the pass makes sure they rarely have to. The engine runs it each day once the day
has been over ``day_pass_delay_h``; a late fix after that (a buffered upload) is counted as it
is stored and the day is summed up again by whoever reads it next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

from history.coverage import runs_of
from store import coverage, kept_tracks
from store.coverage import DAY, STEP_S
from store.history import span_fixes


@dataclass(frozen=True, slots=True)
class DayPass:
    day: date
    devices: int  # devices with fixes that day
    fixes: int
    seconds: float


async def keep_day(conn: psycopg.AsyncConnection, day: date, batch: int = 200) -> DayPass:
    """Sum up every device's fixes of the closed UTC ``day``, ``batch`` devices to a
    transaction (committed as it goes), and record the pass."""
    t0 = time.perf_counter()
    lo = datetime.combine(day, datetime.min.time(), UTC)
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM fixes WHERE ts >= %s AND ts < %s)",
                             (lo, lo + DAY))
    if not (await cur.fetchone())[0]:  # a day before anyone was heard: nothing to read
        return await _record(conn, DayPass(day, 0, 0, time.perf_counter() - t0))
    # A device is read unless both its summaries are kept under the day's late count, which is
    # read before the fixes are (see migration 0023).
    cur = await conn.execute(
        "SELECT d.id, coalesce(l.fixes, 0), c.late IS NOT DISTINCT FROM coalesce(l.fixes, 0)"
        " AND t.late IS NOT DISTINCT FROM coalesce(l.fixes, 0) FROM devices d"
        " LEFT JOIN late_fixes l ON l.device_id = d.id AND l.day = %(day)s"
        " LEFT JOIN kept_coverage c ON c.device_id = d.id AND c.day = %(day)s"
        " AND c.step_s = %(step)s"
        " LEFT JOIN kept_tracks t ON t.device_id = d.id AND t.day = %(day)s ORDER BY d.id",
        {"day": day, "step": STEP_S})
    todo = [(dev, late) for dev, late, kept in await cur.fetchall() if not kept]
    for k in range(0, len(todo), batch):
        part = todo[k:k + batch]
        got = await span_fixes(conn, [(dev, lo, lo + DAY) for dev, _ in part])
        # A device silent all day is not written: a read that needs it keeps it then.
        heard = [(dev, late, g) for (dev, late), g in zip(part, got, strict=True) if len(g)]
        await coverage.keep(conn, [(dev, day, late, len(g),
                                    runs_of(g.ts, STEP_S).ravel().tolist())
                                   for dev, late, g in heard])
        await kept_tracks.keep(conn, [kept_tracks.piece(dev, day, g, late)
                                      for dev, late, g in heard])
        await conn.commit()
    cur = await conn.execute("SELECT count(*), coalesce(sum(fixes), 0) FROM kept_tracks"
                             " WHERE day = %s AND fixes > 0", (day,))
    devices, fixes = await cur.fetchone()
    return await _record(conn, DayPass(day, int(devices), int(fixes), time.perf_counter() - t0))


async def _record(conn: psycopg.AsyncConnection, done: DayPass) -> DayPass:
    await conn.execute(
        "INSERT INTO day_passes (day, devices, fixes, seconds) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (day) DO UPDATE SET devices = EXCLUDED.devices, fixes = EXCLUDED.fixes,"
        " seconds = EXCLUDED.seconds, finished_at = now()",
        (done.day, done.devices, done.fixes, done.seconds))
    await conn.commit()
    return done


async def due_days(conn: psycopg.AsyncConnection, now: datetime, delay: timedelta,
                   days_back: int = 7) -> list[date]:
    """The UTC days of the last ``days_back`` that ended at least ``delay`` before ``now`` and
    have had no pass, oldest first."""
    last = (now - delay).astimezone(UTC).date() - DAY
    first = last - timedelta(days=days_back - 1)
    cur = await conn.execute("SELECT day FROM day_passes WHERE day BETWEEN %s AND %s",
                             (first, last))
    done = {r[0] for r in await cur.fetchall()}
    return [first + timedelta(days=i) for i in range(days_back)
            if first + timedelta(days=i) not in done]
