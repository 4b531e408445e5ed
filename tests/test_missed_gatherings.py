"""The gathering history feeds the gathering rule: a meeting the nightly pass found that no
real-time alert covered is raised once, for review, on the caseload of each person the rule
would have alerted, marked as the nightly pass's; and a gathering alert's explanation shows how
often the pair met over the last 30 days, within the caller's reach, audited."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.episodes import AlertChange, EpisodeKey
from alerts.plans import ALERT_KINDS, SupervisionPlan
from devices.fixes import FixBatch
from devices.models import Device, Supervisee
from store.alerts import apply_change
from store.colocations import TogetherSettings, colocation_pass
from store.fixes import insert_fixes
from store.missed_gatherings import ACTOR, subject_of
from store.registry import upsert_device, upsert_plan, upsert_supervisee
from tests.test_api_access import client, world
from tests.test_console import browser  # noqa: F401 — a fixture
from tests.test_together import walk


async def people_and_meetings(db_url: str, t0: float) -> None:
    """On the day of ``t0``: P-1 and P-2 walk together for 30 minutes (no alert of theirs);
    H-1 and P-1 for 30 minutes later, which the engine did alert; R-1 (a plan without the
    gathering rule) and R-2, twice; C-1 and C-2, of different cases, under a plan that compares
    co-defendants only. The next day P-1 and P-2 meet again."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_plan(conn, SupervisionPlan(
            "no-gathering", rules=frozenset(ALERT_KINDS) - {"gathering"}))
        await upsert_plan(conn, SupervisionPlan("codefendants", gathering_codefendants_only=True))
        for sid, plan, case in (("R-1", "no-gathering", None), ("R-2", None, None),
                                ("C-1", "codefendants", "2026-A"),
                                ("C-2", "codefendants", "2026-B")):
            await upsert_supervisee(conn, Supervisee(sid, sid, "tx-travis", (), plan, case))
            await upsert_device(conn, Device(f"d-{sid}", sid, "phone"))
        fixes = walk("ph-1", t0, 30, 0.0, 750.0, 0.0)
        fixes += walk("br-2", t0, 30, 0.0, 750.0, 20.0)
        fixes += walk("ph-1", t0 + 7200, 30, 3000.0, 3000.0, 0.0)
        fixes += walk("hb-1", t0 + 7200, 30, 3000.0, 3000.0, 15.0)
        fixes += walk("d-R-1", t0, 30, 6000.0, 6000.0, 0.0)
        fixes += walk("d-R-2", t0, 30, 6000.0, 6000.0, 10.0)
        fixes += walk("d-R-1", t0 + 4 * 3600, 25, 6500.0, 6500.0, 0.0)
        fixes += walk("d-R-2", t0 + 4 * 3600, 25, 6500.0, 6500.0, 10.0)
        fixes += walk("d-C-1", t0, 30, 9000.0, 9000.0, 0.0)
        fixes += walk("d-C-2", t0, 30, 9000.0, 9000.0, 10.0)
        fixes += walk("ph-1", t0 + 86400, 40, 500.0, 500.0, 0.0)
        fixes += walk("br-2", t0 + 86400, 40, 500.0, 500.0, 12.0)
        await insert_fixes(conn, FixBatch.from_fixes(fixes))
        key = EpisodeKey("H-1", "P-1", "gathering")
        await apply_change(conn, AlertChange("opened", key, "hb-1", t0 + 7200 + 1200, -97.7,
                                             30.27))
        await apply_change(conn, AlertChange("cleared", key, "hb-1", t0 + 7200 + 1900, -97.7,
                                             30.27))


def gathering_alerts(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT a.id, a.supervisee_id, a.subject, a.status, a.severity, "
            "extract(epoch FROM a.started_at)::float8, extract(epoch FROM a.ended_at)::float8, "
            "e.actor, n.companion_id FROM alerts a "
            "JOIN alert_events e ON e.alert_id = a.id AND e.action = 'opened' "
            "LEFT JOIN nightly_gathering_alerts n ON n.alert_id = a.id "
            "WHERE a.kind = 'gathering' ORDER BY a.started_at, a.supervisee_id").fetchall()


