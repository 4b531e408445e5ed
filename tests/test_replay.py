"""Replay and "explain this alert": the API (``GET /alerts/{id}/explain``, a person's device
events) scoped and audited, and the console's replay in a real browser — a person's day played
on a real time axis, and the jump from an alert in the queue to its explained replay, in both
languages. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from alerts.episodes import AlertChange, EpisodeKey
from devices.models import Device, Jurisdiction, ProtectionOrder
from store.registry import upsert_device, upsert_jurisdiction, upsert_order, upsert_victim
from tests.conftest import add_user, admin_token, sign_in
from tests.test_console import WATCH, browser, shot, sign_in_page  # noqa: F401 — a fixture
from tests.test_end_to_end import CENTRE, M_PER_DEG_LAT, seed

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()
T0 = NOW - 1800  # the approach starts half an hour ago
# P-1's phone walks south to north through the 300 m protected residence (victim-1, centred
# on CENTRE): metres north of the centre, one fix a minute, accuracy 12 m (18 m as the engine
# scales it): -600 outside, -310 uncertain (10 m from the edge), then inside.
APPROACH = [-900, -600, -310, -200, -150, -100, -50, 0, 50, 100]


def at(metres_north: float) -> tuple[float, float]:
    return CENTRE[0], CENTRE[1] + metres_north / M_PER_DEG_LAT


async def replay_world(db_url: str) -> dict[str, int]:
    """The end-to-end seed, a Hays County with nobody of ours in it, P-1's approach to the
    protected residence with the alert it raised, a strap event, and a protection order with the
    victim's phone near the end of the walk."""
    from store.alerts import apply_change

    await seed(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("tx-hays", "Hays County", "county", "tx"))
        for i, north in enumerate(APPROACH):
            lon, lat = at(north)
            await conn.execute(
                "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, battery,"
                " source) VALUES ('ph-1', to_timestamp(%s), now(), %s, %s, 12, 70, 'native')",
                (T0 + 60 * i, lon, lat))
        for i in range(20):  # P-2 walks east, a fix a minute, over the same half hour
            await conn.execute(
                "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, source) "
                "VALUES ('br-2', to_timestamp(%s), now(), %s, %s, 8, 'native')",
                (T0 + 90 * i, CENTRE[0] - 0.03 + 0.001 * i, CENTRE[1] - 0.01))
        await conn.execute(
            "INSERT INTO device_events (device_id, ts, received_at, event) "
            "VALUES ('ph-1', to_timestamp(%s), now(), 'charger_off')", (T0 + 150,))
        started = T0 + 60 * APPROACH.index(-200)
        zone_alert = await apply_change(conn, AlertChange(
            "opened", EpisodeKey("P-1", "victim-1", "exclusion_entry"), "ph-1", started,
            *at(-200), "high"))
        await upsert_victim(conn, "v-1", "Victim One", "tx-travis")
        await upsert_device(conn, Device("vph-1", None, "phone", "v-1"))
        await upsert_order(conn, ProtectionOrder("P-1", "v-1", "vph-1", 400.0, 600.0))
        lon, lat = at(300)
        for i in range(APPROACH.index(-100), len(APPROACH)):  # 5 s before each of P-1's
            await conn.execute(
                "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, source) "
                "VALUES ('vph-1', to_timestamp(%s), now(), %s, %s, 10, 'native')",
                (T0 + 60 * i - 5, lon, lat))
        victim_alert = await apply_change(conn, AlertChange(
            "opened", EpisodeKey("P-1", "v-1", "victim_proximity"), "ph-1",
            T0 + 60 * APPROACH.index(-50), *at(-50), "critical"))
    return {"zone": zone_alert, "victim": victim_alert}


@pytest.fixture
def replay_engine(db_url, engine_factory):
    ids = asyncio.run(replay_world(db_url))
    engine = engine_factory(db_url)
    admin_token(db_url, engine.base)
    add_user(db_url, "bo", {"tx-hays": "officer"})
    add_user(db_url, "ana", {"tx-travis": "officer"})
    return engine, ids


