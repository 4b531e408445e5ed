"""The console's live map in a real browser on the real stack: devices gathered into clusters at
low zoom (their counts summing to the devices, coloured by the worst state inside, split by
zooming in), a person's bracelet and phone told apart with the line and distance between
them, and a victim's moving exclusion zone with the live distance (``GET
/supervisees/{id}/victim-zones``: scoped, audited; victims' phones are in no other read)."""

from __future__ import annotations

import math

import httpx
import psycopg
import pytest

from devices.models import Device, Pairing, ProtectionOrder, Supervisee
from store.registry import (
    upsert_device,
    upsert_order,
    upsert_pairing,
    upsert_supervisee,
    upsert_victim,
)
from tests.conftest import add_user, admin_token, sign_in
from tests.test_console import (  # noqa: F401 — fixtures
    alert,
    browser,
    fix,
    run,
    shot,
    sign_in_page,
    township_world,
)
from tests.test_end_to_end import CENTRE

HOME = (CENTRE[0] + 0.05, CENTRE[1] + 0.05)  # P-9's bracelet
PHONE = (HOME[0] + 0.0016, HOME[1])           # P-9's phone, about 150 m east
M_PER_DEG_LAT = 110_900


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Leaflet's distance (a sphere of 6,371 km), as the console computes it."""
    r = 6_371_000
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


async def map_world(db_url: str) -> None:
    """The console's township world (302 devices heard, one in ten silent), and P-9 with a
    paired bracelet and phone and a protection order for V-9, whose phone is 1.5 km north."""
    await township_world(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_supervisee(conn, Supervisee("P-9", "Dana Example", "tx-travis"))
        await upsert_device(conn, Device("br-9", "P-9", "bracelet"))
        await upsert_device(conn, Device("ph-9", "P-9", "phone"))
        await upsert_pairing(conn, Pairing("P-9", "br-9", "ph-9"))
        await upsert_victim(conn, "V-9", "Vera Victim", "tx-travis")
        await upsert_device(conn, Device("vph-9", None, "phone", victim_id="V-9"))
        await upsert_order(conn, ProtectionOrder("P-9", "V-9", "vph-9", 500.0, 700.0))
        await fix(conn, "br-9", 30, *HOME)
        await fix(conn, "ph-9", 30, *PHONE)
        await fix(conn, "vph-9", 30, HOME[0], HOME[1] + 1500 / M_PER_DEG_LAT)


async def victim_fix(db_url: str, north_m: float) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await fix(conn, "vph-9", 0, HOME[0], HOME[1] + north_m / M_PER_DEG_LAT)


@pytest.fixture
def world(db_url, engine_factory):
    run(map_world(db_url))
    engine = engine_factory(db_url, timers_start_after_s="1")
    admin_token(db_url, engine.base)
    return engine


CLUSTERS = """() => {
  const c = window.cordon;
  const m = c.map;
  let inView = 0;
  for (const [id, k] of c.markers) {
    if (m.getBounds().contains([c.dots.lat[k.i], c.dots.lon[k.i]])) inView += 1;
  }
  return { zoom: m.getZoom(), inView, singles: c.dots.singles, devices: c.markers.size,
           clusters: c.dots.clusters.map((x) => ({ count: x.count, state: x.state, x: x.x,
                                                   y: x.y, box: x.box })) };
}"""

# The cluster holding a device: its on-screen point inside the cluster's box.
CLUSTER_OF = """(id) => {
  const c = window.cordon;
  const k = c.markers.get(id);
  const p = c.map.latLngToContainerPoint([c.dots.lat[k.i], c.dots.lon[k.i]]);
  const hit = c.dots.clusters.find((x) => p.x >= x.box[0] - 0.5 && p.x <= x.box[2] + 0.5
                                       && p.y >= x.box[1] - 0.5 && p.y <= x.box[3] + 0.5);
  return hit ? hit.state : null;
}"""


def test_devices_cluster_at_low_zoom_and_split_when_zoomed(world, browser, db_url):  # noqa: F811
    async def raise_one() -> int:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            return await alert(conn, "S-005", "home", "curfew", "b-005", 60)

    run(raise_one())
    page = browser.new_page(viewport={"width": 1400, "height": 860}, locale="en-US")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_page(page, world.base)
    page.wait_for_function("() => window.cordon.markers.size === 304", timeout=20_000)
    page.wait_for_function("() => window.cordon.roster.alerts.size >= 1")
    page.wait_for_function("() => window.cordon.dots.clusters.length > 0")
    page.wait_for_timeout(300)  # the last frame drawn with the states
    seen = page.evaluate(CLUSTERS)
    assert seen["zoom"] < 14
    # Every device is either in one cluster or drawn alone: the counts add up.
    assert seen["inView"] == 304
    assert sum(c["count"] for c in seen["clusters"]) + seen["singles"] == 304, seen
    assert all(c["count"] >= 2 for c in seen["clusters"])
    # Worst state inside: S-005 is in violation; b-000, b-010, … silent for three hours.
    assert page.evaluate(CLUSTER_OF, "b-005") == "violation"
    states = {c["state"] for c in seen["clusters"]}
    assert "silent" in states, states
    legend = page.locator("#map-legend").inner_text()
    for word in ("compliant", "in violation", "silent", "bracelet", "phone"):
        assert word in legend, legend
    shot(page, "map-clusters-en.png")

    # A click on the biggest cluster zooms in: the devices part.
    biggest = max(seen["clusters"], key=lambda c: c["count"])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + biggest["x"], box["y"] + biggest["y"])
    page.wait_for_function(f"() => window.cordon.map.getZoom() > {seen['zoom']}")
    page.wait_for_timeout(600)  # the zoom animation, then a frame
    zoomed = page.evaluate(CLUSTERS)
    assert zoomed["zoom"] > seen["zoom"]
    biggest_after = max((c["count"] for c in zoomed["clusters"]), default=1)
    assert biggest_after < biggest["count"], (biggest, zoomed)
    assert sum(c["count"] for c in zoomed["clusters"]) + zoomed["singles"] == zoomed["inView"]

    # Close enough, no clusters at all: every device in view is its own dot.
    page.evaluate("() => window.cordon.map.setZoom(14, { animate: false })")
    page.wait_for_function("() => window.cordon.dots.clusters.length === 0")
    page.wait_for_timeout(200)
    close = page.evaluate(CLUSTERS)
    assert close["singles"] == close["inView"] > 0
    assert not errors, errors


