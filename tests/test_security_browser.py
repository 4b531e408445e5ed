"""Stored script in the console: names and ids that reach the map (zones imported through the
API, a jurisdiction, a supervisee and a device from the registry) are shown as text in tooltips
and in the alert panel, never run; and every response carries a strict Content-Security-Policy
that the console keeps to itself, and that blocks script injected into the page."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest

from alerts.episodes import AlertChange, EpisodeKey
from devices.models import Device, Supervisee
from store.alerts import apply_change
from store.registry import upsert_device, upsert_supervisee
from tests.conftest import admin_token
from tests.test_demo import CHROMIUM, CHROMIUM_ARGS
from tests.test_end_to_end import CENTRE, seed

PASSWORD = "correct horse battery staple"
CIRCLE_ZONE = '<img src=x onerror="window.__pwned=1">'
POLYGON_ZONE = '<img src=x onerror="window.__pwned=2">Closed school'
COUNTY = 'Travis <img src=x onerror="window.__pwned=3">'
SUPERVISEE = 'S<img src=x onerror="window.__pwned=4">'
DEVICE = 'd<img src=x onerror="window.__pwned=5">'
CIRCLE_AT = (CENTRE[0] - 0.04, CENTRE[1] + 0.03)  # clear of the seed's victim-1 at CENTRE
DEVICE_AT = (CENTRE[0] - 0.05, CENTRE[1] - 0.03)
POLYGON_AT = (CENTRE[0] + 0.06, CENTRE[1] - 0.07)

# Every securitypolicyviolation of the page, from before its first script.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  { directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample }));
"""


async def hostile_world(db_url: str) -> None:
    """The end-to-end seed (Texas › Travis), with Travis renamed to markup, and a supervisee
    and a device whose ids are markup, seen a minute ago."""
    await seed(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await conn.execute("UPDATE jurisdictions SET name = %s WHERE id = 'tx-travis'", (COUNTY,))
        await upsert_supervisee(conn, Supervisee(SUPERVISEE, "Markup Person", "tx-travis"))
        await upsert_device(conn, Device(DEVICE, SUPERVISEE, "bracelet"))
        await conn.execute(
            "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, source) "
            "VALUES (%s, now() - interval '1 minute', now(), %s, %s, 8, 'native')",
            (DEVICE, *DEVICE_AT))


async def alert_in(db_url: str, zone_id: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await apply_change(conn, AlertChange(
            "opened", EpisodeKey(SUPERVISEE, zone_id, "exclusion_entry"), DEVICE,
            time.time() - 30, *CIRCLE_AT))


def square(lon: float, lat: float, half: float = 0.008) -> list[list[list[float]]]:
    return [[[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
             [lon - half, lat + half], [lon - half, lat - half]]]


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.fixture
def hostile_engine(db_url, engine_factory):
    asyncio.run(hostile_world(db_url))
    engine = engine_factory(db_url)
    token = admin_token(db_url, engine.base)
    r = httpx.post(
        f"{engine.base}/api/v1/zones/import", params={"jurisdiction_id": "tx-travis"},
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
        json={"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "markup-circle",
             "properties": {"kind": "exclusion", "radius_m": 800, "name": CIRCLE_ZONE},
             "geometry": {"type": "Point", "coordinates": list(CIRCLE_AT)}},
            {"type": "Feature", "id": "markup-polygon",
             "properties": {"kind": "exclusion", "name": POLYGON_ZONE},
             "geometry": {"type": "Polygon", "coordinates": square(*POLYGON_AT)}},
        ]})
    assert r.status_code == 200 and r.json()["stored"] == 2, r.text
    asyncio.run(alert_in(db_url, "markup-circle"))
    return engine


def test_headers_are_strict_on_the_console_and_its_api(hostile_engine):
    base = hostile_engine.base
    for path in ("/", "/static/js/main.js", "/static/vendor/leaflet/leaflet.css", "/api/v1/health",
                 "/openapi.json"):
        r = httpx.get(base + path, timeout=10)
        assert r.status_code == 200, path
        csp = directives(r.headers["content-security-policy"])
        assert csp["default-src"] == ["'self'"], path
        assert csp["script-src"] == ["'self'"], path
        assert csp["style-src"] == ["'self'"], path
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], path
        assert csp["frame-ancestors"] == ["'none'"], path
        assert set(csp["img-src"]) == {"'self'", "data:", "blob:"}, path
        assert csp["connect-src"][0] == "'self'", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
    # FastAPI's docs pages load Swagger UI / ReDoc from a CDN with an inline bootstrap: a policy
    # of their own, still with no framing, no plugins and no <base>.
    for path in ("/docs", "/redoc"):
        r = httpx.get(base + path, timeout=10)
        assert r.status_code == 200, path
        csp = directives(r.headers["content-security-policy"])
        assert "https://cdn.jsdelivr.net" in csp["script-src"], path
        assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"], path