def test_explain_marks_the_deciding_fixes_with_thresholds_scoped_and_audited(replay_engine):
    engine, ids = replay_engine
    r = engine.get(f"/alerts/{ids['zone']}/explain")
    assert r.status_code == 200, r.text
    ex = r.json()
    assert ex["alert"]["id"] == ids["zone"] and ex["alert"]["kind"] == "exclusion_entry"
    assert ex["zone"]["id"] == "victim-1" and ex["zone"]["properties"]["radius_m"] == 300
    assert ex["thresholds"]["accuracy_factor"] == 1.5
    assert ex["thresholds"]["confirm_fixes"] == 2  # the engine's setting in the tests
    assert ex["thresholds"]["confirm_gap_s"] == 180
    assert ex["end"] - ex["start"] == 1800
    mine = [f for f in ex["fixes"] if f["device_id"] == "ph-1"]
    by_north = dict(zip(APPROACH, mine, strict=True))
    # Distances to the boundary, measured (negative inside), within a metre or so.
    assert by_north[-600]["distance_m"] == pytest.approx(300, abs=2)
    assert by_north[0]["distance_m"] == pytest.approx(-300, abs=2)
    assert by_north[-310]["distance_m"] == pytest.approx(10, abs=2)
    assert by_north[-310]["accuracy_used_m"] == 18
    assert (by_north[-600]["decision"], by_north[-600]["verdict"]) == ("outside", "compliant")
    assert (by_north[-310]["decision"], by_north[-310]["verdict"]) == ("uncertain", "uncertain")
    assert (by_north[-200]["decision"], by_north[-200]["verdict"]) == ("inside", "violating")
    assert [n for n, f in by_north.items() if f["deciding"]] == [-200, -150]
    assert [e["event"] for e in ex["events"]] == ["charger_off"]

    # Victim proximity: the victim's fix is there, marked as such; the order's thresholds.
    v = engine.get(f"/alerts/{ids['victim']}/explain").json()
    assert v["victim_device_id"] == "vph-1"
    assert (v["thresholds"]["enter_m"], v["thresholds"]["exit_m"]) == (400, 600)
    victim = [f for f in v["fixes"] if f["role"] == "victim"]
    assert len(victim) == 5 and {f["device_id"] for f in victim} == {"vph-1"}
    after = [f for f in v["fixes"] if f["role"] == "supervisee" and f["ts"] > victim[0]["ts"]]
    assert after[0]["distance_m"] == pytest.approx(400, abs=3)  # at -100 m, victim at +300 m
    assert [f["verdict"] for f in after] == ["uncertain", "violating", "violating", "violating",
                                             "violating"]
    assert [f["deciding"] for f in after] == [False, True, True, False, False]

    # Outside the caller's reach the alert does not exist; inside it, the look is audited.
    bo = sign_in(engine.base, "bo")
    assert engine.get(f"/alerts/{ids['zone']}/explain", token=bo).status_code == 404
    assert engine.get("/alerts/999999/explain").status_code == 404
    ana = sign_in(engine.base, "ana")
    assert engine.get(f"/alerts/{ids['zone']}/explain", token=ana).status_code == 200
    trail = engine.get("/audit", action="alert.explained").json()["entries"]
    assert [(e["actor"], e["subject"]) for e in trail][:1] == [("ana", str(ids["zone"]))]
    assert trail[0]["detail"]["supervisee_id"] == "P-1"
    assert trail[0]["detail"]["fixes"] == len(ex["fixes"])


def test_device_events_of_a_person_scoped_and_audited(replay_engine):
    engine, _ = replay_engine
    span = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 86400)),
            "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 60))}
    r = engine.get("/supervisees/P-1/device-events", **span)
    assert r.status_code == 200, r.text
    assert [(e["device_id"], e["event"]) for e in r.json()["events"]] == [("ph-1", "charger_off")]
    bo = sign_in(engine.base, "bo")
    assert engine.get("/supervisees/P-1/device-events", token=bo, **span).status_code == 404
    assert engine.get("/supervisees/P-1/device-events", start="2026-01-01T00:00:00",
                      end="2026-01-02T00:00:00").status_code == 422
    trail = engine.get("/audit", action="device_events.read").json()["entries"]
    assert trail[0]["subject"] == "P-1" and trail[0]["detail"]["events"] == 1