def test_person_bracelet_phone_and_victim_zone_live(world, browser, db_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 860}, locale="en-US")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_page(page, world.base)
    page.wait_for_function("() => window.cordon.markers.size === 304", timeout=20_000)
    # The registry is loaded page by page beside the positions: wait for every dot's device.
    page.wait_for_function("() => [...window.cordon.markers.keys()].every("
                           "(id) => window.cordon.roster.devices.has(id))", timeout=20_000)
    # The victim's phone is no supervisee's device: not on the map as a dot.
    assert not page.evaluate("() => window.cordon.markers.has('vph-9')")
    # A bracelet is drawn round, a phone square.
    kinds = page.evaluate("""() => ['br-9', 'ph-9'].map(
        (id) => window.cordon.dots.kind[window.cordon.markers.get(id).i])""")
    assert kinds == [0, 1]

    page.click("#tabs [data-tab=caseload]")
    page.fill("#caseload-search", "P-9")
    page.wait_for_function("() => window.cordon.caseload.rows.length === 1")
    page.click("#caseload-rows .row[data-supervisee-id='P-9']")
    page.wait_for_selector("#person-distances li.pair-distance")

    # The line between bracelet and phone, with their distance on the map and in the panel.
    expected = round(haversine(HOME, PHONE))
    pair = page.evaluate("() => window.cordon.personLive.pair.distance")
    assert abs(pair - expected) < 1.5, (pair, expected)
    label = page.locator(".leaflet-tooltip.distance-label").inner_text()
    assert label == f"{round(pair)} m", label
    text = page.locator("#person-distances li.pair-distance").inner_text()
    assert f"Bracelet br-9 – phone ph-9: {round(pair)} m apart" == text, text
    # Their dots stay out of any cluster.
    assert page.evaluate("""() => ['br-9', 'ph-9'].every(
        (id) => window.cordon.dots.alone[window.cordon.markers.get(id).i] === 1
                || window.cordon.dots.clusters.length === 0)""")

    # The victim's zone: a circle of enter_m around the victim's phone, the distance to it.
    page.wait_for_function("() => window.cordon.personLive.victims.has('V-9')")
    v = page.evaluate("""() => { const v = window.cordon.personLive.victims.get('V-9');
        return { lat: v.lat, lon: v.lon, distance: v.distance, r: v.circle.getRadius() }; }""")
    assert v["r"] == 500
    assert abs(v["distance"] - 1500) < 10, v
    zone_label = page.locator(".leaflet-tooltip.victim-zone-label")
    assert zone_label.inner_text() == f"Protected person V-9 · {round(v['distance']):,} m"
    assert "1,50" in page.locator("#person-distances li.victim-distance").inner_text()
    assert "exclusion zone" in page.locator("#person-body").inner_text()

    # The victim walks towards the person: the zone follows the phone, the distance updates.
    run(victim_fix(db_url, 900))
    page.wait_for_function(f"""() => {{
        const v = window.cordon.personLive.victims.get('V-9');
        return v && v.lat < {v['lat'] - 0.004}; }}""", timeout=15_000)
    moved = page.evaluate("""() => { const v = window.cordon.personLive.victims.get('V-9');
        return { lat: v.lat, distance: v.distance,
                 centre: v.circle.getLatLng().lat }; }""")
    assert abs(moved["distance"] - 900) < 10, moved
    assert moved["centre"] == moved["lat"]
    assert zone_label.inner_text() == f"Protected person V-9 · {round(moved['distance'])} m"
    assert f"{round(moved['distance'])} m away" in page.locator(
        "#person-distances li.victim-distance").inner_text()

    # Inside the zone: the panel marks it.
    run(victim_fix(db_url, 300))
    page.wait_for_selector("#person-distances li.victim-distance.inside", timeout=15_000)

    # In Chinese, for the screenshot.
    page.select_option("#locale", "zh-CN")
    page.wait_for_function("""() => document.querySelector('.leaflet-tooltip.victim-zone-label')
        .textContent.startsWith('被保护人 V-9')""")
    assert page.locator(".leaflet-tooltip.distance-label").inner_text().endswith("米")
    assert "手环 br-9 与手机 ph-9 相距" in page.locator("#person-distances").inner_text()
    page.wait_for_timeout(300)
    shot(page, "person-victim-zh.png")

    # Every read of the victims' zones is in the audit trail, as a position read.
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT actor, detail FROM audit_log WHERE action = "
                            "'victim_zones.read' AND subject = 'P-9'").fetchall()
    assert len(rows) >= 3 and rows[0][0] == "admin"
    assert rows[0][1]["victim_ids"] == ["V-9"] and rows[0][1]["jurisdiction_id"] == "tx-travis"
    assert not errors, errors


