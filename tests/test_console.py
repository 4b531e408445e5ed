"""The officer's console in a real browser on the real stack: sign in, work the alert queue
(acknowledge; resolve with a note, cause and outcome; an escalation; the list rebuilt after
the feed comes back), switch between English and Chinese, and search and filter the caseload
(a virtualised list) down the jurisdiction tree. Screenshots of the main views go to
docs/screenshots/."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from alerts.episodes import AlertChange, EpisodeKey
from alerts.plans import SupervisionPlan
from devices.models import Device, Jurisdiction, Supervisee
from store.alerts import apply_change
from store.registry import upsert_device, upsert_jurisdiction, upsert_plan, upsert_supervisee
from tests.conftest import admin_token
from tests.test_demo import CHROMIUM, CHROMIUM_ARGS
from tests.test_end_to_end import CENTRE, seed

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  { directive: e.violatedDirective, blocked: e.blockedURI }));
"""


async def fix(conn: psycopg.AsyncConnection, device: str, ago_s: float, lon: float,
              lat: float, battery: float | None = 80) -> None:
    await conn.execute(
        "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, battery, source) "
        "VALUES (%s, now() - make_interval(secs => %s), now(), %s, %s, 12, %s, 'native')",
        (device, ago_s, lon, lat, battery))


async def alert(conn: psycopg.AsyncConnection, sid: str, subject: str, kind: str, device: str,
                ago_s: float = 30, severity: str = "high", action: str = "opened") -> int:
    return await apply_change(conn, AlertChange(
        action, EpisodeKey(sid, subject, kind), device, time.time() - ago_s,
        CENTRE[0] + 0.01, CENTRE[1] + 0.01, severity))


