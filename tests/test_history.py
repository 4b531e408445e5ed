"""History: "who was near" answers what a brute-force scan of the same fixes answers, only within
the caller's reach, always with a reason, always audited; stops and trips hold up against GPS
noise and show gaps as gaps; the history benchmark runs small and prints its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest
from pyproj import Geod

from devices.fixes import Fix, FixBatch
from history.cells import cells_of
from history.stops import StopSettings, speed_stops, timeline
from store.fixes import insert_fixes
from store.history import backfill_cells
from tests.conftest import ROOT
from tests.test_api_access import HAYS, client, world
from tests.test_end_to_end import CENTRE

GEOD = Geod(ellps="WGS84")
M_LAT = 111_132.0


def offset(lon: float, lat: float, east_m: np.ndarray, north_m: np.ndarray):
    return lon + east_m / (M_LAT * np.cos(np.radians(lat))), lat + north_m / M_LAT


# --- stops and trips (pure) ---------------------------------------------------------------------


def noisy_day(rng: np.random.Generator):
    """Two devices: home 0–30 min, drive 10 min east (6 km), stay at B 30–70 min, no fixes at
    all 70–110 min (the device was off), at B again 110–140 min. Honest noise (σ 8 m), a
    multipath fix 250 m off claiming 5 m at home, Wi-Fi fixes 300 m off claiming 300 m at B."""
    ts, east = [], []
    for phase in (0.0, 31.0):  # bracelet and phone, interleaved
        t = np.arange(phase, 140 * 60, 60.0)
        t = t[(t < 70 * 60) | (t >= 110 * 60)]
        e = np.where(t < 1800, 0.0, np.where(t < 2400, (t - 1800) * 10.0, 6000.0))
        ts.append(t)
        east.append(e)
    t, e = np.concatenate(ts), np.concatenate(east)
    n = np.zeros_like(t)
    acc = np.full(len(t), 8.0)
    e = e + rng.normal(0, 8, len(t))
    n = n + rng.normal(0, 8, len(t))
    mp = np.flatnonzero(t > 600)[0]
    n[mp] += 250.0
    acc[mp] = 5.0
    wifi = np.flatnonzero((t > 3000) & (t < 3400))[:3]
    e[wifi] += 300.0
    acc[wifi] = 300.0
    lon, lat = offset(CENTRE[0], CENTRE[1], e, n)
    return t, lon, lat, acc


def test_stops_trips_and_gaps_on_a_noisy_track_of_two_devices():
    t, lon, lat, acc = noisy_day(np.random.default_rng(4))
    segs = timeline(t, lon, lat, acc, StopSettings(), start=0.0, end=150 * 60.0)
    kinds = [s.kind for s in segs]
    assert kinds == ["stop", "trip", "stop", "gap", "stop", "gap"], kinds
    home, trip, at_b, gap, again, tail = segs
    assert home.start == 0.0 and abs(home.end - 1800) <= 60  # the multipath fix ended nothing
    assert abs(at_b.start - 2400) <= 60 and at_b.end == pytest.approx(69 * 60 + 31, abs=1)
    assert gap.start == at_b.end and gap.end == pytest.approx(110 * 60, abs=1) and gap.same_place
    assert again.start == gap.end  # the gap is a gap, never a trip nor the end of a person
    assert tail.kind == "gap" and tail.end == 150 * 60.0
    d = GEOD.inv(home.lon, home.lat, *CENTRE)[2]
    assert d < 20 and 5000 < trip.distance_m < 6500  # along the fixes between the stops
    assert GEOD.inv(at_b.lon, at_b.lat, again.lon, again.lat)[2] < 30  # Wi-Fi fixes moved nothing


def test_short_pauses_and_jitter_are_not_stops_and_the_naive_detector_breaks_on_noise():
    rng = np.random.default_rng(5)
    t = np.arange(0, 3600.0, 30.0)
    # Driving at 12 m/s, with a 3-minute pause (a red light, a queue) in the middle.
    v = np.where((t > 1500) & (t < 1680), 0.0, 12.0)
    e = np.cumsum(v * 30.0)
    lon, lat = offset(CENTRE[0], CENTRE[1], e + rng.normal(0, 5, len(t)), rng.normal(0, 5, len(t)))
    assert [s.kind for s in timeline(t, lon, lat, np.full(len(t), 6.0))] == ["trip"]
    # Sitting still for an hour with indoor drift of ±40 m: one stop for us, broken for speed.
    e = 40 * np.sin(t / 300.0) + rng.normal(0, 15, len(t))
    lon, lat = offset(CENTRE[0], CENTRE[1], e, rng.normal(0, 15, len(t)))
    ours = [s for s in timeline(t, lon, lat, np.full(len(t), 25.0)) if s.kind == "stop"]
    assert len(ours) == 1 and ours[0].duration_s > 3500
    assert len(speed_stops(t, lon, lat, speed_mps=0.5)) != 1


def test_cells_match_the_h3_library():
    import h3

    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(-180, 180, 200), rng.uniform(-85, 85, 200)
    got = cells_of(lon, lat)
    want = [h3.str_to_int(h3.latlng_to_cell(b, a, 10)) for a, b in zip(lon, lat, strict=True)]
    assert got.tolist() == want


# --- who was near (through the engine's API) ---------------------------------------------------


async def scatter(db_url: str, now: float) -> list[Fix]:
    """Fixes around CENTRE for P-1 (phone) and P-2 (bracelet) in Travis and around the same
    spot for H-1 (Hays): 0–600 m from it over the last three days, with the engine's COPY (so with
    cells)."""
    rng = np.random.default_rng(7)
    fixes = []
    for device in ("ph-1", "br-2", "hb-1"):
        n = 400
        r = rng.uniform(0, 600, n)
        a = rng.uniform(0, 2 * np.pi, n)
        lon, lat = offset(CENTRE[0], CENTRE[1], r * np.cos(a), r * np.sin(a))
        ts = now - rng.uniform(0, 3 * 86400, n)
        fixes += [Fix(device, float(t), float(x), float(y), 10.0, float("nan"), now, "native")
                  for t, x, y in zip(ts, lon, lat, strict=True)]
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await insert_fixes(conn, FixBatch.from_fixes(fixes))
    return fixes


def brute_force(db_url: str, point, radius: float, start: float, end: float,
                jurisdictions: list[str]) -> dict[str, tuple[float, int]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT d.supervisee_id, f.lon, f.lat FROM fixes f JOIN devices d "
            "ON d.id = f.device_id JOIN supervisees s ON s.id = d.supervisee_id "
            "WHERE f.ts >= to_timestamp(%s) AND f.ts < to_timestamp(%s) "
            "AND s.jurisdiction_id = ANY(%s)", (start, end, jurisdictions)).fetchall()
    out: dict[str, tuple[float, int]] = {}
    for sid, lon, lat in rows:
        d = GEOD.inv(point[0], point[1], lon, lat)[2]
        if d <= radius:
            best, n = out.get(sid, (float("inf"), 0))
            out[sid] = (min(best, d), n + 1)
    return out


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@pytest.mark.asyncio
async def test_near_search_is_exact_within_reach_with_a_reason_and_audited(db_url,
                                                                          engine_factory):
    await world(db_url)  # also five fixes per county stored without a cell (a plain INSERT)
    now = time.time()
    await scatter(db_url, now)
    engine = engine_factory(db_url)
    point = offset(CENTRE[0], CENTRE[1], np.array(120.0), np.array(-80.0))
    point = (float(point[0]), float(point[1]))
    checks = 0
    with client(engine, "ana") as ana, client(engine, "root") as root:
        for radius, hours in ((200.0, 24), (350.0, 72), (50.0, 72), (5.0, 24)):
            start, end = int(now - hours * 3600), int(now) + 1
            for who, reach in ((ana, ["tx-travis"]), (root, ["tx", "tx-travis", "tx-hays"])):
                r = who.get("/search/near", params={
                    "lon": point[0], "lat": point[1], "radius_m": radius, "start": iso(start),
                    "end": iso(end), "reason": "incident 2026-118"})
                assert r.status_code == 200, r.text
                got = {p["supervisee_id"]: p for p in r.json()["people"]}
                want = brute_force(db_url, point, radius, start, end, reach)
                assert set(got) == set(want)
                for sid, (closest, n) in want.items():
                    assert got[sid]["closest"]["distance_m"] == pytest.approx(closest, abs=0.01)
                    assert got[sid]["fixes_within"] == n
                    assert all(f["distance_m"] <= radius for f in got[sid]["fixes"])
                checks += 1
        assert "H-1" not in {p["supervisee_id"] for p in ana.get("/search/near", params={
            "lon": HAYS[0], "lat": HAYS[1], "radius_m": 100, "start": iso(now - 3600),
            "end": iso(now + 1), "reason": "incident 2026-119"}).json()["people"]}
        # The Hays fixes were stored without a cell (before migration 0008): found all the same.
        hays = root.get("/search/near", params={
            "lon": HAYS[0], "lat": HAYS[1], "radius_m": 100, "start": iso(now - 3600),
            "end": iso(now + 1), "reason": "incident 2026-119"}).json()["people"]
        assert [p["supervisee_id"] for p in hays] == ["H-1"] and hays[0]["fixes_within"] == 5
        # Gaps: P-1's fixes are random over three days, so a day holds stretches without one?
        # Not necessarily; but the window's start before any fix always is one.
        far = ana.get("/search/near", params={
            "lon": point[0], "lat": point[1], "radius_m": 600, "start": iso(now - 30 * 86400),
            "end": iso(now + 1), "reason": "incident 2026-120"}).json()["people"]
        assert far and all(p["gaps"] and p["gaps"][0]["start"] == pytest.approx(
            now - 30 * 86400, abs=2) for p in far)
        # A reason is required; a window too long or without a time zone is refused.
        base = {"lon": point[0], "lat": point[1], "start": iso(now - 3600), "end": iso(now)}
        assert ana.get("/search/near", params=base).status_code == 422
        assert ana.get("/search/near", params=base | {"reason": "  "}).status_code == 422
        assert ana.get("/search/near", params=base | {
            "reason": "x-1", "start": iso(now - 40 * 86400)}).status_code == 422
        # Stops: audited like tracks, and another county's person does not exist.
        r = ana.get("/supervisees/P-1/stops", params={"start": iso(now - 86400),
                                                     "end": iso(now)})
        assert r.status_code == 200 and r.json()["fixes"] > 0
        assert {s["kind"] for s in r.json()["segments"]} <= {"stop", "trip", "gap"}
        assert ana.get("/supervisees/H-1/stops", params={
            "start": iso(now - 86400), "end": iso(now)}).status_code == 404
    with psycopg.connect(db_url) as conn:
        trail = conn.execute("SELECT actor, action, detail FROM audit_log "
                             "WHERE action IN ('search.near', 'stops.read') ORDER BY id").fetchall()
    searches = [t for t in trail if t[1] == "search.near"]
    assert len(searches) == checks + 3  # every accepted search, none of the refused ones
    assert all(t[2]["reason"].startswith("incident") for t in searches)
    assert [t[:2] for t in trail if t[1] == "stops.read"] == [("ana", "stops.read")]


@pytest.mark.asyncio
async def test_near_as_counted_by_the_database_is_the_answer_of_every_fix(db_url):
    """The search reads one row of arrays per device and computes exact distances only near the
    circle and for the closest few: its people, closest fixes, counts, visits, fixes shown and
    coverage gaps are those of the reference over every candidate fix — with fixes a centimetre
    either side of the circle, ties at the closest distance, and a device silent for hours."""
    from history.cells import disk_cover
    from history.near import nearby
    from store.coverage import coverage_gaps
    from store.history import near_candidates, near_summary

    await world(db_url)
    now = time.time()
    await scatter(db_url, now)
    point = (CENTRE[0] + 0.001, CENTRE[1] - 0.0007)
    fixes = []
    for radius in (5.0, 50.0, 200.0):
        for k, az in enumerate(np.linspace(-180, 170, 12)):
            for dm, device in ((-0.01, "ph-1"), (0.01, "br-2"), (-0.004, "hb-1"),
                               (0.004, "ph-1")):
                x, y, _ = GEOD.fwd(point[0], point[1], az, radius + dm)
                fixes.append(Fix(device, now - 3600 * (k + 1) - 7 * radius - 1000 * dm, x, y,
                                 12.0, float("nan"), now, "native"))
    for k in range(3):  # the same closest distance, three times
        x, y, _ = GEOD.fwd(point[0], point[1], 40.0 + 90 * k, 1.5)
        fixes.append(Fix("br-2", now - 5000 - 60 * k, x, y, 4.0, 80.0, now, "native"))
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await insert_fixes(conn, FixBatch.from_fixes(fixes))
        # A silence: nothing from P-2's bracelet for five hours (two days ago).
        await conn.execute("DELETE FROM fixes WHERE device_id = 'br-2' AND ts BETWEEN "
                           "to_timestamp(%s) AND to_timestamp(%s)",
                           (now - 2 * 86400, now - 2 * 86400 + 5 * 3600))
    from datetime import UTC, datetime

    reach = ["tx", "tx-travis", "tx-hays"]
    compared = 0
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        for radius, hours, max_fixes, gap in ((200.0, 24, 100, 600.0), (50.0, 72, 3, 900.0),
                                              (5.0, 72, 0, 600.0), (200.0, 80, 7, 120.0),
                                              (1.5, 24, 100, 600.0)):
            start = datetime.fromtimestamp(now - hours * 3600, UTC)
            end = datetime.fromtimestamp(now + 1, UTC)
            cells = disk_cover(point[0], point[1], radius)
            got = await near_summary(conn, cells, point[0], point[1], radius, start, end, reach,
                                     visit_gap_s=gap, max_fixes=max_fixes)
            want = nearby(await near_candidates(conn, cells, point[0], point[1], radius, start,
                                                end, reach),
                          point[0], point[1], radius, visit_gap_s=gap, max_fixes=max_fixes)
            assert want and [n.supervisee_id for n in got] == [n.supervisee_id for n in want]
            for a, b in zip(got, want, strict=True):
                assert (a.closest_m, a.closest_ts, a.closest_device_id, a.fixes_within,
                        a.visits) == (b.closest_m, b.closest_ts, b.closest_device_id,
                                      b.fixes_within, b.visits)
                assert a.fixes == b.fixes
            ids = [n.supervisee_id for n in got]
            gaps = await coverage_gaps(conn, ids, start, end, gap)
            for sid in ids:
                cur = await conn.execute(
                    "SELECT extract(epoch FROM f.ts)::float8 FROM fixes f JOIN devices d "
                    "ON d.id = f.device_id WHERE d.supervisee_id = %s AND f.ts >= %s "
                    "AND f.ts < %s ORDER BY 1", (sid, start, end))
                t = [r[0] for r in await cur.fetchall()]
                lo, hi = start.timestamp(), min(end.timestamp(), time.time())
                want_gaps = ([(lo, t[0])] if t[0] - lo > gap else []) + [
                    (a, b) for a, b in zip(t[:-1], t[1:], strict=True) if b - a > gap] + (
                    [(t[-1], hi)] if hi - t[-1] > gap else [])
                assert len(gaps[sid]) == len(want_gaps) > 0
                # The window's end is "now" for both, read a moment apart.
                assert [x for g in gaps[sid] for x in g] == pytest.approx(
                    [x for g in want_gaps for x in g], abs=1.0)
            compared += len(got)
    assert compared >= 8


@pytest.mark.asyncio
async def test_backfill_gives_old_fixes_their_cells(db_url):
    await world(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        assert await backfill_cells(conn, batch=3) == 3
        assert await backfill_cells(conn) == 7
        assert await backfill_cells(conn) == 0
        cur = await conn.execute("SELECT lon, lat, cell FROM fixes")
        rows = await cur.fetchall()
    lon, lat, cell = (np.array(c) for c in zip(*rows, strict=True))
    assert cells_of(lon.astype(float), lat.astype(float)).tolist() == cell.tolist()


def test_history_benchmark_runs_small():
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.history", "--fixes", "200000", "--days", "3",
         "--queries", "10", "--overhead-fixes", "20000", "--stop-people", "15"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("fixes", "near_24h_p95_ms", "near_7d_p95_ms", "near_30d_p95_ms",
                "track_30d_geojson_p95_ms", "insert_overhead_pct", "stop_precision",
                "stop_recall", "stop_start_err_median_s", "stop_end_err_median_s",
                "naive_stop_precision", "naive_stop_recall", "with_person_1d_p95_ms",
                "colocation_all_1d_s", "day_pass_1d_s", "track_30d_every_fix_p95_ms"):
        assert key in result, key
    assert result["fixes"] >= 200_000 and "stored" in out.stderr
    for window in ("24h", "7d", "30d"):  # the gaps from kept days are those of every fix
        assert result[f"near_{window}_gaps_differing"] == 0
        assert result[f"near_{window}_mismatches"] == 0
    assert result["with_person_1d_checked"] == 10 and result["with_person_1d_mismatches"] == 0
    assert result["stop_precision"] >= 0.9 and result["stop_recall"] >= 0.9


def test_thinning_in_time_keeps_a_stay_that_shape_thinning_drops():
    """A straight trip east with a two-hour stay halfway: Douglas–Peucker keeps the two ends
    (the stay is on the line), and a replay of it would glide through the stay; thinned in
    time, the stay's ends are kept and every dropped fix lies within the tolerance of where
    the thinned track puts the person at that fix's time."""
    from store.tracks import M_PER_DEGREE, Track, thinned

    t = np.concatenate((np.arange(0, 1800, 30.0), np.arange(1800, 9000, 30.0),
                        np.arange(9000, 10800, 30.0)))
    east = np.interp(t, [0, 1800, 9000, 10800], [0, 3000, 3000, 6000])
    rng = np.random.default_rng(2)
    lon, lat = offset(CENTRE[0], CENTRE[1], east + rng.normal(0, 2, len(t)),
                      rng.normal(0, 2, len(t)))
    track = Track("d", t, lon, lat, np.full(len(t), 5.0), np.full(len(t), np.nan))
    shape, _ = thinned([track], 8)
    timed, tol = thinned([track], 8, in_time=True)
    assert len(shape[0]) <= 8 and len(timed[0]) <= 8
    kept_t = timed[0].ts
    assert any(abs(x - 1800) <= 60 for x in kept_t) and any(abs(x - 9000) <= 60 for x in kept_t)
    assert not any(600 < x < 10200 for x in shape[0].ts)  # the shape alone: the stay is gone
    # Every fix within the tolerance (m) of the thinned track at its own time.
    at_lon = np.interp(t, kept_t, timed[0].lon)
    at_lat = np.interp(t, kept_t, timed[0].lat)
    err = np.hypot(lon - at_lon, lat - at_lat) * M_PER_DEGREE
    assert err.max() <= tol