@pytest.mark.asyncio
async def test_missed_meetings_are_raised_once_for_review_and_explained_with_their_history(
        db_url, engine_factory):
    await world(db_url)
    with psycopg.connect(db_url) as conn:
        zone = conn.execute("SELECT timezone FROM jurisdictions WHERE id = 'tx-travis'"
                            ).fetchone()[0]
    tz = ZoneInfo(zone)
    day = (datetime.now(tz) - timedelta(days=4)).date()
    t0 = datetime.combine(day, datetime.min.time(), tz).timestamp() + 9 * 3600
    await people_and_meetings(db_url, t0)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        first = await colocation_pass(conn, day, zone, TogetherSettings(), now=t0 + 86400)
        again = await colocation_pass(conn, day, zone, TogetherSettings())
        await conn.commit()
    assert first.meetings == again.meetings == 5
    assert (first.alerts, again.alerts) == (3, 0)  # P-1 and P-2 each, R-2; nothing twice
    nightly = [r for r in gathering_alerts(db_url) if r[7] == ACTOR]
    assert [(r[1], r[2], r[3], r[4], r[8]) for r in nightly] == [
        ("P-1", subject_of("P-2", day), "open", "low", "P-2"),
        ("P-2", subject_of("P-1", day), "open", "low", "P-1"),
        ("R-2", subject_of("R-1", day), "open", "low", "R-1")]
    assert all(abs(r[5] - t0) <= 60 for r in nightly)
    assert all(1700 <= r[6] - r[5] <= 2200 for r in nightly[:2])
    assert 4 * 3600 + 1400 <= nightly[2][6] - nightly[2][5] <= 4 * 3600 + 1900  # both, as one
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT supervisee_id, meetings FROM nightly_gathering_alerts "
                            "ORDER BY supervisee_id").fetchall() == [
            ("P-1", 1), ("P-2", 1), ("R-2", 2)]
    # The real-time alert of H-1 with P-1 covered their meeting: nothing raised for it.
    assert [(r[1], r[7]) for r in gathering_alerts(db_url) if "H-1" in (r[1], r[8])] == [
        ("H-1", "engine")]

    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        nxt = await colocation_pass(conn, day + timedelta(days=1), zone, TogetherSettings())
        await conn.commit()
    assert (nxt.meetings, nxt.alerts) == (1, 2)
    p1_latest = [r for r in gathering_alerts(db_url) if r[1] == "P-1" and r[7] == ACTOR][-1]

    engine = engine_factory(db_url)
    with client(engine, "ana") as ana, client(engine, "bo") as bo:
        queue = ana.get("/alerts", params={"status": "live", "kind": "gathering"})
        assert queue.status_code == 200, queue.text
        assert {(a["supervisee_id"], a["subject"]) for a in queue.json()["alerts"]} >= {
            ("P-1", subject_of("P-2", day)), ("P-1", subject_of("P-2", day + timedelta(1)))}
        r = ana.get(f"/alerts/{p1_latest[0]}/explain")
        assert r.status_code == 200, r.text
        g = r.json()["gathering"]
        assert (g["companion_id"], g["meetings_count"], g["found_by"]) == (
            "P-2", 2, "nightly_pass")
        assert g["nightly"]["day"] == (day + timedelta(days=1)).isoformat()
        assert g["last_start"] == pytest.approx(t0 + 86400, abs=60)
        assert 68 <= g["minutes"] <= 82
        assert bo.get(f"/alerts/{p1_latest[0]}/explain").status_code == 404
        h1 = [x for x in gathering_alerts(db_url) if x[1] == "H-1"][0]
        g = bo.get(f"/alerts/{h1[0]}/explain").json()["gathering"]
        assert (g["companion_id"], g["meetings_count"], g["found_by"]) == ("P-1", 1, "engine")
        zone_alert = ana.get("/alerts", params={"kind": "exclusion_entry"}).json()["alerts"][0]
        assert ana.get(f"/alerts/{zone_alert['id']}/explain").json()["gathering"] is None
    with psycopg.connect(db_url) as conn:
        trail = conn.execute("SELECT actor, subject, detail FROM audit_log "
                             "WHERE action = 'alert.explained' ORDER BY id").fetchall()
    assert [(a, s, d.get("kept_meetings")) for a, s, d in trail][:2] == [
        ("ana", str(p1_latest[0]), 2), ("bo", str(h1[0]), 1)]


def test_the_console_explains_a_gathering_with_the_pairs_history(db_url, engine_factory,
                                                                  browser):  # noqa: F811
    """From the queue, an officer opens a gathering alert the nightly pass raised and reads
    how often the pair met, in both languages."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from tests.test_console import WATCH, shot

    async def setup() -> tuple[date, str]:
        await world(db_url)
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            cur = await conn.execute("SELECT timezone FROM jurisdictions WHERE id = 'tx-travis'")
            zone = (await cur.fetchone())[0]
            tz = ZoneInfo(zone)
            day = (datetime.now(tz) - timedelta(days=4)).date()
            t0 = datetime.combine(day, datetime.min.time(), tz).timestamp() + 9 * 3600
            await people_and_meetings(db_url, t0)
            for d in (day, day + timedelta(days=1)):
                await colocation_pass(conn, d, zone, TogetherSettings())
            await conn.commit()
        return day, zone

    # In a thread of its own: Playwright's synchronous API holds this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        day, _ = pool.submit(asyncio.run, setup()).result()
    newest = [r for r in gathering_alerts(db_url) if r[1] == "P-1" and r[7] == ACTOR][-1]
    engine = engine_factory(db_url)
    page = browser.new_page(viewport={"width": 1400, "height": 860}, locale="en-US",
                            timezone_id="UTC")
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(engine.base + "/")
    page.fill("#login-form input[name=username]", "ana")
    page.fill("#login-form input[name=password]", "correct horse battery staple")
    page.click("#login-form button")
    page.wait_for_selector("#login", state="hidden")
    row = page.locator(f"#alerts li.alert[data-alert-id='{newest[0]}']")
    row.wait_for(timeout=20_000)
    row.locator(".explain-btn").click()
    page.wait_for_selector("#replay-explain", state="visible", timeout=10_000)
    page.wait_for_function(
        "() => document.getElementById('replay-explain').innerText.includes('Met 2 times')")
    text = page.locator("#replay-explain").inner_text()
    assert "This pair's meetings (nightly pass, last 30 days)" in text
    assert "Raised by the nightly co-location pass" in text
    assert page.locator("#replay-explain ol.gathering-meetings li").count() == 2
    page.locator("#replay-explain ol.gathering-meetings").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    shot(page, "gathering-history-en.png")
    page.select_option("#locale", "zh-CN")
    page.wait_for_function(
        "() => document.getElementById('replay-explain').innerText.includes('共聚集 2 次')")
    assert "由夜间同行比对发出" in page.locator("#replay-explain").inner_text()
    page.locator("#replay-explain ol.gathering-meetings").scroll_into_view_if_needed()
    shot(page, "gathering-history-zh.png")
    assert page.evaluate("() => window.__violations") == []
    assert errors == []
