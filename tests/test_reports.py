"""The daily report (日报告): a commuter's day read back as the hours they truly spent at home, at
work (inferred from the weeks before) and moving, with the hour their phone was off shown as a
gap caused by the device, the day's alert with its outcome, in JSON and in CSV in both languages;
read only within reach, and audited."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest
from shapely.geometry import Point

from alerts.episodes import AlertChange, EpisodeKey
from devices.fixes import Fix, FixBatch
from geofence.zones import Zone
from history.cells import haversine_m
from history.daily import Place, gap_cause, summarise
from history.stops import Segment
from store.alerts import apply_change
from store.fixes import insert_fixes
from store.registry import upsert_zone
from tests.test_api_access import client, world
from tests.test_end_to_end import CENTRE
from tests.test_history import offset

WORK_EAST_M = 6000.0


def test_a_stop_in_the_garden_is_at_home_and_a_gap_names_its_cause():
    home = Place(10.0, 50.0, 50.0)
    garden = offset(10.0, 50.0, np.array(80.0), np.array(0.0))  # 80 m: beyond the circle
    day = [Segment("stop", 0, 3600, 60, float(garden[0]), float(garden[1]), 40.0),
           Segment("gap", 3600, 7200), Segment("gap", 7200, 9000), Segment("gap", 9000, 9600)]
    events = [(3500.0, "power_off"), (8000.0, "heartbeat")]
    r = summarise(day, 0.0, 9600.0, (0.0, 3600.0), home, None, events)
    assert r.home_s == 3600 and r.slept == "home"  # within the stop's own spread of home
    assert [g.cause for g in r.gaps] == ["device_off", "no_fix", "silence"]
    assert gap_cause(0.0, 100.0, [(-700.0, "power_off")]) == "silence"  # off long before


def commute(device: str, day: date, tz: ZoneInfo, off: tuple[float, float] | None = None,
            rng: np.random.Generator | None = None) -> list[Fix]:
    """Home until 07:30, 30 minutes' drive 6 km east, work 08:00–17:00, back by 17:30, home;
    a fix a minute with 8 m of noise; nothing in ``off`` (hours)."""
    rng = rng or np.random.default_rng(day.toordinal())
    midnight = datetime.combine(day, datetime.min.time(), tz).timestamp()
    h = np.arange(0.0, 24.0, 1 / 60)
    east = np.interp(h, [0, 7.5, 8, 17, 17.5, 24], [0, 0, WORK_EAST_M, WORK_EAST_M, 0, 0])
    if off is not None:
        keep = (h < off[0]) | (h >= off[1])
        h, east = h[keep], east[keep]
    lon, lat = offset(CENTRE[0], CENTRE[1], east + rng.normal(0, 8, len(h)),
                      rng.normal(0, 8, len(h)) + 2000.0)
    ts = midnight + h * 3600
    return [Fix(device, float(t), float(x), float(y), 8.0, float("nan"), float(t), "native")
            for t, x, y in zip(ts, lon, lat, strict=True)]


@pytest.mark.asyncio
async def test_a_commuters_day_in_json_and_csv_within_reach_and_audited(db_url, engine_factory):
    await world(db_url)
    with psycopg.connect(db_url) as conn:
        tz_name = conn.execute("SELECT timezone FROM jurisdictions WHERE id = 'tx-travis'"
                               ).fetchone()[0]
    tz = ZoneInfo(tz_name)
    day = (datetime.now(tz) - timedelta(days=2)).date()
    fixes = []
    for k in range(10, 0, -1):
        fixes += commute("ph-1", day - timedelta(days=k), tz)
    fixes += commute("ph-1", day, tz, off=(12.0, 13.0))
    noon = datetime.combine(day, datetime.min.time(), tz).timestamp() + 12 * 3600
    home_lon, home_lat = offset(CENTRE[0], CENTRE[1], np.array(0.0), np.array(2000.0))
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await insert_fixes(conn, FixBatch.from_fixes(fixes))
        await conn.execute(
            "INSERT INTO device_events (device_id, ts, received_at, event) "
            "VALUES ('ph-1', to_timestamp(%s), now(), 'power_off')", (noon,))
        await upsert_zone(conn, Zone("P-1-home", "home", "inclusion", "circle",
                                     Point(float(home_lon), float(home_lat)), 60.0,
                                     jurisdiction_id="tx-travis"))
        await conn.execute("UPDATE supervisees SET home_zone_id = 'P-1-home' WHERE id = 'P-1'")
        alert = await apply_change(conn, AlertChange(
            "opened", EpisodeKey("P-1", "travis-line", "inclusion_exit"), "ph-1", noon + 5400,
            *CENTRE))
        await conn.execute(
            "UPDATE alerts SET status = 'resolved', ended_at = to_timestamp(%s) WHERE id = %s",
            (noon + 6000, alert))
        await conn.execute(
            "INSERT INTO alert_events (alert_id, action, actor, note, cause, outcome) VALUES "
            "(%s, 'resolved', 'ana', 'drove past on the way to a client', 'unintentional', "
            "'verbal_warning')", (alert,))
    engine = engine_factory(db_url)
    with client(engine, "ana") as ana, client(engine, "bo") as bo:
        r = ana.get("/supervisees/P-1/daily-report", params={"day": day.isoformat()})
        assert r.status_code == 200, r.text
        rep = r.json()
        hour = 3600.0
        assert rep["slept"] == "home" and rep["complete"]
        assert rep["home_s"] == pytest.approx(14 * hour, abs=0.25 * hour)
        assert rep["work_s"] == pytest.approx(8 * hour, abs=0.25 * hour)  # 9 h less the hour off
        assert rep["moving_s"] == pytest.approx(1 * hour, abs=0.25 * hour)
        assert rep["unseen_s"] == pytest.approx(1 * hour, abs=0.05 * hour)
        assert rep["distance_m"] == pytest.approx(2 * WORK_EAST_M, rel=0.1)
        work_lon, work_lat = offset(CENTRE[0], CENTRE[1], np.array(WORK_EAST_M),
                                    np.array(2000.0))
        assert float(haversine_m(rep["work"]["lon"], rep["work"]["lat"], work_lon,
                                 work_lat)) < 100
        assert rep["inferred_home_from_registered_m"] < 100
        # From the last fix (11:59) to the first after it (13:00).
        assert [(g["cause"], round((g["end"] - g["start"]) / 60)) for g in rep["gaps"]] == [
            ("device_off", 61)]
        assert [v["place"] for v in rep["visits"]] == ["home", "work", "work", "home"]
        assert [(a["kind"], a["cause"], a["outcome"]) for a in rep["alerts"]] == [
            ("inclusion_exit", "unintentional", "verbal_warning")]
        # Each closed day's timeline is kept, and used again while the day holds the same
        # fixes; a late upload into one of them has that day computed again, the others not.
        with psycopg.connect(db_url) as conn:
            kept = dict(conn.execute("SELECT day, fixes FROM kept_timelines").fetchall())
        # (a day's count includes the two hours before it, which its timeline reads too)
        assert len(kept) == 29 and kept[day] == len(
            commute("ph-1", day, tz, off=(12.0, 13.0))) + 120
        again = ana.get("/supervisees/P-1/daily-report", params={"day": day.isoformat()})
        assert again.json() == rep
        late_day = day - timedelta(days=3)
        late = datetime.combine(late_day, datetime.min.time(), tz).timestamp() + 3 * 3600
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            await insert_fixes(conn, FixBatch.from_fixes([Fix(
                "ph-1", late + 17.0, float(home_lon), float(home_lat), 8.0, float("nan"),
                time.time(), "native")]))
        ana.get("/supervisees/P-1/daily-report", params={"day": day.isoformat()})
        with psycopg.connect(db_url) as conn:
            now_kept = dict(conn.execute("SELECT day, fixes FROM kept_timelines").fetchall())
        assert {d for d in kept if kept[d] != now_kept[d]} == {late_day}
        assert now_kept[late_day] == kept[late_day] + 1
        for lang, words in (("zh-CN", ("日报告", "住所", "工作地", "设备关机")),
                            ("en", ("Daily report", "home", "work", "device off"))):
            got = ana.get("/supervisees/P-1/daily-report.csv",
                          params={"day": day.isoformat(), "lang": lang})
            assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
            text = got.content.decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0] == [words[0]] and all(w in text for w in words)
        # The home range over the same days: home first, then work; half the time at home.
        lo = datetime.combine(day - timedelta(days=10), datetime.min.time(), tz)
        hi = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
        hr = ana.get("/supervisees/P-1/home-range", params={
            "start": lo.isoformat(), "end": hi.isoformat()})
        assert hr.status_code == 200, hr.text
        cells = hr.json()["features"]
        ts = np.sort([f.ts for f in fixes])
        held = np.minimum(np.diff(np.append(ts, ts[-1] + 60)), 600.0)
        assert hr.json()["observed_s"] == pytest.approx(float(held.sum()))
        assert sum(c["properties"]["share"] for c in cells) == pytest.approx(1.0)
        core = [c for c in cells if c["properties"]["core"] == "50"]
        centre = [np.mean([p[0] for p in c["geometry"]["coordinates"][0][:-1]]) for c in core]
        assert all(abs(x - float(home_lon)) < 0.01 for x in centre)  # the core is home
        assert sum(c["properties"]["share"] for c in core) >= 0.5
        assert bo.get("/supervisees/P-1/home-range", params={
            "start": lo.isoformat(), "end": hi.isoformat()}).status_code == 404
        assert bo.get("/supervisees/P-1/daily-report",
                      params={"day": day.isoformat()}).status_code == 404
        assert ana.get("/supervisees/P-1/daily-report",
                       params={"day": "2026-13-01"}).status_code == 422
    with psycopg.connect(db_url) as conn:
        trail = conn.execute("SELECT actor, subject, detail->>'as' FROM audit_log "
                             "WHERE action = 'report.daily' ORDER BY id").fetchall()
    assert trail == [("ana", "P-1", "json")] * 3 + [("ana", "P-1", "csv:zh-CN"),
                                                    ("ana", "P-1", "csv:en")]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'home_range.read'"
                            ).fetchone()[0] == 1
