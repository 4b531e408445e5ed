"""People's coverage gaps over a window, read from each device's kept runs (migration 0023).

A search that finds people near a point or inside an area reports, for each, the stretches in
which none of their devices sent a fix (absence of fixes is not absence of the person). Read
from every fix, a month of one person is ~86,000 fix times. Here each closed UTC day of a device
is summed up once as its runs (:mod:`history.coverage`: stretches with a fix at least every
:data:`STEP_S`), kept, and read back as one short array; only the window's partial days and
today are read fix by fix. A kept day is used while no late fix has been stored for it since
(``late_fixes``, counted as fixes are stored: see migration 0023), else it is summed up again.

The nightly pass (:mod:`store.kept_days`) sums up every device's day once it is over, so that
searches find the days kept; a search that finds a day not yet kept sums it up and keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg

from history.coverage import gaps_between, runs_of
from store.history import binary_array, epoch_s
from store.history import coverage_gaps as gaps_from_every_fix

STEP_S = 300.0  # runs break where fixes are more than 5 minutes apart
DAY = timedelta(days=1)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), UTC)


def whole_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days lying wholly inside ``[start, end)``.

    >>> whole_days(datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    [datetime.date(2026, 3, 2), datetime.date(2026, 3, 3)]
    """
    first = start.astimezone(UTC).date()
    if _day_start(first) < start:
        first += DAY
    out = []
    while _day_start(first) + DAY <= end:
        out.append(first)
        first += DAY
    return out


async def _fix_times(conn: psycopg.AsyncConnection, spans: Sequence[tuple[str, datetime,
                                                                            datetime]]
                     ) -> list[np.ndarray]:
    """The sorted fix times (epoch seconds) of each (device, start, end), from the primary key
    (an index-only scan), one array each."""
    if not spans:
        return []
    async with conn.cursor(binary=True) as cur:
        await cur.execute(
            "SELECT q.no, (SELECT array_send(array_agg(f.ts)) FROM fixes f"
            " WHERE f.device_id = q.dev AND f.ts >= q.lo AND f.ts < q.hi)"
            " FROM unnest(%(dev)s::text[], %(lo)s::timestamptz[], %(hi)s::timestamptz[])"
            " WITH ORDINALITY AS q(dev, lo, hi, no)",
            {"dev": [s[0] for s in spans], "lo": [s[1] for s in spans],
             "hi": [s[2] for s in spans]})
        rows = await cur.fetchall()
    out: list[np.ndarray] = [np.zeros(0)] * len(spans)
    for no, arr in rows:
        if arr is not None:
            out[no - 1] = np.sort(epoch_s(binary_array(arr, ">i8")))
    return out


async def keep(conn: psycopg.AsyncConnection,
               rows: Sequence[tuple[str, date, int, int, list[float]]]) -> None:
    """Keep (device, day, late count read before its fixes, fixes, runs flattened) rows."""
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO kept_coverage (device_id, day, step_s, late, fixes, runs)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, day, step_s) DO UPDATE"
            " SET late = EXCLUDED.late, fixes = EXCLUDED.fixes, runs = EXCLUDED.runs,"
            " computed_at = now()",
            [(dev, day, STEP_S, late, n, runs) for dev, day, late, n, runs in rows])


async def device_runs(conn: psycopg.AsyncConnection, device_ids: Sequence[str],
                      start: datetime, end: datetime, now: float | None = None
                      ) -> dict[str, list[np.ndarray]]:
    """Each device's runs (:func:`history.coverage.runs_of` at :data:`STEP_S`) over
    ``[start, end)``, in pieces: the kept runs of the UTC days wholly inside and over by
    ``now`` (default: the time; summed up and kept now where missing or out of date) and runs
    of the fix times of the rest."""
    out: dict[str, list[np.ndarray]] = {d: [] for d in device_ids}
    if not device_ids or end <= start:
        return out
    closed = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    days = whole_days(start, min(end, closed))
    spans: list[tuple[str, datetime, datetime]] = []
    if days:
        lead, tail = _day_start(days[0]), _day_start(days[-1]) + DAY
        for dev in device_ids:
            if start < lead:
                spans.append((dev, start, lead))
            if tail < end:
                spans.append((dev, tail, end))
        pairs = [(dev, d) for dev in device_ids for d in days]
        cur = await conn.execute(
            "SELECT q.no, k.late, k.runs, coalesce(l.fixes, 0)"
            " FROM unnest(%(dev)s::text[], %(day)s::date[]) WITH ORDINALITY AS q(dev, day, no)"
            " LEFT JOIN kept_coverage k ON k.device_id = q.dev AND k.day = q.day"
            " AND k.step_s = %(step)s"
            " LEFT JOIN late_fixes l ON l.device_id = q.dev AND l.day = q.day",
            {"dev": [p[0] for p in pairs], "day": [p[1] for p in pairs], "step": STEP_S})
        stale: list[tuple[str, date, int]] = []
        for no, kept_late, runs, late in await cur.fetchall():
            dev, day = pairs[no - 1]
            if kept_late == late:
                out[dev].append(np.asarray(runs, dtype=np.float64).reshape(-1, 2))
            else:  # the late count read before the fixes: a fix stored since shows
                stale.append((dev, day, late))
        times = await _fix_times(conn, [(dev, _day_start(d), _day_start(d) + DAY)
                                        for dev, d, _ in stale])
        kept = []
        for (dev, day, late), ts in zip(stale, times, strict=True):
            runs = runs_of(ts, STEP_S)
            out[dev].append(runs)
            kept.append((dev, day, late, len(ts), runs.ravel().tolist()))
        await keep(conn, kept)
    else:
        spans = [(dev, start, end) for dev in device_ids]
    for (dev, _, _), ts in zip(spans, await _fix_times(conn, spans), strict=True):
        out[dev].append(runs_of(ts, STEP_S))
    return out


async def coverage_gaps(conn: psycopg.AsyncConnection, supervisee_ids: Sequence[str],
                        start: datetime, end: datetime, gap_s: float, now: float | None = None
                        ) -> dict[str, list[tuple[float, float]]]:
    """Per supervisee, the stretches of ``[start, end)`` (up to ``now``, default the time)
    longer than ``gap_s`` in which none of their devices sent a fix (the window's ends count:
    no fix yet is a gap too; a person without any fix in the window has none) —
    :func:`store.history.coverage_gaps`'s answer, from the devices' runs (:func:`device_runs`)
    when ``gap_s`` is at least :data:`STEP_S` and a whole day of the window is over, else from
    every fix."""
    now = time.time() if now is None else now
    if gap_s < STEP_S or not whole_days(start, min(end, datetime.fromtimestamp(now, UTC))):
        # Under the runs' step, or no day over within the window: nothing kept to read.
        return await gaps_from_every_fix(conn, supervisee_ids, start, end, gap_s, now)
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in supervisee_ids}
    if not supervisee_ids:
        return out
    cur = await conn.execute("SELECT id, supervisee_id FROM devices WHERE supervisee_id = ANY(%s)"
                             " ORDER BY id", (list(supervisee_ids),))
    owner = dict(await cur.fetchall())
    runs = await device_runs(conn, list(owner), start, end, now)
    hi = min(end.timestamp(), now)
    for sid in supervisee_ids:
        parts = [r for dev, o in owner.items() if o == sid for r in runs[dev]]
        out[sid] = gaps_between(parts, start.timestamp(), hi, gap_s)
    return out