def test_victim_zones_api_is_scoped(world, db_url):
    token = admin_token(db_url, world.base)
    r = httpx.get(f"{world.base}/api/v1/supervisees/P-9/victim-zones", timeout=10,
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["person_fix"]["device_id"] in ("br-9", "ph-9")
    [zone] = doc["victim_zones"]
    assert zone["victim_id"] == "V-9" and zone["device_id"] == "vph-9"
    assert (zone["enter_m"], zone["exit_m"]) == (500, 700)
    assert abs(zone["distance_m"] - 1500) < 20, zone
    # No victim name, no track: the phone's newest fix only.
    assert "victim_name" not in zone and set(zone["fix"]) == {
        "device_id", "ts", "lon", "lat", "accuracy_m"}
    # Someone holding only a township cannot see a county's person, nor their victim.
    add_user(db_url, "east", {"tx-travis-east": "officer"})
    east = sign_in(world.base, "east")
    r = httpx.get(f"{world.base}/api/v1/supervisees/P-9/victim-zones", timeout=10,
                  headers={"Authorization": f"Bearer {east}"})
    assert r.status_code == 404
    r = httpx.get(f"{world.base}/api/v1/supervisees/P-1/victim-zones", timeout=10,
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["victim_zones"] == []
    # Victims' phones are in no positions read.
    r = httpx.get(f"{world.base}/api/v1/positions", params={"since_s": 86400}, timeout=10,
                  headers={"Authorization": f"Bearer {token}"})
    assert "vph-9" not in {p["device_id"] for p in r.json()["positions"]}
