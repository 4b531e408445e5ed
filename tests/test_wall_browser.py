"""The command centre's wall in a real browser on the real stack: in English and in Chinese
(screenshots to docs/screenshots/), every figure on it the API's; a new alert raised by the
engine arrives through the live feed (the periodic refresh is off); a drill-down by clicking a
county on the map and back up; a kiosk screen rotating through the regions and back to the
top, without names, its credential refused by the rest of the API."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest
from bokeh_sampledata.us_counties import records
from shapely.geometry import mapping, shape

from alerts.episodes import AlertChange, EpisodeKey
from devices.models import Device, Jurisdiction, Supervisee
from store.alerts import apply_change
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee
from tests.conftest import admin_token
from tests.test_console import PASSWORD, WATCH, browser, fix, run, shot  # noqa: F401
from tests.test_end_to_end import CENTRE, owntracks, publish, seed

HAYS_ID = "tx-hays"


async def wall_world(db_url: str) -> None:
    """The end-to-end seed (Texas › Travis County with P-1 and P-2) with Hays County beside it,
    two townships under Travis, and 40 more people on the three levels, with devices heard
    lately or long ago, and a few alerts today."""
    await seed(db_url)
    hays = next(r for r in records(state="TX") if r["name"] == "Hays")["geometry"]
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await conn.execute("UPDATE jurisdictions SET timezone = 'America/Chicago'")
        await upsert_jurisdiction(conn, Jurisdiction(HAYS_ID, "Hays County", "county", "tx",
                                                     "America/Chicago"), mapping(hays))
        for jid, name in (("tx-travis-east", "East Township"), ("tx-travis-west", "West Township")):
            await upsert_jurisdiction(conn, Jurisdiction(jid, name, "township", "tx-travis",
                                                         "America/Chicago"))
        hays_centre = shape(hays).representative_point()
        levels = ("strict", "normal", "relaxed")
        for i in range(40):
            sid = f"S-{i:03d}"
            place = (HAYS_ID, "tx-travis-east", "tx-travis-west")[i % 3]
            await upsert_supervisee(conn, Supervisee(sid, f"Person {i:03d}", place,
                                                     plan_id=levels[i % 3]))
            await upsert_device(conn, Device(f"b-{i:03d}", sid, "bracelet"))
            where = (hays_centre.x, hays_centre.y) if place == HAYS_ID else CENTRE
            await fix(conn, f"b-{i:03d}", 3 * 3600 if i % 7 == 0 else 30, *where)
            if i % 5 == 0:
                await apply_change(conn, AlertChange(
                    "opened", EpisodeKey(sid, "home", "curfew"), f"b-{i:03d}",
                    time.time() - 600 + i, *where, "high"))
            if i % 4 == 0:  # positioning orders in force, some ending this week
                await conn.execute(
                    "INSERT INTO positioning_orders (supervisee_id, ground, approver, "
                    "starts_at, ends_at, created_by) VALUES (%s, 'left_area_without_approval',"
                    " 'judge', now() - interval '20 days', now() + make_interval(days => %s),"
                    " 'sue')", (sid, 3 + i))
        # One alert an officer acknowledged after a minute and a half.
        await conn.execute(
            "WITH a AS (UPDATE alerts SET status = 'acknowledged', raised_at = now() - "
            "interval '10 minutes' WHERE supervisee_id = 'S-035' RETURNING id, raised_at) "
            "INSERT INTO alert_events (alert_id, action, actor, at)"
            " SELECT id, 'acknowledged', 'admin', raised_at + interval '90 seconds' FROM a")


@pytest.fixture
def wall(db_url, engine_factory):
    asyncio.run(wall_world(db_url))
    engine = engine_factory(db_url, timers_start_after_s="3600")
    admin_token(db_url, engine.base)
    return engine


def same_figures(page, view: dict) -> None:
    """Every figure on the wall is the API's (all of them but the count escalated are shown)."""
    shown, want = figures_on(page), expected(view)
    assert set(want) - set(shown) == {"alerts.escalated"}
    assert shown == {k: want[k] for k in shown}


def figures_on(page) -> dict[str, str]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#wall-kpis [data-figure]')].map((n) => [n.dataset.figure, n.dataset.value]))""")


def as_js(v: float | None) -> str:
    """A number as the page writes it (String(n): 90, not 90.0)."""
    return "" if v is None else str(int(v)) if float(v).is_integer() else str(v)


