"""The daily report in the console, in a real browser on the real stack: opened from the person
view, it shows a commuter's day (hours at home and at work, the hour the phone was off as a gap
with its cause), follows the language switch, prints on its own (the print stylesheet hides the
console; Chromium's PDF of it is made) and downloads as CSV; the person's home range over 30 days
is drawn and hidden; the state's monthly bulletin opens from the caseload. Screenshots go to
docs/screenshots/report-*.png, home-range-en.png and bulletin-zh.png."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from shapely.geometry import Point

from devices.fixes import FixBatch
from geofence.zones import Zone
from store.fixes import insert_fixes
from store.registry import upsert_zone
from tests.test_console import (  # noqa: F401 — fixtures
    PASSWORD,
    WATCH,
    browser,
    console,
    run,
    shot,
)
from tests.test_end_to_end import CENTRE
from tests.test_history import offset
from tests.test_reports import commute


def test_the_daily_report_reads_prints_and_speaks_both_languages(
        console, browser, db_url, tmp_path):  # noqa: F811
    with psycopg.connect(db_url) as conn:
        tz_name = conn.execute("SELECT j.timezone FROM supervisees s JOIN jurisdictions j "
                               "ON j.id = s.jurisdiction_id WHERE s.id = 'P-1'").fetchone()[0]
    tz = ZoneInfo(tz_name)
    day = (datetime.now(tz) - timedelta(days=2)).date()

    home = offset(CENTRE[0], CENTRE[1], np.array(0.0), np.array(2000.0))  # as commute()'s

    async def store() -> None:
        fixes = []
        for k in range(6, 0, -1):
            fixes += commute("ph-1", day - timedelta(days=k), tz)
        fixes += commute("ph-1", day, tz, off=(12.0, 13.0))
        noon = datetime.combine(day, datetime.min.time(), tz).timestamp() + 12 * 3600
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            await insert_fixes(conn, FixBatch.from_fixes(fixes))
            await conn.execute(
                "INSERT INTO device_events (device_id, ts, received_at, event) "
                "VALUES ('ph-1', to_timestamp(%s), now(), 'power_off')", (noon,))
            await upsert_zone(conn, Zone("P-1-home", "home", "inclusion", "circle",
                                         Point(float(home[0]), float(home[1])), 60.0,
                                         jurisdiction_id="tx-travis"))
            await conn.execute("UPDATE supervisees SET home_zone_id = 'P-1-home' "
                               "WHERE id = 'P-1'")

    run(store())
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(console.base + "/")
    page.evaluate("() => localStorage.setItem('cordon.locale', 'en')")
    page.fill("#login-form input[name=username]", "admin")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("#login", state="hidden")
    page.wait_for_function("() => window.cordon.roster.supervisees.size > 0", timeout=20_000)
    if page.locator("#since").is_visible():
        page.click("#since-close")
    page.evaluate("(d) => window.cordon.openReport('P-1', d)", day.isoformat())
    page.wait_for_function("() => window.cordon.report.shown && window.cordon.report.shown.report",
                           timeout=20_000)
    sheet = page.locator("#report-sheet")
    assert sheet.is_visible()
    assert page.locator("#report-day").input_value() == day.isoformat()
    facts = sheet.locator(".report-facts").inner_text()
    assert "Slept at\nhome" in facts or "Slept at\thome" in facts
    assert "device switched off" in sheet.inner_text()
    assert sheet.locator("table").count() == 4
    shot(page, "report-en.png")
    # The language switch redraws it; the headings come from the catalogue.
    page.evaluate("() => window.cordon.setLocale('zh-CN')")
    page.wait_for_function(
        "() => document.querySelector('#report-body .report-title').textContent"
        ".startsWith('日报告')")
    assert "设备关机" in sheet.inner_text() and "住所" in sheet.inner_text()
    shot(page, "report-zh.png")
    # Printed, only the report: the console around it is not on paper.
    page.emulate_media(media="print")
    assert not page.locator("#map").is_visible() and not page.locator("#panel").is_visible()
    assert sheet.is_visible() and not page.locator("#report-print").is_visible()
    pdf = page.pdf(path=str(tmp_path / "report.pdf"), format="A4")
    assert pdf[:5] == b"%PDF-" and len(pdf) > 10_000
    page.emulate_media(media="screen")
    # The CSV, as a download, in Chinese.
    with page.expect_download() as got:
        page.click("#report-csv-zh-CN")
    text = open(got.value.path(), encoding="utf-8-sig").read()
    assert text.startswith("日报告") and "设备关机" in text
    page.click("#report-close")
    assert not sheet.is_visible()
    # The person's home range: H3 cells shaded by their share of the last 30 days, the core
    # (half the time) outlined — home is the core.
    page.evaluate("() => window.cordon.setLocale('en')")
    page.click("#tabs [data-tab=caseload]")
    page.fill("#caseload-search", "P-1")
    page.click("#caseload-rows .row[data-supervisee-id='P-1']")
    page.wait_for_selector("#person-body .range-btn")
    page.click("#person-body .range-btn")
    page.wait_for_function("() => window.cordon.homeRange.cells > 0", timeout=20_000)
    summary = page.locator("#person-body .range-summary").inner_text()
    assert "Half of the" in summary
    assert page.locator("#person-body .range-btn").inner_text() == "Hide home range"
    shot(page, "home-range-en.png")
    page.click("#person-body .range-btn")
    page.wait_for_function("() => window.cordon.homeRange.cells === 0")
    # The monthly bulletin of the state, from the caseload: a row per county, in Chinese too.
    page.click("#tabs [data-tab=caseload]")
    page.click("#bulletin-open")
    page.wait_for_function("() => window.cordon.report.shown"
                           " && window.cordon.report.shown.kind === 'month'"
                           " && window.cordon.report.shown.report")
    assert sheet.locator(".report-title").inner_text().startswith("Monthly bulletin")
    assert page.locator("#report-month").is_visible() and not page.locator(
        "#report-day").is_visible()
    regions = sheet.locator("table").first.inner_text()
    assert "Travis County" in regions and "Total" in regions
    page.evaluate("() => window.cordon.setLocale('zh-CN')")
    page.wait_for_function(
        "() => document.querySelector('#report-body .report-title').textContent"
        ".startsWith('月通报')")
    assert "严管" in sheet.inner_text() and "合计" in sheet.inner_text()
    assert page.locator("#report-heading").inner_text() == "月通报"
    shot(page, "bulletin-zh.png")
    page.click("#report-close")
    assert errors == []
