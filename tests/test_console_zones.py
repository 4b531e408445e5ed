"""Zones and "since you last looked" in the console, in a real browser on the real stack: an
officer draws a curfew around a person's home, assigns it, and the engine enforces it on fixes
published over MQTT; zones are exported and imported as GeoJSON; the panel after sign-in shows
what happened while the officer was away; and after the engine restarts the alert list is the
server's. Screenshots of the zone editor go to docs/screenshots/."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from alerts.lifecycle import Action
from store.alerts import act_on_alert
from tests.conftest import add_user, sign_in
from tests.test_console import (  # noqa: F401 — fixtures
    SHOTS,
    WATCH,
    alert,
    alert_row,
    browser,
    console,
    run,
    shot,
    sign_in_page,
)
from tests.test_end_to_end import CENTRE, publish

HOME = (CENTRE[0] - 0.02, CENTRE[1])  # where P-2's bracelet was last heard
AWAY = (CENTRE[0] - 0.02, CENTRE[1] + 0.02)  # 2 km north, still in Travis County


def open_page(browser, base: str, locale: str = "en-US"):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale=locale)
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_page(page, base)
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent === 'connected'",
        timeout=20_000)
    return page, errors


def click_map_at(page, lon: float, lat: float) -> None:
    x, y = page.evaluate("""([lat, lon]) => {
        const p = window.cordon.map.latLngToContainerPoint([lat, lon]);
        return [p.x, p.y]; }""", [lat, lon])
    page.locator("#map").click(position={"x": x, "y": y})


def test_officer_draws_a_curfew_and_the_engine_enforces_it(console, browser, mosquitto):  # noqa: F811
    page, errors = open_page(browser, console.base)
    page.wait_for_selector("#since", state="visible")
    page.click("#since-close")
    page.click("#tabs [data-tab=zones]")
    page.wait_for_function("() => document.querySelectorAll('#zone-list li').length >= 2")
    page.select_option("#zone-jurisdiction", "tx-travis")
    page.click("#zone-new-circle")
    page.evaluate("([lat, lon]) => window.cordon.map.setView([lat, lon], 15)",
                  [HOME[1], HOME[0]])
    page.wait_for_timeout(300)
    click_map_at(page, *HOME)
    page.wait_for_function("() => window.cordon.zones.editing.centre !== null")
    form = page.locator("#zone-form")
    form.locator("input[name=name]").fill("Curfew: home of P-2")
    form.locator("select[name=kind]").select_option("inclusion")
    form.locator("input[name=radius]").fill("150")
    form.locator("input[name=scheduled]").check()
    # Every day, from an hour ago to two hours from now, in the county's time zone (UTC here).
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:00"), (
        now + timedelta(hours=2)).strftime("%H:00")
    window = page.locator("#zone-windows li").first
    window.locator("input.start").fill(start)
    window.locator("input.end").fill(end)
    assert window.locator(".days input:checked").count() == 7
    assert "UTC" in page.locator("#zone-tz").inner_text()
    form.locator("input[name=assign]").fill("P-2")
    shot(page, "zones-en.png")
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => document.getElementById('zone-message').textContent.startsWith('Saved')")
    assert form.is_hidden()

    features = console.get("/zones").json()["features"]
    curfew = next(f for f in features if f["properties"]["name"] == "Curfew: home of P-2")
    assert curfew["geometry"]["type"] == "Point" and curfew["properties"]["radius_m"] == 150
    assert abs(curfew["geometry"]["coordinates"][0] - HOME[0]) < 0.0005
    schedule = curfew["properties"]["schedule"]
    assert schedule["timezone"] == "UTC" and schedule["windows"][0]["start"] == start
    assert curfew["id"] in console.get("/supervisees/P-2").json()["supervisee"]["zone_ids"]
    assert console.get("/audit", action="zone.created").json()["entries"][0]["subject"] == (
        curfew["id"])

    # P-2's bracelet reports from 2 km away during the curfew: the engine (it reloads the
    # registry within a second) raises a curfew alert, and it appears in the queue.
    page.click("#tabs [data-tab=alerts]")
    deadline = time.monotonic() + 60
    while True:
        fix = [{"ts": time.time(), "lon": AWAY[0], "lat": AWAY[1], "acc": 8.0}]
        run(publish(mosquitto.url, [("cordon/devices/br-2/fixes", orjson.dumps(fix))]))
        row = page.locator("#alerts li.incident[data-supervisee-id='P-2']")
        if row.count() and "Curfew: not at home" in row.inner_text():
            break
        assert time.monotonic() < deadline, page.locator("#alerts").inner_text()
        page.wait_for_timeout(1000)
    alerts = console.get("/alerts", supervisee_id="P-2", kind="curfew").json()["alerts"]
    assert alerts and alerts[0]["subject"] == curfew["id"]

    # The same zone in the editor, in Chinese.
    page.select_option("#locale", "zh-CN")
    page.click("#tabs [data-tab=zones]")
    page.locator(f"#zone-list li[data-zone-id='{curfew['id']}']").click()
    assert "宵禁" in page.locator(f"#zone-list li[data-zone-id='{curfew['id']}']").inner_text()
    page.wait_for_function("() => !document.getElementById('zone-form').hidden")
    assert page.locator("#zone-form-title").inner_text() == f"区域 {curfew['id']}"
    assert "P-2" in page.locator("#zone-assigned").inner_text()
    assert page.locator("#zone-windows .day").first.inner_text() == "周一"
    shot(page, "zones-zh.png")
    page.select_option("#locale", "en")
    assert page.evaluate("() => window.__violations") == []
    assert errors == []
    for name in ("zones-en.png", "zones-zh.png"):
        assert (SHOTS / name).stat().st_size < 300_000, name


def test_zones_are_exported_and_imported_as_geojson(console, browser, tmp_path):  # noqa: F811
    page, errors = open_page(browser, console.base)
    page.click("#tabs [data-tab=zones]")
    page.wait_for_function("() => document.querySelectorAll('#zone-list li').length >= 2")
    page.select_option("#zone-jurisdiction", "tx-travis")
    with page.expect_download() as download:
        page.click("#zone-export")
    saved = tmp_path / "zones.geojson"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["type"] == "FeatureCollection"
    assert {f["id"] for f in exported["features"]} == {"travis-line", "victim-1"}

    # An import: two good features (a polygon and a corridor) and one bad (a circle without
    # a radius), which is reported and not stored.
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "park", "properties": {"name": "Zilker Park",
                                                         "kind": "exclusion"},
         "geometry": {"type": "Polygon", "coordinates": [[
             [-97.775, 30.265], [-97.765, 30.265], [-97.765, 30.272], [-97.775, 30.265]]]}},
        {"type": "Feature", "id": "route", "properties": {"name": "Route to work",
                                                          "kind": "inclusion", "width_m": 120},
         "geometry": {"type": "LineString", "coordinates": [[-97.75, 30.27], [-97.73, 30.28]]}},
        {"type": "Feature", "id": "broken", "properties": {"name": "No radius",
                                                           "kind": "exclusion"},
         "geometry": {"type": "Point", "coordinates": [-97.74, 30.27]}},
    ]}
    page.set_input_files("#zone-import", files=[{
        "name": "new.geojson", "mimeType": "application/geo+json",
        "buffer": json.dumps(doc).encode()}])
    page.wait_for_function("() => document.getElementById('zone-message').textContent"
                           ".includes('Imported 2 zones; 1 rejected')")
    assert "Feature 3: zone broken: a circle needs a positive properties.radius_m" in (
        page.locator("#zone-message").inner_text())
    page.wait_for_selector("#zone-list li[data-zone-id='route']")
    assert "corridor" in page.locator("#zone-list li[data-zone-id='route']").inner_text()
    stored = {f["id"]: f for f in console.get("/zones").json()["features"]}
    assert stored["park"]["properties"]["jurisdiction_id"] == "tx-travis"
    assert "broken" not in stored
    # The imported corridor opens in the editor with its points, ready to change.
    page.locator("#zone-list li[data-zone-id='route']").click()
    assert page.evaluate("() => window.cordon.zones.editing.points.length") == 2
    assert page.locator("#zone-form input[name=width]").input_value() == "120"
    assert page.evaluate("() => window.__violations") == []
    assert errors == []


def test_since_you_last_looked_shows_what_happened_while_away(console, browser, db_url):  # noqa: F811
    # The officer signed in this morning (the fixture's admin did too); then, while away, an
    # alert is raised and a colleague resolves another.
    add_user(db_url, "colleague", {"tx-travis": "officer"})
    sign_in(console.base, "admin")

    async def away() -> int:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            raised = await alert(conn, "S-004", "victim-1", "exclusion_entry", "b-004", 20)
            other = await alert(conn, "S-007", "br-7", "strap_tamper", "b-007", 10)
            await act_on_alert(conn, other, Action.RESOLVED, "colleague", "false alarm")
            return raised

    raised = run(away())
    page, errors = open_page(browser, console.base)
    page.wait_for_selector("#since", state="visible")
    text = page.locator("#since").inner_text()
    assert "Since you last signed in" in text
    assert "New alerts: 2" in text and "Person 004" in text and "Entered exclusion zone" in text
    assert "Resolved by others: 1" in text and "by colleague" in text
    assert page.locator(f"#since li[data-alert-id='{raised}']").count() == 1
    page.select_option("#locale", "zh-CN")
    assert "新告警：2" in page.locator("#since").inner_text()
    page.select_option("#locale", "en")
    # A person named there opens in the person view.
    page.locator(f"#since li[data-alert-id='{raised}'] button.who").click()
    page.wait_for_function(
        "() => document.querySelector('#person-body .person-name')?.textContent"
        ".includes('Person 004')")
    page.click("#since-close")
    assert page.locator("#since").is_hidden()
    # Signed in again, nothing new since.
    page2, _ = open_page(browser, console.base)
    page2.wait_for_selector("#since", state="visible")
    assert "Nothing changed" in page2.locator("#since").inner_text()
    assert errors == []


def test_the_list_is_right_after_the_engine_restarts(console, browser, db_url):  # noqa: F811
    async def opening() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            return {"a": await alert(conn, "S-010", "victim-1", "exclusion_entry", "b-010", 30),
                    "b": await alert(conn, "S-011", "victim-1", "exclusion_entry", "b-011", 30)}

    ids = run(opening())
    page, errors = open_page(browser, console.base)
    alert_row(page, ids["a"]).wait_for(timeout=10_000)
    alert_row(page, ids["b"]).wait_for()
    console.stop()
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent !== 'connected'",
        timeout=20_000)

    async def meanwhile() -> int:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            await alert(conn, "S-010", "victim-1", "exclusion_entry", "b-010", 1,
                        action="cleared")
            return await alert(conn, "S-012", "victim-1", "exclusion_entry", "b-012", 5)

    new_id = run(meanwhile())
    page.wait_for_timeout(3000)  # retrying against a server that is not there
    assert alert_row(page, ids["a"]).count() == 1
    console.start()
    page.wait_for_function(
        "() => document.getElementById('feed-state').textContent === 'connected'",
        timeout=30_000)
    alert_row(page, new_id).wait_for(timeout=10_000)
    alert_row(page, ids["a"]).wait_for(state="detached", timeout=10_000)
    assert alert_row(page, ids["b"]).count() == 1
    assert errors == []
