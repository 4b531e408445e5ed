"""The command centre's wall: every figure of ``GET /wall/{id}`` is the one the database holds
at the instant it names (a world built by hand, each figure worked out beside it); a kiosk
credential reads its own jurisdiction's wall and nothing else — every other route of the app
refuses it — and stops at once when revoked, its live socket too."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import orjson
import psycopg
import pytest
import websockets
from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from api.app import create_app
from api.auth import KIOSK_ROUTES, PUBLIC_ROUTES
from api.state import ApiState
from ingest.stats import IngestStats
from store.database import migrate
from tests.conftest import add_user, sign_in
from tests.test_security_access import _routes

pytestmark = pytest.mark.asyncio
# Wednesday 2026-11-18, 15:00 in Texas (CST, UTC−6): local midnight was 15 hours before.
AT = datetime(2026, 11, 18, 21, 0, tzinfo=UTC).timestamp()
H = 3600.0
SQUARE = {"type": "Polygon", "coordinates": [[[-98, 30], [-97, 30], [-97, 31], [-98, 31],
                                              [-98, 30]]]}


def ts(offset_s: float) -> datetime:
    return datetime.fromtimestamp(AT + offset_s, UTC)


async def build_world(db_url: str) -> None:
    """Texas › Travis (› Pflugerville) and Hays; people on each level, devices in each state,
    alerts in each status today (and one yesterday, one after the instant), orders in force,
    ending, ended, removed and not yet begun."""
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        for jid, parent, kind, boundary in (
                ("tx", None, "state", None), ("tx-travis", "tx", "county", SQUARE),
                ("tx-travis-pf", "tx-travis", "township", None),
                ("tx-hays", "tx", "county", SQUARE)):
            await conn.execute(
                "INSERT INTO jurisdictions (id, parent_id, name, kind, timezone, boundary) "
                "VALUES (%s, %s, %s, %s, 'America/Chicago', %s)",
                (jid, parent, jid.upper(), kind, orjson.dumps(boundary).decode()
                 if boundary else None))
        for sid, name, jid, plan, released in (
                ("T1", "Tom One", "tx-travis", "strict", None),
                ("T2", "Tess Two", "tx-travis", "normal", None),
                ("T3", "Ted Three", "tx-travis-pf", "relaxed", None),
                ("T4", "Tia Four", "tx-travis", None, None),
                ("T5", "Tad Five", "tx-travis", "strict", ts(-86400)),
                ("H1", "Hal One", "tx-hays", "normal", None)):
            await conn.execute(
                "INSERT INTO supervisees (id, name, jurisdiction_id, plan_id, released_at) "
                "VALUES (%s, %s, %s, %s, %s)", (sid, name, jid, plan, released))
        for did, sid, kind, retired in (
                ("t1-br", "T1", "bracelet", None), ("t2-ph", "T2", "phone", None),
                ("t3-br", "T3", "bracelet", None), ("t4-ph", "T4", "phone", None),
                ("t4-old", "T4", "phone", ts(-86400)), ("t5-br", "T5", "bracelet", None),
                ("h1-ph", "H1", "phone", None)):
            await conn.execute(
                "INSERT INTO devices (id, supervisee_id, kind, retired_at) "
                "VALUES (%s, %s, %s, %s)", (did, sid, kind, retired))
        for did, at in (("t1-br", -30), ("t2-ph", -3 * H), ("t3-br", -600), ("t4-old", -10),
                        ("t5-br", -10), ("h1-ph", 100)):
            await conn.execute(
                "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, source) "
                "VALUES (%s, %s, %s, -97.5, 30.5, 8, 'native')", (did, ts(at), ts(at)))
        for did, at, event in (("t3-br", -300, "power_off"), ("h1-ph", -100, "heartbeat")):
            await conn.execute(
                "INSERT INTO device_events (device_id, ts, received_at, event) "
                "VALUES (%s, %s, %s, %s)", (did, ts(at), ts(at), event))
        alerts = (  # name, person, kind, status, raised (s from AT), escalated
            ("a1", "T1", "curfew", "open", -1 * H, False),
            ("a2", "T2", "exclusion_entry", "acknowledged", -2 * H, False),
            ("a3", "T3", "exclusion_entry", "resolved", -3 * H, True),
            ("a4", "H1", "lost_contact", "cleared", -4 * H, False),
            ("a5", "T5", "curfew", "open", -0.5 * H, False),
            ("a6", "T1", "curfew", "cleared", -20 * H, False),
            ("a7", "T1", "strap_tamper", "open", 600, False),
            ("a8", "T2", "curfew", "acknowledged", -600, False))
        ids = {}
        for name, sid, kind, status, raised, escalated in alerts:
            cur = await conn.execute(
                "INSERT INTO alerts (kind, severity, status, supervisee_id, device_id, subject,"
                " started_at, lon, lat, raised_at, escalated_at) VALUES (%s, 'high', %s, %s,"
                " 'x', %s, %s, -97.512345, 30.5, %s, %s) RETURNING id",
                (kind, status, sid, f"{name}-zone", ts(raised), ts(raised),
                 ts(raised + 60) if escalated else None))
            ids[name] = (await cur.fetchone())[0]
        for name, action, actor, at in (
                ("a2", "acknowledged", "ana", -2 * H + 120),
                ("a3", "acknowledged", "ana", -3 * H + 600),
                ("a3", "resolved", "ana", -3 * H + 900),
                ("a4", "cleared", "engine", -3 * H),
                ("a8", "acknowledged", "ana", 300)):  # after the instant: no response yet
            await conn.execute("INSERT INTO alert_events (alert_id, action, actor, at) "
                               "VALUES (%s, %s, %s, %s)", (ids[name], action, actor, ts(at)))
        for sid, start, end, removed in (
                ("T1", -10 * 86400, 3 * 86400, None), ("T2", -1 * 86400, 30 * 86400, None),
                ("T3", -30 * 86400, -86400, None), ("T4", -86400, 10 * 86400, -H),
                ("H1", 86400, 40 * 86400, None)):
            await conn.execute(
                "INSERT INTO positioning_orders (supervisee_id, ground, approver, starts_at,"
                " ends_at, removed_at, created_by) VALUES (%s, 'left_area_without_approval',"
                " 'judge', %s, %s, %s, 'sue')",
                (sid, ts(start), ts(end), ts(removed) if removed is not None else None))
        # Leave: Tom's approved and under way, Tess's approved for tomorrow, Ted's ended
        # early (returned), Hal's standing permit (not leave), Tad's (released) approved.
        for sid, kind, status, start, end in (
                ("T1", "leave", "approved", -H, 2 * 86400), ("T2", "leave", "approved",
                                                             86400, 2 * 86400),
                ("T3", "leave", "returned", -86400, 86400), ("H1", "permit", "approved",
                                                             -86400, 30 * 86400),
                ("T5", "leave", "approved", -H, 86400)):
            await conn.execute(
                "INSERT INTO leaves (supervisee_id, kind, status, destination_zone_id,"
                " starts_at, ends_at, reason, approval_level, approval_jurisdiction_id,"
                " requested_by) VALUES (%s, %s, %s, 'somewhere', %s, %s, 'family', 'county',"
                " 'tx-travis', 'ana')", (sid, kind, status, ts(start), ts(end)))
    add_user(db_url, "root", {"tx": "admin"})
    add_user(db_url, "ana", {"tx-travis": "officer"})
    add_user(db_url, "tara", {"tx-travis": "admin"})
    add_user(db_url, "bo", {"tx-hays": "officer"})


@asynccontextmanager
async def api(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process, on the test database, its clock stopped at :data:`AT`."""
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as pool:
        await pool.open(wait=True)
        app = create_app(ApiState(pool, LiveBus(), IngestStats(), clock=lambda: AT))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test/api/v1", timeout=30) as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


