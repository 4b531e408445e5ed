"""Who was with whom: the grid join finds exactly the meetings a brute force over every pair finds;
one person against everyone, through the API, answers what the brute force over the same stored
fixes answers, within the caller's reach, with a reason, audited; the nightly pass keeps its
meetings once per day and serves them back by reach."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from devices.fixes import Fix, FixBatch
from history.together import Placed, colocations, colocations_reference, with_person
from store.colocations import TogetherSettings, colocation_pass, due_passes
from store.fixes import insert_fixes
from tests.test_api_access import client, world
from tests.test_end_to_end import CENTRE
from tests.test_history import iso, offset

# --- the definition (pure) ----------------------------------------------------------------------


def crowd(seed: int, lat0: float, people: int = 30, steps: int = 90) -> Placed:
    """People drifting around a few meeting points (so that pairs form and break), some unknown
    now and then, near grid-cell edges by chance."""
    rng = np.random.default_rng(seed)
    spots = rng.uniform(-300, 300, (4, 2))
    home = spots[rng.integers(0, 4, people)] + rng.normal(0, 40, (people, 2))
    drift = np.cumsum(rng.normal(0, 6, (people, steps, 2)), axis=1)
    drift[: people // 2] = 0.0  # half stay put, the others wander off slowly
    xy = home[:, None, :] + drift + rng.normal(0, 8, (people, steps, 2))
    lon, lat = offset(10.0, lat0, xy[..., 0], xy[..., 1])
    lon[rng.random((people, steps)) < 0.08] = np.nan
    lat[np.isnan(lon)] = np.nan
    return Placed([f"S-{i:02d}" for i in range(people)], lon, lat, 1000.0, 60.0)


@pytest.mark.parametrize("seed,lat0", [(1, 30.0), (2, 0.5), (3, -45.0), (4, 62.0)])
def test_the_grid_join_finds_what_every_pair_finds(seed, lat0):
    placed = crowd(seed, lat0)
    for radius, min_s in ((50.0, 1200.0), (120.0, 300.0), (10.0, 60.0)):
        want = colocations_reference(placed, radius, min_s)
        got = colocations(placed, radius, min_s)
        assert same(got, want)
        assert want or radius == 10.0  # the crowd does meet
        me = placed.people[seed]
        assert same(with_person(placed, me, radius, min_s), sorted(
            ([m for m in want if m.a == me] + [
                type(m)(me, m.a, m.start, m.end, m.steps, m.closest_m, m.closest_ts, m.lon,
                        m.lat) for m in want if m.b == me]),
            key=lambda m: (m.start, m.b)))


def same(got, want) -> bool:
    """The same meetings; distances to within a nanometre (NumPy's vector and scalar sines may
    differ in the last bit)."""
    key = [(m.a, m.b, m.start, m.end, m.steps, m.closest_ts) for m in got]
    return key == [(m.a, m.b, m.start, m.end, m.steps, m.closest_ts) for m in want] and all(
        abs(g.closest_m - w.closest_m) < 1e-9 and abs(g.lon - w.lon) < 1e-12
        for g, w in zip(got, want, strict=True))


def test_placement_holds_a_fix_for_a_while_and_unknown_is_never_together():
    # a: a fix every 5 min at the spot; b: every minute at the spot for 30 min, then silent.
    ta = np.arange(0.0, 3600.0, 300.0)
    tb = np.arange(0.0, 1800.0, 60.0)
    person = np.array(["a"] * len(ta) + ["b"] * len(tb), dtype=object)
    ts = np.concatenate((ta, tb))
    lon = np.full(len(ts), 10.0)
    lat = np.full(len(ts), 50.0)
    p = Placed.of(person, ts, lon, lat, start=0.0, end=3600.0, step_s=60.0, hold_s=300.0)
    assert not np.isnan(p.lon[0]).any()  # a is placed between its fixes
    # b's last fix is at 1740 s: placed through the step ending 2100 s (held 300 s), no longer.
    known = np.flatnonzero(~np.isnan(p.lon[1]))
    assert known.min() == 0 and known.max() == 34
    meetings = colocations(p, 50.0, 1200.0)
    assert [(m.start, m.end, m.steps) for m in meetings] == [(0.0, 2100.0, 35)]
    assert colocations(p, 50.0, 2101.0) == []


# --- one against everyone, and the nightly pass (through the engine's API) ------------------


def walk(device: str, t0: float, minutes: int, east0: float, east1: float, north: float,
         every_s: float = 60.0, jitter: float = 0.0, rng=None) -> list[Fix]:
    t = t0 + np.arange(0.0, minutes * 60.0, every_s)
    e = np.linspace(east0, east1, len(t))
    n = np.full(len(t), north)
    if jitter and rng is not None:
        e = e + rng.normal(0, jitter, len(t))
        n = n + rng.normal(0, jitter, len(t))
    lon, lat = offset(CENTRE[0], CENTRE[1], e, n)
    return [Fix(device, float(a), float(x), float(y), 10.0, float("nan"), float(a), "native")
            for a, x, y in zip(t, lon, lat, strict=True)]


async def day_of_meetings(db_url: str, t0: float) -> None:
    """P-1 (ph-1) walks east 3 km over two hours. P-2 (br-2) walks beside it 20 m away for the
    first 35 minutes, then turns off; later it is 30 m from P-1 for 10 minutes only. H-1 (hb-1,
    Hays) walks beside P-1 from minute 60 to 90."""
    rng = np.random.default_rng(3)
    fixes = walk("ph-1", t0, 120, 0.0, 3000.0, 0.0, jitter=3.0, rng=rng)
    fixes += walk("br-2", t0, 35, 0.0, 35 * 25.0, 20.0, jitter=3.0, rng=rng)
    fixes += walk("br-2", t0 + 3600 + 600, 10, 1750.0, 2000.0, -30.0, every_s=30.0)
    fixes += walk("br-2", t0 + 3600 * 3, 30, 9000.0, 9000.0, 0.0)  # far away, later
    fixes += walk("hb-1", t0 + 3600, 30, 1500.0, 1500.0 + 30 * 25.0, 10.0)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await insert_fixes(conn, FixBatch.from_fixes(fixes))


def brute(db_url: str, start: float, end: float, jurisdictions: list[str], person: str):
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT d.supervisee_id, extract(epoch FROM f.ts)::float8, f.lon, f.lat FROM fixes f "
            "JOIN devices d ON d.id = f.device_id JOIN supervisees s ON s.id = d.supervisee_id "
            "WHERE f.ts >= to_timestamp(%s) AND f.ts < to_timestamp(%s) "
            "AND (s.jurisdiction_id = ANY(%s) OR s.id = %s)",
            (start - 300, end, jurisdictions, person)).fetchall()
    who, ts, lon, lat = (np.array(c) for c in zip(*rows, strict=True))
    placed = Placed.of(who.astype(object), ts.astype(float), lon.astype(float),
                       lat.astype(float), start=start, end=end)
    return [m for m in colocations_reference(placed, 50.0, 1200.0) if person in (m.a, m.b)]


@pytest.mark.asyncio
async def test_with_person_is_the_brute_force_answer_within_reach_and_audited(
        db_url, engine_factory):
    await world(db_url)
    t0 = float(int(time.time() // 3600 * 3600 - 5 * 3600))
    await day_of_meetings(db_url, t0)
    engine = engine_factory(db_url)
    start, end = t0 - 1800, t0 + 4 * 3600
    params = {"start": iso(start), "end": iso(end), "reason": "case 2026-31"}
    with client(engine, "ana") as ana, client(engine, "root") as root, \
            client(engine, "bo") as bo:
        for who, reach, expect in ((ana, ["tx-travis"], {"P-2"}),
                                   (root, ["tx", "tx-travis", "tx-hays"], {"P-2", "H-1"})):
            r = who.get("/supervisees/P-1/together", params=params)
            assert r.status_code == 200, r.text
            got = {p["supervisee_id"]: p for p in r.json()["people"]}
            assert set(got) == expect
            want = brute(db_url, start, end, reach, "P-1")
            assert sorted((m.b if m.a == "P-1" else m.a, m.start, m.end) for m in want) == sorted(
                (sid, x["start"], x["end"]) for sid, p in got.items() for x in p["meetings"])
            assert 30 <= got["P-2"]["minutes"] <= 40  # the 10-minute brush is not a meeting
            assert all(x["closest_m"] <= 50 for p in got.values() for x in p["meetings"])
        assert bo.get("/supervisees/P-1/together", params=params).status_code == 404
        assert ana.get("/supervisees/P-1/together", params={
            "start": iso(start), "end": iso(end)}).status_code == 422
        assert ana.get("/supervisees/P-1/together", params=params | {
            "start": iso(end - 40 * 86400)}).status_code == 422
    with psycopg.connect(db_url) as conn:
        trail = conn.execute("SELECT actor, subject, detail FROM audit_log "
                             "WHERE action = 'search.together' ORDER BY id").fetchall()
    assert [(a, s) for a, s, _ in trail] == [("ana", "P-1"), ("root", "P-1")]
    assert trail[0][2]["reason"] == "case 2026-31" and trail[0][2]["found"] == ["P-2"]


@pytest.mark.asyncio
async def test_the_nightly_pass_keeps_each_days_meetings_once_and_serves_them_by_reach(
        db_url, engine_factory):
    await world(db_url)
    with psycopg.connect(db_url) as conn:
        zone = conn.execute("SELECT timezone FROM jurisdictions WHERE id = 'tx-travis'"
                            ).fetchone()[0]
    tz = ZoneInfo(zone)
    day = date(2026, 11, 2)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=tz).timestamp()
    await day_of_meetings(db_url, t0)
    s = TogetherSettings()
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        first = await colocation_pass(conn, day, zone, s)
        again = await colocation_pass(conn, day, zone, s)  # a re-run replaces, never doubles
        await conn.commit()
        due = await due_passes(conn, datetime(2026, 11, 4, 12, tzinfo=UTC), timedelta(hours=2))
    assert first.meetings == again.meetings == 2 and first.people >= 3
    assert (day, zone) not in due and (date(2026, 11, 3), zone) in due
    with psycopg.connect(db_url) as conn:
        kept = conn.execute("SELECT a, b FROM colocations ORDER BY a, b").fetchall()
    assert kept == [("H-1", "P-1"), ("P-1", "P-2")]
    engine = engine_factory(db_url)
    params = {"start": iso(t0 - 3600), "end": iso(t0 + 86400), "reason": "bulletin 2026-11"}
    with client(engine, "ana") as ana, client(engine, "root") as root:
        mine = ana.get("/colocations", params=params)
        assert mine.status_code == 200, mine.text
        assert [(m["a"]["supervisee_id"], m["b"]["supervisee_id"])
                for m in mine.json()["meetings"]] == [("P-1", "P-2")]
        everyone = root.get("/colocations", params=params).json()["meetings"]
        assert {(m["a"]["supervisee_id"], m["b"]["supervisee_id"]) for m in everyone} == {
            ("P-1", "P-2"), ("H-1", "P-1")}
        assert ana.get("/colocations", params=params | {"supervisee_id": "H-1"}
                       ).status_code == 404
        assert ana.get("/colocations", params={k: v for k, v in params.items()
                                               if k != "reason"}).status_code == 422