def expected(view: dict) -> dict[str, str]:
    out = {}
    for group, values in view["kpis"].items():
        if isinstance(values, dict):
            for k, v in values.items():
                out[f"{group}.{k}"] = as_js(v)
        else:
            out[group] = as_js(values)
    return out


def wait_for_place(page, jid: str) -> None:
    page.wait_for_function(f"() => document.body.dataset.jurisdiction === '{jid}'",
                           timeout=15_000)


def test_the_wall_in_both_languages_with_a_new_alert_live(wall, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="en-US")
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{wall.base}/static/wall.html#j=tx&lang=en&refresh=3600")
    page.fill("#login-form input[name=username]", "admin")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button")
    wait_for_place(page, "tx")
    page.wait_for_function("() => document.getElementById('wall-feed').dataset.state "
                           "=== 'connected'", timeout=15_000)
    view = wall.get("/wall/tx").json()
    same_figures(page, view)
    assert view["kpis"]["people"] == {"total": 42, "strict": 14, "normal": 13, "relaxed": 13,
                                      "other": 2}
    assert page.locator("#wall-top h1").inner_text() == "Command centre"
    assert "Alerts today" in page.locator("#card-alerts").inner_text()
    assert page.locator("#wall-warnings li").count() == 8
    assert view["kpis"]["alerts"]["median_response_s"] == 90.0
    assert page.locator("[data-figure='alerts.median_response_s']").inner_text() == "1.5 min"
    assert "Curfew: not at home" in page.locator("#wall-warnings").inner_text()
    assert "Person 000" in page.locator("#wall-warnings").inner_text()  # a person sees names
    shot(page, "wall-en.png")

    page.select_option("#wall-locale", "zh-CN")
    assert page.locator("#wall-top h1").inner_text() == "社区矫正指挥中心"
    assert "今日告警" in page.locator("#card-alerts").inner_text()
    assert "严管" in page.locator("#card-people").inner_text()
    assert page.title() == "社区矫正指挥中心"
    shot(page, "wall-zh.png")
    # The same layout on a 4K screen: everything twice the size, nothing to scroll.
    page.set_viewport_size({"width": 3840, "height": 2160})
    page.wait_for_timeout(500)  # the charts redraw after a resize settles
    assert page.evaluate("() => getComputedStyle(document.documentElement).fontSize") == "32px"
    assert page.evaluate("() => document.documentElement.scrollHeight <= innerHeight "
                         "&& document.documentElement.scrollWidth <= innerWidth")
    page.set_viewport_size({"width": 1920, "height": 1080})

    # A new alert: P-1's phone inside the protected residence's circle, twice. The wall's own
    # refresh is an hour away: only the live feed can bring it.
    page.evaluate("""() => { window.__arrived = {};
        new MutationObserver(() => { for (const li of document.querySelectorAll(
            '#wall-warnings li')) window.__arrived[li.dataset.alertId] ??= Date.now(); })
        .observe(document.getElementById('wall-warnings'), { childList: true }); }""")
    t0 = time.time()
    run(publish(wall.env["CORDON_MQTT_URL"], [
        ("owntracks/alice/ph-1", owntracks(*CENTRE, t0 + i)) for i in range(3)]))
    with psycopg.connect(wall.db_url) as conn:
        for _ in range(100):
            row = conn.execute("SELECT id, extract(epoch FROM raised_at) FROM alerts "
                               "WHERE supervisee_id = 'P-1' AND kind = 'exclusion_entry'"
                               ).fetchone()
            if row:
                break
            time.sleep(0.1)
    assert row is not None, "the engine raised no alert"
    new_id, raised_at = row
    page.wait_for_selector(f"#wall-warnings li[data-alert-id='{new_id}']", timeout=15_000)
    item = page.locator(f"#wall-warnings li[data-alert-id='{new_id}']").inner_text()
    assert "进入禁止区域" in item, item
    arrived = page.evaluate(f"() => window.__arrived['{new_id}']") / 1000
    print(f"alert raised → on the wall: {(arrived - float(raised_at)) * 1000:.0f} ms")
    # The figures follow (one refresh after the alert), equal to the API's again.
    page.wait_for_function(
        f"() => document.querySelector('[data-figure=\"alerts.raised\"]').dataset.value "
        f"=== '{view['kpis']['alerts']['raised'] + 1}'", timeout=10_000)
    after = wall.get("/wall/tx").json()
    same_figures(page, after)
    assert page.evaluate("() => window.__violations") == []
    assert errors == []