def local(epoch: float) -> str:
    """A datetime-local input's value, in UTC (the pages run with timezone_id UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(epoch))


def clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch))


def open_page(browser, base: str, locale: str = "en-US"):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 860}, locale=locale,
                            timezone_id="UTC")
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in_page(page, base)
    return page, errors


def test_replay_plays_a_persons_day_on_the_clock_in_both_languages(replay_engine, browser):  # noqa: F811
    engine, ids = replay_engine
    page, errors = open_page(browser, engine.base)
    page.wait_for_function("() => window.cordon.roster.supervisees.size >= 2", timeout=20_000)
    page.click("#tabs [data-tab=replay]")
    assert page.locator("#replay-load").inner_text() == "Load"
    page.fill("#replay-person", "P-1")
    page.fill("#replay-person2", "P-2")
    page.fill("#replay-start", local(T0 - 600))
    page.fill("#replay-end", local(NOW + 120))
    page.click("#replay-load")
    page.wait_for_selector("#replay-controls", state="visible", timeout=10_000)
    page.wait_for_function("() => window.cordon.replay.people.length === 2")
    # Starts at the first fix, the real clock time shown.
    first = page.evaluate("() => window.cordon.replay.t")
    assert abs(first - T0) < 1
    assert clock(T0) in page.locator("#replay-time").inner_text()
    assert page.locator("#replay-summary").inner_text() == "P-1: 10 fixes · P-2: 20 fixes"
    # The timeline: the two alerts and the device event of the interval.
    assert page.locator("#replay-timeline .mark-alert").count() == 2
    assert page.locator("#replay-timeline .mark-event").count() == 1
    # Every gap is a minute or a minute and a half: green segments only.
    gaps = page.evaluate("""() => { const out = new Set();
        window.cordon.layers.replay.eachLayer((l) => { if (l.gapClass) out.add(l.gapClass); });
        return [...out]; }""")
    assert gaps == ["short"]
    assert "< 2 min between fixes" in page.locator("#replay-legend").inner_text()
    where = "() => window.cordon.replay.people[0].tracks[0].marker.getLatLng().lat"
    lat0 = page.evaluate(where)
    slider0 = page.input_value("#replay-slider")

    page.select_option("#replay-speed", "600")
    page.uncheck("#replay-skip")
    page.click("#replay-play")
    assert page.locator("#replay-play").inner_text() == "Pause"
    page.wait_for_function(f"() => window.cordon.replay.t > {T0 + 240}", timeout=10_000)
    page.click("#replay-play")  # pause
    t = page.evaluate("() => window.cordon.replay.t")
    assert page.evaluate(where) > lat0  # walking north
    assert int(page.input_value("#replay-slider")) > int(slider0)
    assert clock(t) in page.locator("#replay-time").inner_text()
    # Accuracy circles around the fixes near the playhead.
    near = page.evaluate("() => window.cordon.replay.people[0].tracks[0].near.getLayers().length")
    assert 4 <= near <= 7
    # The slider seeks.
    page.locator("#replay-slider").fill(str(int(T0 + 60 * 7)))
    page.wait_for_function(f"() => Math.abs(window.cordon.replay.t - {T0 + 420}) < 1")
    page.wait_for_timeout(300)
    shot(page, "replay-en.png")

    page.select_option("#locale", "zh-CN")
    page.wait_for_function(
        "() => document.querySelector('#tabs [data-tab=replay]').textContent === '轨迹回放'")
    assert page.locator("#replay-play").inner_text() == "播放"
    assert "跳过静止时段" in page.locator("#view-replay").inner_text()
    assert "定位间隔 < 2 分钟" in page.locator("#replay-legend").inner_text()
    assert page.locator("#replay-summary").inner_text() == "P-1：10 个定位点 · P-2：20 个定位点"
    assert clock(page.evaluate("() => window.cordon.replay.t")) in page.locator(
        "#replay-time").inner_text()
    page.wait_for_timeout(300)
    shot(page, "replay-zh.png")
    assert page.evaluate("() => window.__violations") == []
    assert errors == []


def test_explain_an_alert_from_the_queue_and_the_person_view(replay_engine, browser):  # noqa: F811
    engine, ids = replay_engine
    page, errors = open_page(browser, engine.base)
    row = page.locator(f"#alerts li.alert[data-alert-id='{ids['zone']}']")
    row.wait_for(timeout=20_000)
    row.locator(".explain-btn").click()
    page.wait_for_selector("#replay-explain", state="visible", timeout=10_000)
    assert page.locator("#tabs [data-tab=replay]").get_attribute("aria-selected") == "true"
    box = page.locator("#replay-explain")
    text = box.inner_text()
    assert "Why this alert: Entered exclusion zone" in text
    assert "Protected residence" in text
    assert "Fixes to confirm" in text and "Accuracy × factor" in text
    assert "Fixes that decided it (2)" in text
    assert box.locator("ol.deciding li").count() == 2
    assert "certainly inside" in box.locator("ol.deciding li").first.inner_text()
    # The playhead at the alert's start, the deciding fixes marked on the map, the zone drawn.
    assert abs(page.evaluate("() => window.cordon.replay.t") - (T0 + 180)) < 1
    marked = page.evaluate("""() => { let n = 0, zone = 0;
        window.cordon.layers.replay.eachLayer((l) => {
          if (l.options.className === 'deciding-fix') n += 1;
          if (l.options.radius === 300) zone += 1; });
        return [n, zone]; }""")
    assert marked == [2, 1]
    page.wait_for_timeout(300)
    shot(page, "explain-en.png")
    page.select_option("#locale", "zh-CN")
    page.wait_for_function(
        "() => document.getElementById('replay-explain').innerText.includes('告警依据')")
    text = box.inner_text()
    assert "确认所需定位点数" in text and "判定依据的定位点（2 个）" in text
    assert "确定在区域内" in text
    page.wait_for_timeout(300)
    shot(page, "explain-zh.png")
    page.select_option("#locale", "en")

    # The person view's alerts have the button too: the victim alert explained from there.
    page.click("#tabs [data-tab=alerts]")
    page.locator("#alerts li.incident[data-supervisee-id='P-1'] .who").click()
    page.wait_for_selector(f"#person-body li[data-alert-id='{ids['victim']}'] .explain-btn")
    page.click(f"#person-body li[data-alert-id='{ids['victim']}'] .explain-btn")
    page.wait_for_function(
        "() => document.getElementById('replay-explain').innerText.includes('Near protected')")
    text = box.inner_text()
    assert "Alert within" in text and "400 m" in text and "600 m" in text
    assert box.locator("ol.deciding li").count() == 2
    for name in ("replay-en.png", "replay-zh.png", "explain-en.png", "explain-zh.png"):
        path = ROOT / "docs" / "screenshots" / name
        assert not path.exists() or path.stat().st_size < 300_000, name
    assert page.evaluate("() => window.__violations") == []
    assert errors == []
