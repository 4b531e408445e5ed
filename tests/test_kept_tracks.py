"""A month's track from kept days: at most max_points fixes, every dropped fix within the
tolerance of the thinned track at its own time, the same answer whether the days were kept by
the nightly pass or are thinned on the spot, and a late upload seen."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from devices.fixes import Fix, FixBatch
from store.fixes import insert_fixes
from store.kept_days import keep_day
from store.kept_tracks import SERIES_M, thinned_in_time
from store.tracks import M_PER_DEGREE
from tests.test_api_access import world
from tests.test_end_to_end import CENTRE

M_LAT = 111_132.0


def _walk(device: str, t0: float, t1: float, step: float, rng: np.random.Generator,
          now: float) -> list[Fix]:
    """Stays of an hour or more and trips of a few kilometres between them, with GPS noise."""
    t = np.arange(t0, t1, step) + rng.uniform(0, 10, int(np.ceil((t1 - t0) / step)))
    legs = np.cumsum(rng.uniform(1800, 9000, 200)) + t0
    at = np.searchsorted(legs, t)
    east = np.where(at % 2 == 0, (at // 2) * 2500.0, (at // 2) * 2500.0
                    + 2500.0 * (t - legs[np.maximum(at - 1, 0)]) / 1800.0)
    east = np.minimum(east, (at // 2 + 1) * 2500.0)
    north = 800.0 * np.sin(at)
    x = east + rng.normal(0, 6, len(t))
    y = north + rng.normal(0, 6, len(t))
    lon = CENTRE[0] + x / (M_LAT * np.cos(np.radians(CENTRE[1])))
    lat = CENTRE[1] + y / M_LAT
    return [Fix(device, float(a), float(b), float(c), 8.0, 70.0, now, "native")
            for a, b, c in zip(t, lon, lat, strict=True)]


async def _insert(db_url: str, fixes: list[Fix]) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await insert_fixes(conn, FixBatch.from_fixes(fixes))


async def _every_fix(conn, device: str, start: datetime, end: datetime):
    cur = await conn.execute(
        "SELECT extract(epoch FROM ts)::float8, lon, lat FROM fixes WHERE device_id = %s"
        " AND ts >= %s AND ts < %s ORDER BY ts", (device, start, end))
    rows = await cur.fetchall()
    return (np.asarray([r[0] for r in rows]), np.asarray([r[1] for r in rows]),
            np.asarray([r[2] for r in rows]))


def _answer(got) -> tuple:
    return (got.tolerance_m, got.fixes, [(t.device_id, t.ts.tolist(), t.lon.tolist(),
                                          t.lat.tolist()) for t in got.tracks])


@pytest.mark.asyncio
async def test_a_month_from_kept_days_keeps_time_and_counts(db_url):
    await world(db_url)
    now = time.time()
    rng = np.random.default_rng(11)
    t0 = now - 6 * 86400
    await _insert(db_url, _walk("br-2", t0, now - 30, 60.0, rng, now))
    start = datetime.fromtimestamp(t0 + 5000, UTC)
    end = datetime.fromtimestamp(now + 60, UTC)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        fresh = await thinned_in_time(conn, "P-2", start, end, 800)  # thins and keeps
        await conn.commit()
        cur = await conn.execute("SELECT count(*) FROM kept_tracks WHERE device_id = 'br-2'")
        assert (await cur.fetchone())[0] >= 4
        again = await thinned_in_time(conn, "P-2", start, end, 800)  # from the kept days
        assert _answer(again) == _answer(fresh)
        await conn.execute("TRUNCATE kept_tracks")
        await conn.commit()
        day0 = datetime.fromtimestamp(now, UTC).date()
        for k in range(1, 7):  # the nightly pass
            await keep_day(conn, day0 - timedelta(days=k))
        assert _answer(await thinned_in_time(conn, "P-2", start, end, 800)) == _answer(fresh)

        ts, lon, lat = await _every_fix(conn, "br-2", start, end)
        bracelet = next(t for t in fresh.tracks if t.device_id == "br-2")
        assert fresh.fixes >= len(ts) > 5000 and len(bracelet) <= 800
        assert fresh.tolerance_m in SERIES_M and fresh.tolerance_m >= 20.0
        # Every fix within the tolerance of the thinned track at its own time.
        err = np.hypot(lon - np.interp(ts, bracelet.ts, bracelet.lon),
                       lat - np.interp(ts, bracelet.ts, bracelet.lat)) * M_PER_DEGREE
        assert err.max() <= fresh.tolerance_m + 1e-6
        # A looser series step would not fit: the tolerance is the smallest that does.
        tighter = await thinned_in_time(conn, "P-2", start, end, len(bracelet) - 1 + sum(
            len(t) for t in fresh.tracks if t.device_id != "br-2"))
        assert tighter.tolerance_m > fresh.tolerance_m

        # A late upload into a kept day: that day is thinned again.
        hole = t0 + 2 * 86400
        late = [f for f in _walk("br-2", hole, hole + 3600, 60.0, np.random.default_rng(5),
                                 now)]
        late = [Fix(f.device_id, f.ts + 17.0, f.lon + 0.05, f.lat, f.accuracy_m, f.battery,
                    f.received_at, f.source) for f in late]  # 5 km away: must show
        await _insert(db_url, late)
        after = await thinned_in_time(conn, "P-2", start, end, 800)
        assert after.fixes == fresh.fixes + len(late)
        bracelet = next(t for t in after.tracks if t.device_id == "br-2")
        assert (bracelet.lon > CENTRE[0] + 0.04).any()

        # Nothing to drop: every fix, tolerance 0; a tolerance under the kept level reads
        # every fix again.
        short = await thinned_in_time(conn, "P-2", datetime.fromtimestamp(now - 3600, UTC),
                                      end, 5000)
        assert short.tolerance_m == 0.0
        ts, _, _ = await _every_fix(conn, "br-2", datetime.fromtimestamp(now - 3600, UTC), end)
        assert next(t for t in short.tracks if t.device_id == "br-2").ts.tolist() == \
            pytest.approx(ts.tolist())
        loose = await thinned_in_time(conn, "P-2", start, end, 200_000 - 1)
        assert loose.tolerance_m == 0.0 and sum(len(t) for t in loose.tracks) == loose.fixes
        fine = await thinned_in_time(conn, "P-2", start, end, int(after.fixes * 0.9))
        assert fine.tolerance_m in (5.0, 10.0)
        ts, lon, lat = await _every_fix(conn, "br-2", start, end)
        bracelet = next(t for t in fine.tracks if t.device_id == "br-2")
        err = np.hypot(lon - np.interp(ts, bracelet.ts, bracelet.lon),
                       lat - np.interp(ts, bracelet.ts, bracelet.lat)) * M_PER_DEGREE
        assert err.max() <= fine.tolerance_m + 1e-6


@pytest.mark.asyncio
async def test_retention_takes_the_kept_days_with_the_fixes(db_url):
    """A kept day holds positions (the thinned track): it goes when its fixes pass the
    retention, and a kept day within it stays."""
    from store.fixes import drop_fixes_older_than

    await world(db_url)
    now = time.time()
    rng = np.random.default_rng(2)
    await _insert(db_url, _walk("br-2", now - 40 * 86400, now - 38 * 86400, 120.0, rng, now)
                  + _walk("br-2", now - 3 * 86400, now - 60, 120.0, rng, now))
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        day0 = datetime.fromtimestamp(now, UTC).date()
        for k in (39, 2):
            await keep_day(conn, day0 - timedelta(days=k))
        await drop_fixes_older_than(conn, 30)
        await conn.commit()
        for table in ("kept_tracks", "kept_coverage"):
            cur = await conn.execute(f"SELECT day FROM {table} WHERE device_id = 'br-2'")
            assert [r[0] for r in await cur.fetchall()] == [day0 - timedelta(days=2)]