async def token(http: httpx.AsyncClient, user: str) -> dict[str, str]:
    r = await http.post("/auth/token", data={"grant_type": "password", "username": user,
                                             "password": "correct horse battery staple"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


PEOPLE_TX = {"total": 5, "strict": 1, "normal": 2, "relaxed": 1, "other": 1}
DEVICES_TX = {"total": 5, "online": 2, "silent": 2, "off": 1}


async def test_every_figure_is_the_databases_at_the_instant(db_url):
    await build_world(db_url)
    async with api(db_url) as http:
        root = await token(http, "root")
        r = await http.get("/wall/tx", headers=root)
        assert r.status_code == 200, r.text
        view = r.json()
    assert view["as_of"] == AT and view["timezone"] == "America/Chicago"
    assert view["day_start"] == AT - 15 * H
    assert view["jurisdiction"] == {"id": "tx", "parent_id": None, "name": "TX",
                                    "kind": "state"}
    assert [c["id"] for c in view["children"]] == ["tx-hays", "tx-travis"]
    assert {c["id"]: c["has_children"] for c in view["children"]} == {
        "tx-hays": False, "tx-travis": True}
    k = view["kpis"]
    # Released Tad is no longer under supervision; Tia has no plan.
    assert k["people"] == PEOPLE_TX
    # Tom heard 30 s ago (strict: 60 + 600 s allowed); Hal's phone a heartbeat 100 s ago (its
    # fix after the instant does not count); Tess 3 h ago (normal: 2100 s) and Tia never;
    # Ted's bracelet said power_off after its last fix. Retired and released devices: none.
    assert k["devices"] == DEVICES_TX
    # Today: a1 a5 open, a2 a8 acknowledged, a3 resolved and a4 cleared; a6 was yesterday and
    # a7 comes after the instant. Responses: a2 after 120 s, a3 after 600 s (a8's is later).
    assert k["alerts"] == {"raised": 6, "open": 2, "acknowledged": 2, "closed": 2,
                           "escalated": 1, "median_response_s": 360.0}
    assert k["orders"] == {"in_force": 2, "ending_soon": 1}
    assert k["on_leave"] == 1  # Tom
    assert view["regions"]["tx-hays"]["on_leave"] == 0
    travis, hays = view["regions"]["tx-travis"], view["regions"]["tx-hays"]
    assert travis["people"] == {"total": 4, "strict": 1, "normal": 1, "relaxed": 1, "other": 1}
    assert travis["devices"] == {"total": 4, "online": 1, "silent": 2, "off": 1}
    assert travis["alerts"] == {"raised": 5, "open": 2, "acknowledged": 2, "closed": 1,
                                "escalated": 1, "median_response_s": 360.0}
    assert hays["alerts"] == {"raised": 1, "open": 0, "acknowledged": 0, "closed": 1,
                              "escalated": 0, "median_response_s": None}
    assert travis["orders"] == {"in_force": 2, "ending_soon": 1}
    assert hays["orders"] == {"in_force": 0, "ending_soon": 0}
    assert view["trends"]["days"] == [f"2026-11-{d}" for d in range(12, 19)]
    assert view["trends"]["kinds"] == {
        "curfew": [0, 0, 0, 0, 0, 1, 3], "exclusion_entry": [0, 0, 0, 0, 0, 0, 2],
        "lost_contact": [0, 0, 0, 0, 0, 0, 1]}
    assert [a["supervisee_id"] for a in view["recent"]] == ["T2", "T5", "T1", "T2", "T3", "H1"]
    assert view["recent"][0]["supervisee_name"] == "Tess Two"  # a person sees names
    assert sorted(f["id"] for f in view["boundaries"]) == ["tx-hays", "tx-travis"]
    assert view["parent_reachable"] is False and view["show_names"] is True


async def test_a_county_wall_and_the_callers_reach(db_url):
    await build_world(db_url)
    async with api(db_url) as http:
        ana, bo = await token(http, "ana"), await token(http, "bo")
        view = (await http.get("/wall/tx-travis", headers=ana)).json()
        assert view["kpis"]["people"]["total"] == 4
        assert [c["id"] for c in view["children"]] == ["tx-travis-pf"]
        assert view["regions"]["tx-travis-pf"]["devices"] == {"total": 1, "online": 0,
                                                              "silent": 0, "off": 1}
        # The township has no boundary: the map shows the county's own.
        assert [f["id"] for f in view["boundaries"]] == ["tx-travis"]
        assert view["parent_reachable"] is False
        # Outside her reach, or nowhere: as if it did not exist.
        for where in ("tx", "tx-hays", "nowhere"):
            assert (await http.get(f"/wall/{where}", headers=ana)).status_code == 404
        assert (await http.get("/wall/tx-travis", headers=bo)).status_code == 404
        # Without sign-in, nothing.
        assert (await http.get("/wall/tx-travis")).status_code == 401


async def test_a_kiosk_reads_its_wall_and_nothing_else(db_url):
    await build_world(db_url)
    async with api(db_url) as http:
        tara, ana, bo = [await token(http, u) for u in ("tara", "ana", "bo")]
        # Only an admin of the jurisdiction makes one.
        body = {"name": "Hall screen"}
        assert (await http.post("/wall/tx-travis/kiosks", json=body,
                                headers=ana)).status_code == 403
        assert (await http.post("/wall/tx-travis/kiosks", json=body,
                                headers=bo)).status_code == 404
        assert (await http.post("/wall/tx-travis/kiosks", json={"name": ""},
                                headers=tara)).status_code == 422
        r = await http.post("/wall/tx-travis/kiosks", json=body, headers=tara)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["token"].startswith("kio_") and made["kiosk"]["show_names"] is False
        assert made["url"] == f"/static/wall.html#j=tx-travis&kiosk={made['token']}"
        kio = {"Authorization": f"Bearer {made['token']}"}

        # Its wall and below, without names; not above, not beside.
        r = await http.get("/wall/tx-travis", headers=kio)
        assert r.status_code == 200
        view = r.json()
        assert view["kpis"]["people"]["total"] == 4 and view["show_names"] is False
        assert view["recent"] and all(a["supervisee_name"] is None for a in view["recent"])
        assert {a["lon"] for a in view["recent"]} == {-97.512}
        assert (await http.get("/wall/tx-travis-pf", headers=kio)).status_code == 200
        assert view["parent_reachable"] is False
        pf = (await http.get("/wall/tx-travis-pf", headers=kio)).json()
        assert pf["parent_reachable"] is True
        for where in ("tx", "tx-hays"):
            assert (await http.get(f"/wall/{where}", headers=kio)).status_code == 404

        # Every other route of the app refuses it.
        walked = 0
        for method, template in _routes(http.app):  # type: ignore[attr-defined]
            if (method, template) in PUBLIC_ROUTES | KIOSK_ROUTES or method in (
                    "WEBSOCKET", "MOUNT"):
                continue
            path = re.sub(r"\{[^}]+\}", "tx-travis", template)
            r = await http.request(method, path.removeprefix("/api/v1"), headers=kio)
            assert r.status_code in (401, 403), (method, template, r.status_code)
            walked += 1
        assert walked >= 30
        # The audit trail has its making; the admin lists it, and revokes it.
        listed = (await http.get("/wall/tx-travis/kiosks", headers=tara)).json()["kiosks"]
        assert [k["id"] for k in listed] == [made["kiosk"]["id"]]
        assert (await http.get("/wall/tx-travis/kiosks", headers=ana)).status_code == 403
        kid = made["kiosk"]["id"]
        assert (await http.delete(f"/kiosks/{kid}", headers=bo)).status_code == 404
        assert (await http.delete(f"/kiosks/{kid}", headers=ana)).status_code == 403
        assert (await http.delete(f"/kiosks/{kid}", headers=tara)).status_code == 204
        assert (await http.delete(f"/kiosks/{kid}", headers=tara)).status_code == 409
        assert (await http.get("/wall/tx-travis", headers=kio)).status_code == 401
    with psycopg.connect(db_url) as conn:
        actions = [r[0] for r in conn.execute(
            "SELECT action FROM audit_log WHERE action LIKE 'kiosk.%' ORDER BY id")]
    assert actions == ["kiosk.created", "kiosk.revoked"]


async def _next(ws, kind: str, timeout: float = 10.0) -> dict:
    while True:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["type"] == kind:
            return msg


async def test_the_kiosk_feed_has_alerts_without_names_and_closes_when_revoked(
        db_url, engine_factory):
    await build_world(db_url)
    engine = engine_factory(db_url)
    tara = {"Authorization": f"Bearer {sign_in(engine.base, 'tara')}"}
    api_url = f"{engine.base}/api/v1"
    made = httpx.post(f"{api_url}/wall/tx-travis/kiosks", json={"name": "Hall"},
                      headers=tara).json()
    with psycopg.connect(db_url) as conn:
        a1 = conn.execute("SELECT id FROM alerts WHERE supervisee_id = 'T1' AND status = "
                          "'open' ORDER BY id LIMIT 1").fetchone()[0]
        hays_open = conn.execute(
            "INSERT INTO alerts (kind, severity, status, supervisee_id, device_id, subject,"
            " started_at, raised_at) VALUES ('curfew', 'high', 'open', 'H1', 'x', 'z', now(),"
            " now()) RETURNING id").fetchone()[0]
    async with websockets.connect(engine.live_url(made["token"]) + "&since_alert_id=0") as ws:
        hello = await _next(ws, "hello")
        assert hello == {"type": "hello", "kiosk": "Hall", "jurisdiction_id": "tx-travis"}
        missed = await _next(ws, "missed")
        assert missed["alerts"] and all(a["jurisdiction_id"] in ("tx-travis", "tx-travis-pf")
                                        for a in missed["alerts"])
        assert all("device_id" not in a and "subject_name" not in a for a in missed["alerts"])
        # A step taken by an officer reaches the screen, without who took it; Hays's do not.
        root = {"Authorization": f"Bearer {sign_in(engine.base, 'root')}"}
        r = httpx.post(f"{api_url}/alerts/{hays_open}/acknowledge", headers=root, json={})
        assert r.status_code == 200, r.text
        r = httpx.post(f"{api_url}/alerts/{a1}/acknowledge", headers=root, json={})
        assert r.status_code == 200, r.text
        event = await _next(ws, "alert")
        assert event["action"] == "acknowledged" and event["alert"]["id"] == a1
        assert "by" not in event and event["alert"].get("supervisee_name") is None
        assert "device_id" not in event["alert"]
        # Revoked: the socket closes within seconds, and cannot come back.
        assert httpx.delete(f"{api_url}/kiosks/{made['kiosk']['id']}",
                            headers=tara).status_code == 204
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _next(ws, "never", timeout=5)
        assert closed.value.rcvd.code == 4401
    async with websockets.connect(engine.live_url(made["token"])) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _next(ws, "hello", timeout=5)
        assert closed.value.rcvd.code == 4401
