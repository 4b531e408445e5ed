"""Coverage gaps from kept runs: the same answer as every fix read one by one — over days kept
by the nightly pass, days kept on demand, a late upload into a kept day, and several devices."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.fixes import Fix, FixBatch
from history.coverage import gaps_between, runs_of
from history.near import coverage_gaps as every_fix_gaps
from store.coverage import STEP_S, coverage_gaps, whole_days
from store.fixes import insert_fixes
from store.kept_days import due_days, keep_day
from tests.test_api_access import world
from tests.test_end_to_end import CENTRE


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.floats(0, 20_000, allow_nan=False), max_size=40), min_size=1,
                max_size=3),
       st.floats(STEP_S, 3000), st.floats(-2000, 500), st.floats(19_000, 25_000))
def test_gaps_between_runs_are_the_gaps_between_every_fix(devices, gap_s, lo, hi):
    """For any gap at least the runs' step, the stretches between the union of the devices'
    runs are the gaps of all their fixes together."""
    times = [np.sort(np.asarray(d, dtype=np.float64)) for d in devices]
    want = every_fix_gaps(np.concatenate(times), lo, hi, gap_s)
    got = gaps_between([runs_of(t, STEP_S) for t in times], lo, hi, gap_s)
    assert got == want


async def _insert(db_url: str, fixes: list[Fix]) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await insert_fixes(conn, FixBatch.from_fixes(fixes))


def _track(device: str, start: float, end: float, step: float, rng: np.random.Generator,
           now: float) -> list[Fix]:
    t = np.arange(start, end, step) + rng.uniform(0, 20, int(np.ceil((end - start) / step)))
    return [Fix(device, float(x), CENTRE[0], CENTRE[1], 8.0, float("nan"), now, "native")
            for x in t]


def same(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> bool:
    """The same gaps, each end within a second (the window's end is "now", read a moment
    apart)."""
    return len(got) == len(want) and all(abs(a - b) <= 1.0 for g, w in zip(got, want,
                                                                           strict=True)
                                         for a, b in zip(g, w, strict=True))


async def _brute(conn: psycopg.AsyncConnection, sid: str, start: datetime, end: datetime,
                 gap_s: float) -> list[tuple[float, float]]:
    cur = await conn.execute(
        "SELECT extract(epoch FROM f.ts)::float8 FROM fixes f JOIN devices d ON d.id = f.device_id"
        " WHERE d.supervisee_id = %s AND f.ts >= %s AND f.ts < %s", (sid, start, end))
    t = np.asarray([r[0] for r in await cur.fetchall()])
    return every_fix_gaps(t, start.timestamp(), min(end.timestamp(), time.time()), gap_s)


@pytest.mark.asyncio
async def test_kept_days_answer_as_every_fix_and_a_late_upload_is_seen(db_url):
    await world(db_url)
    now = time.time()
    rng = np.random.default_rng(3)
    day0 = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = (day0 - timedelta(days=4)).timestamp()
    # P-1's phone every 2 minutes with silences of 40 min and 3 h; P-2's bracelet every minute
    # with a silence across midnight; both devices of nobody else.
    fixes = [f for f in _track("ph-1", t0, now - 60, 120.0, rng, now)
             if not (t0 + 30_000 < f.ts < t0 + 32_400 or t0 + 200_000 < f.ts < t0 + 210_800)]
    fixes += [f for f in _track("br-2", t0, now - 60, 60.0, rng, now)
              if not (day0.timestamp() - 86_400 - 3000 < f.ts < day0.timestamp() - 86_400
                      + 5000)]
    await _insert(db_url, fixes)
    windows = [(datetime.fromtimestamp(t0 + 3600, UTC), datetime.fromtimestamp(now + 5, UTC)),
               (day0 - timedelta(days=3), day0),
               (day0 - timedelta(days=2, hours=7), day0 - timedelta(hours=1))]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        # The nightly pass keeps the closed days; the searches then read them.
        for d in whole_days(datetime.fromtimestamp(t0, UTC), day0):
            kept = await keep_day(conn, d)
            assert kept.devices >= 2 and kept.fixes > 1000
        assert not [d for d in await due_days(conn, datetime.now(UTC), timedelta(0), 3)
                    if d >= whole_days(datetime.fromtimestamp(t0, UTC), day0)[0]]
        for start, end in windows:
            for gap_s in (600.0, 1800.0, 400.0):
                got = await coverage_gaps(conn, ["P-1", "P-2"], start, end, gap_s)
                for sid in ("P-1", "P-2"):
                    assert same(got[sid], await _brute(conn, sid, start, end, gap_s))
        got = await coverage_gaps(conn, ["P-1"], *windows[1], 600.0)
        assert any(b - a > 2 * 3600 for a, b in got["P-1"])  # the 3 h silence is a gap
        # A late upload fills the 3-hour silence of a kept day: the day is summed up again.
        late = _track("ph-1", t0 + 200_100, t0 + 210_700, 120.0, rng, now)
        await _insert(db_url, late)
        await conn.commit()
        got = await coverage_gaps(conn, ["P-1"], *windows[1], 600.0)
        assert same(got["P-1"], await _brute(conn, "P-1", *windows[1], 600.0))
        assert not any(b - a > 2 * 3600 for a, b in got["P-1"])
        # Under the runs' step, every fix is read.
        got = await coverage_gaps(conn, ["P-2"], *windows[0], 120.0)
        assert same(got["P-2"], await _brute(conn, "P-2", *windows[0], 120.0))


@pytest.mark.asyncio
async def test_days_not_kept_are_summed_up_on_demand(db_url):
    await world(db_url)
    now = time.time()
    rng = np.random.default_rng(4)
    await _insert(db_url, _track("br-2", now - 3 * 86400, now - 30, 90.0, rng, now))
    start, end = (datetime.fromtimestamp(now - 3 * 86400 + 100, UTC),
                  datetime.fromtimestamp(now, UTC))
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        first = await coverage_gaps(conn, ["P-2"], start, end, 600.0)
        await conn.commit()
        cur = await conn.execute("SELECT count(*) FROM kept_coverage WHERE device_id = 'br-2'")
        assert (await cur.fetchone())[0] == len(whole_days(start, end)) >= 1
        again = await coverage_gaps(conn, ["P-2"], start, end, 600.0)
        assert first == again
        assert same(first["P-2"], await _brute(conn, "P-2", start, end, 600.0))


@pytest.mark.asyncio
async def test_late_fixes_are_counted_as_they_are_stored(db_url):
    """A fix of a day already over (or ending within the margin) is counted for its device and
    day in the transaction that stores it; a live fix is not."""
    from store.fixes import LATE_MARGIN_S, cutoff_of

    await world(db_url)
    now = time.time()
    rng = np.random.default_rng(8)
    midnight = cutoff_of(now - LATE_MARGIN_S)  # today's start
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await conn.execute("TRUNCATE late_fixes")
        await conn.commit()
        live = [f for f in _track("br-2", max(midnight, now - 900), now - 5, 60.0, rng, now)
                if f.ts >= midnight]
        old = _track("br-2", midnight - 2 * 86400 + 100, midnight - 2 * 86400 + 1300, 60.0,
                     rng, now) + _track("ph-1", midnight - 3000, midnight - 1000, 60.0, rng, now)
        async with conn.transaction():
            await insert_fixes(conn, live, now=now)
        cur = await conn.execute("SELECT count(*) FROM late_fixes")
        assert (await cur.fetchone())[0] == (0 if now - midnight > LATE_MARGIN_S else 1)
        async with conn.transaction():
            await insert_fixes(conn, old, now=now)
        cur = await conn.execute("SELECT device_id, day, fixes FROM late_fixes"
                                 " WHERE day < %s ORDER BY 1",
                                 (datetime.fromtimestamp(midnight, UTC).date(),))
        day = datetime.fromtimestamp(midnight, UTC).date()
        assert await cur.fetchall() == [("br-2", day - timedelta(days=2), 20),
                                        ("ph-1", day - timedelta(days=1), 34)]