@pytest.mark.asyncio
async def test_who_was_inside_a_drawn_area_is_the_brute_force_answer_within_reach(
        db_url, engine_factory):
    """The cover's coarse cells are one B-tree range each; whatever they read, the people, their
    counts and first and last fixes inside are those of every fix tested against the polygon —
    fixes stored without a cell included — only within the caller's reach, always audited."""
    import shapely
    from shapely.geometry import Polygon, box, mapping

    await world(db_url)
    now = time.time()
    await scatter(db_url, now)
    engine = engine_factory(db_url)
    # An L-shaped block beside CENTRE (a hole in it too), and a small square around Hays.
    x0, y0 = CENTRE
    d = 0.004
    area = Polygon([(x0 - d, y0 - d), (x0 + d, y0 - d), (x0 + d, y0), (x0, y0), (x0, y0 + d),
                    (x0 - d, y0 + d)], [[(x0 - d / 2, y0 - d / 2), (x0 - d / 4, y0 - d / 2),
                                         (x0 - d / 4, y0 - d / 4), (x0 - d / 2, y0 - d / 4)]])
    hays = box(HAYS[0] - 0.001, HAYS[1] - 0.001, HAYS[0] + 0.001, HAYS[1] + 0.001)
    start, end = iso(now - 2 * 86400), iso(now + 1)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT d.supervisee_id, s.jurisdiction_id, extract(epoch FROM f.ts)::float8, f.lon,"
            " f.lat FROM fixes f JOIN devices d ON d.id = f.device_id JOIN supervisees s"
            " ON s.id = d.supervisee_id WHERE f.ts >= %s AND f.ts < %s",
            (start, end)).fetchall()

    def brute(poly, reach):
        out = {}
        for sid, jid, ts, lon, lat in rows:
            if jid in reach and (shapely.contains_xy(poly, lon, lat)
                                 or shapely.intersects_xy(poly.boundary, lon, lat)):
                n, first, last = out.get(sid, (0, ts, ts))
                out[sid] = (n + 1, min(first, ts), max(last, ts))
        return out

    with client(engine, "ana") as ana, client(engine, "root") as root:
        for who, reach in ((ana, {"tx-travis"}), (root, {"tx", "tx-travis", "tx-hays"})):
            for poly in (area, hays):
                r = who.post("/search/within", json={
                    "geometry": mapping(poly), "start": start, "end": end,
                    "reason": "burglary 2026-77"})
                assert r.status_code == 200, r.text
                got = {p["supervisee_id"]: (p["fixes_inside"], p["first"], p["last"])
                       for p in r.json()["people"]}
                want = brute(poly, reach)
                assert set(got) == set(want) and (want or reach == {"tx-travis"})
                for sid, (n, first, last) in want.items():
                    assert got[sid][0] == n
                    assert got[sid][1:] == pytest.approx((first, last), abs=1e-3)
        base = {"start": start, "end": end, "reason": "burglary 2026-77"}
        huge = box(x0 - 0.5, y0 - 0.5, x0 + 0.5, y0 + 0.5)
        for geometry in (mapping(huge), {"type": "Point", "coordinates": [x0, y0]},
                         {"type": "Polygon", "coordinates": "nonsense"}):
            bad = ana.post("/search/within", json=base | {"geometry": geometry})
            assert bad.status_code == 422, bad.text
            assert bad.json()["detail"][0]["loc"] == ["body", "geometry"]
        assert ana.post("/search/within", json=base | {"geometry": mapping(area),
                                                       "reason": ""}).status_code == 422
    with psycopg.connect(db_url) as conn:
        trail = conn.execute("SELECT actor, detail->>'reason' FROM audit_log"
                             " WHERE action = 'search.within' ORDER BY id").fetchall()
    assert trail == [("ana", "burglary 2026-77")] * 2 + [("root", "burglary 2026-77")] * 2