async def township_world(db_url: str) -> None:
    """The end-to-end seed (Texas › Travis County, P-1 with a phone, P-2 with a bracelet) with
    two townships, a plan that escalates after 20 s, one that raises only zone alerts, and
    ``S-000``… ``S-299`` spread over the townships."""
    await seed(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        for jid, name in (("tx-travis-east", "East Township"), ("tx-travis-west", "West Township")):
            await upsert_jurisdiction(conn, Jurisdiction(jid, name, "township", "tx-travis"))
        await upsert_plan(conn, SupervisionPlan.from_settings("fast", {"escalate_after_s": 20}),
                          "Fast escalation")
        await upsert_plan(conn, SupervisionPlan.from_settings(
            "zones-only", {"rules": ["exclusion_entry", "inclusion_exit"]}), "Zones only")
        await upsert_supervisee(conn, Supervisee("P-1", "Alice Example", "tx-travis",
                                                 ("travis-line", "victim-1"), "fast"))
        await fix(conn, "ph-1", 60, CENTRE[0] + 0.01, CENTRE[1] + 0.01)
        await fix(conn, "br-2", 120, CENTRE[0] - 0.02, CENTRE[1], battery=18)
        for i in range(300):
            sid = f"S-{i:03d}"
            township = "tx-travis-east" if i % 3 == 0 else "tx-travis-west"
            await upsert_supervisee(conn, Supervisee(sid, f"Person {i:03d}", township,
                                                     plan_id="zones-only"))
            await upsert_device(conn, Device(f"b-{i:03d}", sid, "bracelet"))
            # One in ten silent for three hours; the rest heard a minute ago.
            await fix(conn, f"b-{i:03d}", 3 * 3600 if i % 10 == 0 else 60,
                      CENTRE[0] - 0.1 + (i % 20) * 0.01, CENTRE[1] - 0.1 + (i // 20) * 0.01)


def run(coro):
    """Run a coroutine to its end from a test that drives Playwright's synchronous API (which
    keeps an event loop of its own in this thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def sign_in_page(page, base: str) -> None:
    page.goto(base + "/")
    page.fill("#login-form input[name=username]", "admin")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("#login", state="hidden")


def alert_row(page, alert_id: int):
    return page.locator(f"#alerts li.alert[data-alert-id='{alert_id}']")


@pytest.fixture
def console(db_url, engine_factory):
    asyncio.run(township_world(db_url))
    engine = engine_factory(db_url, timers_start_after_s="1")
    admin_token(db_url, engine.base)
    return engine


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=[*CHROMIUM_ARGS, "--enable-unsafe-swiftshader"])
        yield b
        b.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Every face on screen loaded (a CJK subset arrives when its first character is drawn).
    page.evaluate("() => document.fonts.ready.then(() => document.fonts.status)")
    page.wait_for_timeout(200)
    page.screenshot(path=str(SHOTS / name), type="png")


def test_officer_works_the_alert_queue_in_both_languages(console, browser, db_url):
    async def opening() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            return {
                "zone": await alert(conn, "P-1", "victim-1", "exclusion_entry", "ph-1", 40),
                "strap": await alert(conn, "P-1", "br-x", "strap_tamper", "ph-1", 10),
                "battery": await alert(conn, "P-2", "br-2", "low_battery_warning", "br-2", 300,
                                       "medium"),
                "curfew": await alert(conn, "S-001", "home", "curfew", "b-001", 600),
            }

    ids = run(opening())
    page = browser.new_page(viewport={"width": 1400, "height": 860}, locale="en-US")
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_page(page, console.base)
    page.wait_for_function("() => document.querySelectorAll('#alerts li.alert').length >= 4",
                           timeout=20_000)
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent === 'connected'")
    text = page.locator("#alerts").inner_text()
    for label in ("Entered exclusion zone", "Strap tamper", "Battery low",
                  "Curfew: not at home"):
        assert label in text, (label, text)
    # The two alerts of P-1 half a minute apart are one incident; P-1's plan escalates after
    # 20 s, and the queue counts down to it.
    incident = page.locator("#alerts li.incident[data-supervisee-id='P-1']")
    assert "multi" in incident.get_attribute("class")
    assert incident.locator("li.alert").count() == 2
    assert "Incident: 2 related alerts" in incident.inner_text()
    assert "escalates in 0:" in alert_row(page, ids["zone"]).locator(".countdown").inner_text()
    assert "escalates in 14:" in alert_row(page, ids["battery"]).inner_text()  # default 900 s

    # Sound on, so that a critical alert beeps.
    page.click("#sound")
    assert page.get_attribute("#sound", "aria-pressed") == "true"

    # Acknowledge the battery alert, then resolve it with a note, a cause and an outcome.
    alert_row(page, ids["battery"]).locator(".ack-btn").click()
    page.wait_for_function(f"""() => document.querySelector(
        "#alerts li.alert[data-alert-id='{ids['battery']}'] .acked") !== null""")
    shot(page, "console-alerts-en.png")
    alert_row(page, ids["battery"]).locator(".resolve-btn").click()
    page.wait_for_selector("#resolve", state="visible")
    page.select_option("#resolve-form select[name=cause]", "battery")
    page.select_option("#resolve-form select[name=outcome]", "device_serviced")
    page.fill("#resolve-form textarea[name=note]", "Rang her; the bracelet is charging.")
    page.click("#resolve-form button[type=submit]")
    page.wait_for_selector("#resolve", state="hidden")
    alert_row(page, ids["battery"]).wait_for(state="detached")
    detail = console.get(f"/alerts/{ids['battery']}").json()
    assert detail["alert"]["status"] == "resolved"
    steps = [(h["action"], h["actor"]) for h in detail["history"]]
    assert steps == [("opened", "engine"), ("acknowledged", "admin"), ("resolved", "admin")]
    last = detail["history"][-1]
    assert (last["note"], last["cause"], last["outcome"]) == (
        "Rang her; the bracelet is charging.", "battery", "device_serviced")
    trail = console.get("/audit", action="alert.resolved").json()["entries"]
    assert trail[0]["detail"]["cause"] == "battery"

    # The engine escalates P-1's zone alert (nobody acknowledged it in 20 s): it stays in the
    # queue, critical, flashing, and it beeped.
    page.wait_for_function(f"""() => {{
        const li = document.querySelector("#alerts li.alert[data-alert-id='{ids['zone']}']");
        return li && li.classList.contains('escalated') && li.classList.contains('critical');
    }}""", timeout=40_000)
    row = alert_row(page, ids["zone"])
    assert "escalated" in row.locator(".escalated-at").inner_text()
    assert row.locator(".severity").inner_text().lower() == "critical"
    assert row.evaluate("(li) => getComputedStyle(li).animationName") == "critical-flash"
    assert page.evaluate("() => window.cordon.sound.beeps") >= 1

    # The feed goes down; meanwhile the curfew episode ends and a new alert opens. When it is
    # back, the list is the server's: the cleared alert is gone, the new one is there.
    page.evaluate("() => window.cordon.feed.pause()")
    page.wait_for_function("() => document.getElementById('feed-state').textContent === 'paused'")

    async def meanwhile() -> int:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            await alert(conn, "S-001", "home", "curfew", "b-001", 1, action="cleared")
            return await alert(conn, "S-002", "victim-1", "victim_proximity", "b-002", 5,
                               "critical")

    new_id = run(meanwhile())
    page.wait_for_timeout(500)
    assert alert_row(page, ids["curfew"]).count() == 1  # nothing told the page yet
    page.evaluate("() => window.cordon.feed.resume()")
    alert_row(page, ids["curfew"]).wait_for(state="detached", timeout=10_000)
    alert_row(page, new_id).wait_for(timeout=10_000)
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent === 'connected'")
    assert "Near protected victim" in alert_row(page, new_id).inner_text()

    # 中文, and back. The Chinese glyphs come from the vendored font.
    page.select_option("#locale", "zh-CN")
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent === '已连接'")
    text = page.locator("#alerts").inner_text()
    assert "进入禁止区域" in text and "腕带被破坏" in text and "接近被保护人" in text
    assert page.locator("#tabs [data-tab=caseload]").inner_text() == "矫正对象"
    assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
    page.wait_for_function("""() => [...document.fonts].some((f) =>
        f.family.includes('Cordon Noto Sans SC') && f.status === 'loaded')""", timeout=10_000)
    assert page.evaluate("() => document.fonts.check('14px \"Cordon Noto Sans SC\"', '进入')")
    assert "Cordon Noto Sans SC" in page.evaluate(
        "() => getComputedStyle(document.querySelector('#alerts .kind')).fontFamily")
    page.wait_for_timeout(300)
    shot(page, "console-alerts-zh.png")
    alert_row(page, new_id).locator(".resolve-btn").click()
    page.wait_for_selector("#resolve", state="visible")
    options = page.locator("#resolve-form select[name=cause] option").all_inner_texts()
    assert "信号弱或定位漂移" in options
    shot(page, "console-resolve-zh.png")
    page.click("#resolve-cancel")
    # The choice is remembered.
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#alerts li.alert').length >= 3",
                           timeout=20_000)
    assert page.locator("#tabs [data-tab=alerts]").inner_text() == "告警"
    page.select_option("#locale", "en")
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent === 'connected'",
        timeout=10_000)
    assert "Entered exclusion zone" in page.locator("#alerts").inner_text()
    assert page.locator("#tabs [data-tab=alerts]").inner_text() == "Alerts"
    assert page.evaluate("() => window.__violations") == []
    assert errors == []
    for name in ("console-alerts-en.png", "console-alerts-zh.png", "console-resolve-zh.png"):
        assert (SHOTS / name).stat().st_size < 400_000, name


def test_caseload_is_searched_filtered_and_drilled_by_jurisdiction(console, browser, db_url):
    async def opening() -> None:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            await alert(conn, "S-004", "victim-1", "exclusion_entry", "b-004")
            await alert(conn, "S-005", "travis-line", "inclusion_exit", "b-005")

    run(opening())
    page = browser.new_page(viewport={"width": 1400, "height": 860}, locale="en-US")
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_page(page, console.base)
    page.wait_for_function("() => window.cordon.markers.size >= 302", timeout=20_000)
    page.click("#tabs [data-tab=caseload]")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 302", timeout=10_000)
    assert page.locator("#caseload-count").inner_text() == "302 of 302 supervisees"
    # Virtualised: only the rows in view are in the page.
    rendered = page.evaluate("() => window.cordon.caseload.rendered()")
    assert 10 <= rendered <= 40, rendered
    page.locator("#caseload-list").evaluate("(box) => { box.scrollTop = box.scrollHeight; }")
    page.wait_for_selector("#caseload-rows .row[data-supervisee-id='S-299']")
    assert page.evaluate("() => window.cordon.caseload.rendered()") <= 40

    # Silent devices are greyed, on the map and in the list; violations are red.
    colour = "(id) => window.cordon.markers.get(id).options.fillColor"
    assert page.evaluate(colour, "b-010") == "#c4c8d0"  # three hours silent
    assert page.evaluate(colour, "b-004") == "#e5484d"  # in violation
    assert page.evaluate(colour, "b-011") == "#3b82f6"  # compliant

    page.fill("#caseload-search", "person 04")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 10")
    page.fill("#caseload-search", "S-123")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 1")
    assert page.locator("#caseload-rows .row").first.get_attribute(
        "data-supervisee-id") == "S-123"
    page.fill("#caseload-search", "")
    page.select_option("#filter-state", "silent")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 30")
    assert all(r.startswith("S-") and int(r[2:]) % 10 == 0 for r in page.evaluate(
        "() => window.cordon.caseload.rows.map((s) => s.id)"))
    assert "silent" in page.locator("#caseload-rows .row").first.inner_text()
    page.select_option("#filter-state", "violation")
    page.wait_for_function("() => window.cordon.caseload.rows.length >= 2")
    ids = page.evaluate("() => window.cordon.caseload.rows.map((s) => s.id)")
    assert {"S-004", "S-005"} <= set(ids)
    page.select_option("#filter-state", "")
    page.select_option("#filter-kind", "inclusion_exit")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 1")
    assert "Left permitted area" in page.locator("#caseload-rows .row").first.inner_text()
    page.select_option("#filter-kind", "")
    page.select_option("#filter-plan", "fast")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 1")
    page.select_option("#filter-plan", "")

    # Down the tree: Texas › Travis County › East Township.
    page.click("#jurisdictions summary")
    page.click("#jurisdiction-tree button[data-jurisdiction-id='tx-travis-east']")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 100")
    assert page.locator("#caseload-count").inner_text() == "100 of 302 supervisees"
    page.click("#jurisdiction-tree button[data-jurisdiction-id='tx-travis']")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 302")
    page.click("#jurisdiction-tree button[data-jurisdiction-id='tx-travis-west']")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 200")
    page.wait_for_timeout(300)
    shot(page, "console-caseload-en.png")
    page.select_option("#locale", "zh-CN")
    page.wait_for_function("() => document.getElementById('caseload-count').textContent"
                           " === '显示 200 / 共 302 名矫正对象'")
    page.wait_for_timeout(300)
    shot(page, "console-caseload-zh.png")

    # A person: devices, plan, zones and alerts.
    page.click("#jurisdiction-tree button[data-jurisdiction-id='']")
    page.fill("#caseload-search", "S-004")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 1")
    page.click("#caseload-rows .row[data-supervisee-id='S-004']")
    page.wait_for_selector("#person-body .person-devices li")
    body = page.locator("#person-body").inner_text()
    assert "b-004" in body and "电子腕带" in body and "进入禁止区域" in body
    page.select_option("#locale", "en")
    page.wait_for_function(
        "() => document.getElementById('person-body').innerText.includes('bracelet')")
    page.wait_for_timeout(300)
    shot(page, "console-person-en.png")
    assert page.evaluate("() => window.__violations") == []
    assert errors == []


def re_keys(name: str) -> list[str]:
    """Every line that looks like an entry, parsed or not."""
    text = (ROOT / "api" / "static" / "js" / "i18n" / name).read_text()
    return re.findall(r'^\s*"[\w.]+":', text, re.MULTILINE)


def catalogue(name: str) -> dict[str, str]:
    text = (ROOT / "api" / "static" / "js" / "i18n" / name).read_text()
    return dict(re.findall(r'^\s*"([\w.]+)": "((?:[^"\\]|\\.)*)",?$', text, re.MULTILINE))


def test_every_alert_kind_and_every_string_is_in_both_catalogues():
    from alerts.plans import ALERT_KINDS

    en, zh = catalogue("en.js"), catalogue("zh-CN.js")
    assert len(en) == len(re_keys("en.js")) > 90
    assert set(en) == set(zh), set(en) ^ set(zh)
    for kind in ALERT_KINDS:
        assert f"kind.{kind}" in en, kind
    assert {k for k in en if k.startswith("kind.")} == {f"kind.{k}" for k in ALERT_KINDS}
    assert all(v for v in zh.values())