def test_drill_down_and_a_rotating_kiosk(wall, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="en-US")
    page.add_init_script(WATCH)
    page.goto(f"{wall.base}/static/wall.html#j=tx&lang=en&refresh=3600")
    page.fill("#login-form input[name=username]", "admin")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button")
    wait_for_place(page, "tx")
    # Click Travis County on the map (where ECharts drew it).
    x, y = page.evaluate(f"""() => {{
        const el = document.getElementById('wall-map');
        const chart = echarts.getInstanceByDom(el);
        const [x, y] = chart.convertToPixel({{ geoIndex: 0 }}, [{CENTRE[0]}, {CENTRE[1]}]);
        const r = el.getBoundingClientRect();
        return [r.left + x, r.top + y];
    }}""")
    page.mouse.click(x, y)
    wait_for_place(page, "tx-travis")
    assert page.locator("#wall-crumbs").inner_text().replace("\n", "") == \
        "Texas›Travis County"
    view = wall.get("/wall/tx-travis").json()
    page.wait_for_function("() => document.querySelector('[data-figure=\"people.total\"]')"
                           f".dataset.value === '{view['kpis']['people']['total']}'")
    same_figures(page, view)
    page.click("#wall-up")
    wait_for_place(page, "tx")
    assert page.locator("#wall-up").is_hidden()

    # The feed lost (a network drop, an engine restart): what happened meanwhile is on the wall
    # once it is back, the figures fetched again first.
    page.evaluate("() => window.cordonWall.feed.pause()")

    async def meanwhile() -> int:
        async with await psycopg.AsyncConnection.connect(wall.db_url) as conn, \
                conn.transaction():
            return await apply_change(conn, AlertChange(
                "opened", EpisodeKey("S-003", "br-x", "strap_tamper"), "b-003", time.time(),
                *CENTRE, "critical"))

    missed = run(meanwhile())
    page.evaluate("() => window.cordonWall.feed.resume()")
    page.wait_for_selector(f"#wall-warnings li[data-alert-id='{missed}']", timeout=15_000)
    page.wait_for_function("() => document.getElementById('wall-feed').dataset.state "
                           "=== 'connected'", timeout=15_000)
    same_figures(page, wall.get("/wall/tx").json())

    # A kiosk for Texas, rotating every 2 s: Hays, Travis, then Texas again.
    admin = {"Authorization": f"Bearer {wall.token()}"}
    made = httpx.post(f"{wall.base}/api/v1/wall/tx/kiosks", headers=admin,
                      json={"name": "Lobby"}).json()
    kiosk = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    kiosk.add_init_script(WATCH)
    kiosk.goto(f"{wall.base}{made['url']}&rotate=2&refresh=3600")
    wait_for_place(kiosk, "tx")
    kiosk.evaluate("""() => { window.__places = ['tx'];
        new MutationObserver(() => window.__places.push(document.body.dataset.jurisdiction))
          .observe(document.body, { attributes: true, attributeFilter: ['data-jurisdiction'] });
    }""")
    assert "kio_" not in kiosk.url  # the token left the address at once
    assert kiosk.locator("#login").is_hidden()
    assert "对象 S-000" in kiosk.locator("#wall-warnings").inner_text()  # no names
    assert "Person 000" not in kiosk.locator("#wall-warnings").inner_text()
    kiosk.wait_for_function("() => window.__places.filter((p, i, a) => p !== a[i - 1]).join()"
                            ".startsWith('tx,tx-hays,tx-travis,tx')", timeout=20_000)
    # Its credential reads nothing else.
    statuses = kiosk.evaluate("""async (token) => Promise.all(
        ['/api/v1/alerts', '/api/v1/supervisees', '/api/v1/positions', '/api/v1/me',
         '/api/v1/wall/tx/kiosks', '/api/v1/jurisdictions'].map(async (p) =>
           (await fetch(p, { headers: { Authorization: `Bearer ${token}` } })).status))""",
                              made["token"])
    assert set(statuses) == {403}, statuses
    # Revoked: the screen says so.
    assert httpx.delete(f"{wall.base}/api/v1/kiosks/{made['kiosk']['id']}",
                        headers=admin).status_code == 204
    kiosk.wait_for_selector("#wall-refused", state="visible", timeout=15_000)
    assert kiosk.evaluate("() => window.__violations") == []