def test_hostile_names_show_as_text_and_nothing_runs(hostile_engine, tmp_path):
    from playwright.sync_api import sync_playwright

    base = hostile_engine.base
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=[*CHROMIUM_ARGS, "--enable-unsafe-swiftshader"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        # (The page's policy refuses eval: Playwright's waits get functions, not expressions.)
        page.add_init_script(WATCH_VIOLATIONS)
        errors: list[str] = []
        console: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))

        response = page.goto(base + "/")
        csp = directives(response.headers["content-security-policy"])
        assert csp["script-src"] == ["'self'"]
        page.fill("#login-form input[name=username]", "admin")
        page.fill("#login-form input[name=password]", PASSWORD)
        page.click("#login-form button")
        page.wait_for_selector("#login", state="hidden")
        page.wait_for_function("() => window.cordon.markers.size >= 1", timeout=20_000)
        page.wait_for_function("() => window.cordon.layers.zones.getLayers().length >= 3",
                               timeout=20_000)
        page.wait_for_selector("#alerts li", timeout=20_000)
        # The live feed connects under the policy (connect-src).
        page.wait_for_function(
            "() => document.getElementById('feed-state').textContent === 'connected'",
            timeout=10_000)

        # Hover the imported circle zone, as an officer would.
        # (Once the zoom to the counties is over: its end would undo the view set meanwhile.)
        page.wait_for_function("() => !window.cordon.map._animatingZoom")
        page.evaluate(f"window.cordon.map.setView([{CENTRE[1]}, {CENTRE[0]}], 12, "
                      "{ animate: false })")
        page.wait_for_timeout(300)
        assert page.evaluate("window.cordon.map.getZoom()") == 12
        x, y = page.evaluate(f"""(() => {{
            const p = window.cordon.map.latLngToContainerPoint([{CIRCLE_AT[1]}, {CIRCLE_AT[0]}]);
            const r = document.getElementById('map').getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }})()""")
        # Leaflet's canvas drops a mouse move within 32 ms of the last one it handled: moves
        # apart, the last one in the zone.
        for dx, dy in ((-40, -40), (0, 0), (1, 1)):
            page.mouse.move(x + dx, y + dy)
            page.wait_for_timeout(100)
        hovered_zone = ("[...window.cordon.layers.zones.getLayers()]"
                        ".filter((l) => l.isTooltipOpen()).map((l) => l.getTooltip())")
        page.wait_for_function(f"() => {hovered_zone}.length === 1", timeout=5_000)
        page.wait_for_timeout(300)  # time for an <img src=x> in it to fail and fire onerror
        page.screenshot(path=str(tmp_path / "xss.png"))
        hovered = page.evaluate(f"{hovered_zone}[0].getElement().innerText")
        # The device, a dot on the map's one canvas: its tooltip opens when the mouse is on it.
        dx, dy = page.evaluate(f"""(() => {{
            const d = window.cordon.roster.positions.get({DEVICE!r});
            const p = window.cordon.map.latLngToContainerPoint([d.lat, d.lon]);
            const r = document.getElementById('map').getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }})()""")
        for ox, oy in ((-30, -30), (0, 0), (1, 0)):
            page.mouse.move(dx + ox, dy + oy)
            page.wait_for_timeout(100)
        page.wait_for_function(
            f"() => [...document.querySelectorAll('.leaflet-tooltip')]"
            f".some((t) => t.innerText.includes({DEVICE!r}))", timeout=5_000)
        # And every other tooltip: the zones and the county.
        page.evaluate("""(() => {
            const c = window.cordon;
            c.layers.zones.eachLayer((l) => { if (!l.isTooltipOpen()) l.openTooltip(); });
            c.layers.boundaries.eachLayer((g) => g.eachLayer((l) => l.openTooltip()));
        })()""")
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "xss-all.png"))

        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0
        assert not [u for u in requests if u.rstrip("/").endswith("/x")], requests
        # The console keeps to its own policy: nothing of its own was refused.
        assert page.evaluate("window.__violations") == []
        assert not [m for m in console if "Content Security Policy" in m], console
        assert errors == []
        # The names read as they were written.
        assert hovered == CIRCLE_ZONE
        tips = page.locator(".leaflet-tooltip").all_inner_texts()
        for text in (CIRCLE_ZONE, POLYGON_ZONE, COUNTY, f"{SUPERVISEE} · {DEVICE}"):
            assert text in tips, (text, tips)
        assert page.locator("#alerts li .where").first.inner_text() == CIRCLE_ZONE
        assert page.locator("#alerts li .who").first.inner_text() == SUPERVISEE
        assert "Entered exclusion zone" in page.locator("#alerts li").first.inner_text()

        # Markup that did reach the page could not run: an inline handler and an inline script
        # are refused by the policy.
        page.evaluate("""(() => {
            const d = document.createElement('div');
            d.innerHTML = '<img src="/static/none.png" onerror="window.__injected = 1">';
            document.body.append(d);
            const s = document.createElement('script');
            s.textContent = 'window.__inline = 1';
            document.head.append(s);
        })()""")
        page.wait_for_function("() => window.__violations.length >= 2", timeout=5_000)
        assert page.evaluate("typeof window.__injected") == "undefined"
        assert page.evaluate("typeof window.__inline") == "undefined"
        refused = {v["directive"] for v in page.evaluate("window.__violations")}
        assert refused <= {"script-src-attr", "script-src-elem"}, refused

        # FastAPI's /docs has its own policy: its inline bootstrap is not refused (here, with no
        # internet, the CDN's Swagger UI does not load and the bootstrap fails on its own).
        docs = browser.new_page()
        docs.add_init_script(WATCH_VIOLATIONS)
        docs.goto(base + "/docs")
        assert docs.evaluate("window.__violations") == []
        browser.close()
