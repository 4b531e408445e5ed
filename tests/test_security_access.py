"""An admin cannot reach above their grant: a township's admin can neither read, reset, disable
nor re-grant an account that also holds a higher grant (404), nor rewrite a plan of the whole
agency or of the county above; plans belong to a jurisdiction and are seen from it and below.
A live socket closes within seconds of its account losing a grant, being disabled, or its token
being revoked or expiring. And sign-in is the default of every route of the app: a walk over
all of them finds only the allow-listed ones answering without it."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import orjson
import psycopg
import pytest
import websockets
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount, WebSocketRoute

from api.auth import PUBLIC_ROUTES, issue_access_token
from devices.models import Jurisdiction
from store.registry import import_registry, upsert_jurisdiction
from tests.conftest import add_user, sign_in
from tests.test_api_access import world

LEVELS = {"strict", "normal", "relaxed"}  # the agency's supervision levels (migration 0010)
PASSWORD = "correct horse battery staple"
TOWNSHIP = "tx-travis-pf"


async def townships(db_url: str) -> dict[str, int]:
    """The world of tests/test_api_access.py (Texas › Travis, Hays; officers ana of Travis and
    bo of Hays, supervisor sue of Travis, root the admin of Texas), with a township under
    Travis, its admin tina, its officer olly, max — officer of the township and supervisor of
    all Travis — and hal, the admin of Hays."""
    await world(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction(TOWNSHIP, "Pflugerville", "township",
                                                     "tx-travis"), None)
    ids = {"tina": add_user(db_url, "tina", {TOWNSHIP: "admin"}),
           "olly": add_user(db_url, "olly", {TOWNSHIP: "officer"}),
           "max": add_user(db_url, "max", {TOWNSHIP: "officer", "tx-travis": "supervisor"}),
           "hal": add_user(db_url, "hal", {"tx-hays": "admin"})}
    with psycopg.connect(db_url) as conn:
        for name in ("ana", "bo", "sue", "root"):
            ids[name] = conn.execute("SELECT id FROM users WHERE username = %s",
                                     (name,)).fetchone()[0]
    return ids


def client(engine, user: str) -> httpx.Client:
    return httpx.Client(base_url=f"{engine.base}/api/v1", timeout=10,
                        headers={"Authorization": f"Bearer {sign_in(engine.base, user)}"})


async def test_a_township_admin_cannot_manage_an_account_that_holds_a_higher_grant(
    db_url, engine_factory
):
    ids = await townships(db_url)
    engine = engine_factory(db_url)
    with client(engine, "tina") as tina:
        # She lists herself and the accounts wholly within her township — not max.
        assert {u["username"] for u in tina.get("/users").json()["users"]} == {"tina", "olly"}
        assert tina.get(f"/users/{ids['max']}").status_code == 404
        # Max also holds Travis: he does not exist for her, whatever she tries.
        for change in ({"password": "tina owns max now"}, {"disabled": True}):
            assert tina.patch(f"/users/{ids['max']}", json=change).status_code == 404
        r = tina.put(f"/users/{ids['max']}/grants",
                     json={"jurisdiction_id": TOWNSHIP, "role": "admin"})
        assert r.status_code == 404
        assert tina.delete(f"/users/{ids['max']}/grants/{TOWNSHIP}").status_code == 404
        # Nor do accounts elsewhere, nor may she grant above herself.
        assert tina.get(f"/users/{ids['root']}").status_code == 404
        assert tina.patch(f"/users/{ids['ana']}", json={"disabled": True}).status_code == 404
        r = tina.put(f"/users/{ids['olly']}/grants",
                     json={"jurisdiction_id": "tx-travis", "role": "officer"})
        assert r.status_code == 404
        # An account of no jurisdiction is the root's to make.
        r = tina.post("/users", json={"username": "nobody", "password": PASSWORD})
        assert r.status_code == 422
        # Olly, wholly hers, she manages.
        r = tina.put(f"/users/{ids['olly']}/grants",
                     json={"jurisdiction_id": TOWNSHIP, "role": "supervisor"})
        assert r.status_code == 200
        assert r.json()["user"]["grants"] == [{"jurisdiction_id": TOWNSHIP,
                                               "role": "supervisor"}]
        assert tina.patch(f"/users/{ids['olly']}",
                          json={"password": "olly's new passphrase"}).status_code == 200
    # Max's account is as it was: his password, his grants, enabled.
    sign_in(engine.base, "max")
    with client(engine, "root") as root:
        got = root.get(f"/users/{ids['max']}").json()["user"]
        assert not got["disabled"] and got["grants"] == [
            {"jurisdiction_id": "tx-travis", "role": "supervisor"},
            {"jurisdiction_id": TOWNSHIP, "role": "officer"}]
        assert root.patch(f"/users/{ids['max']}", json={"disabled": True}).status_code == 200
        # Hays's admin reaches nobody of Travis.
    with client(engine, "hal") as hal:
        assert {u["username"] for u in hal.get("/users").json()["users"]} == {"hal", "bo"}
        assert hal.get(f"/users/{ids['olly']}").status_code == 404


async def test_plans_belong_to_a_jurisdiction_and_only_its_admins_write_them(
    db_url, engine_factory
):
    await townships(db_url)
    engine = engine_factory(db_url)
    off = {"name": "Lenient", "settings": {"rules": ["strap_tamper"]}}
    with client(engine, "root") as root, client(engine, "tina") as tina, \
            client(engine, "hal") as hal, client(engine, "sue") as sue, \
            client(engine, "bo") as bo:
        r = root.put("/plans/standard", json={"name": "Standard", "settings": {}})
        assert r.status_code == 200 and r.json()["plan"]["jurisdiction_id"] is None
        r = root.put("/plans/travis", json={"name": "Travis", "settings": {},
                                             "jurisdiction_id": "tx-travis"})
        assert r.status_code == 200
        before = root.get("/plans").json()["plans"]
        # The township's admin reads the agency's plan and her county's, and writes neither:
        # neither switches rules off for others.
        assert {p["id"] for p in tina.get("/plans").json()["plans"]} == {"standard", "travis",
                                                                           *LEVELS}
        assert tina.put("/plans/standard", json=off).status_code == 403
        assert tina.put("/plans/travis", json=off).status_code == 403
        assert tina.put("/plans/travis", json={**off, "jurisdiction_id": TOWNSHIP}
                        ).status_code == 403
        # A new plan of no jurisdiction would be the agency's: not hers to make either.
        assert tina.put("/plans/mine", json=off).status_code == 403
        assert root.get("/plans").json()["plans"] == before
        # Her township's own plan is hers; Hays sees none of it, nor the plan of Travis.
        r = tina.put("/plans/pf", json={**off, "jurisdiction_id": TOWNSHIP})
        assert r.status_code == 200 and r.json()["plan"]["jurisdiction_id"] == TOWNSHIP
        assert {p["id"] for p in bo.get("/plans").json()["plans"]} == {"standard", *LEVELS}
        for path in ("/plans/pf", "/plans/travis"):
            assert bo.get(path).status_code == 404
        assert hal.put("/plans/pf", json=off).status_code == 404
        assert hal.put("/plans/x", json={**off, "jurisdiction_id": "tx-travis"}
                       ).status_code == 404
        # A supervisee is put only on a plan seen from its jurisdiction.
        assert sue.patch("/supervisees/P-1", json={"plan_id": "pf"}).status_code == 404
        assert sue.patch("/supervisees/H-1", json={"plan_id": "standard"}).status_code == 404
        r = sue.patch("/supervisees/P-1", json={"plan_id": "travis"})
        assert r.status_code == 200 and r.json()["supervisee"]["plan_id"] == "travis"
        # Counts are of the caller's own people.
        assert root.get("/plans/travis").json()["plan"]["supervisees"] == 1
        assert tina.get("/plans/travis").json()["plan"]["supervisees"] == 0
        # Moving a plan away from the people on it would leave them on a plan they cannot see.
        r = root.put("/plans/travis", json={"name": "Travis", "settings": {},
                                             "jurisdiction_id": "tx-hays"})
        assert r.status_code == 409
        r = root.put("/plans/travis", json={"name": "Travis",
                                             "settings": {"lost_contact_grace_s": 60}})
        assert r.status_code == 200 and r.json()["plan"]["jurisdiction_id"] == "tx-travis"


async def test_a_registry_import_puts_nobody_on_a_plan_they_cannot_see(db_url):
    await townships(db_url)
    doc = {"plans": [{"id": "hays-only", "settings": {}, "jurisdiction_id": "tx-hays"}],
           "supervisees": [{"id": "P-9", "name": "P-9", "jurisdiction_id": "tx-travis",
                            "plan_id": "hays-only"}]}
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        with pytest.raises(ValueError, match="P-9 is on plan hays-only"):
            async with conn.transaction():
                await import_registry(conn, doc)
        doc["plans"][0]["jurisdiction_id"] = "tx"  # a plan of the state, seen from Travis
        async with conn.transaction():
            assert (await import_registry(conn, doc))["supervisees"] == 1


async def _hello(ws) -> dict:
    hello = orjson.loads(await ws.recv())
    assert hello["type"] == "hello"
    return hello


async def _closed_within(ws, seconds: float) -> tuple[int, float]:
    """The close code of a socket that closes within ``seconds``, and how long it took."""
    start = time.monotonic()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            left = seconds - (time.monotonic() - start)
            await asyncio.wait_for(ws.recv(), max(left, 0.01))
    return closed.value.rcvd.code, time.monotonic() - start


async def _still_open(ws) -> None:
    await ws.send(orjson.dumps({"type": "subscribe", "bbox": None}).decode())
    while True:
        if orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscribed":
            return


async def test_a_live_socket_closes_when_its_grant_account_or_token_is_revoked(
    db_url, engine_factory
):
    ids = await townships(db_url)
    engine = engine_factory(db_url)
    with client(engine, "sue") as sue:
        made = sue.post("/me/api-tokens", json={"name": "wall screen"}).json()
    with psycopg.connect(db_url) as conn:
        key = bytes(conn.execute("SELECT value FROM server_secrets "
                                 "WHERE name = 'access_token_key'").fetchone()[0])
    short = issue_access_token(key, ids["olly"], ttl_s=3)
    tokens = {name: sign_in(engine.base, name) for name in ("ana", "bo", "root")}
    async with websockets.connect(engine.live_url(tokens["ana"])) as ana, \
            websockets.connect(engine.live_url(tokens["bo"])) as bo, \
            websockets.connect(engine.live_url(made["token"])) as sue_screen, \
            websockets.connect(engine.live_url(short)) as olly, \
            websockets.connect(engine.live_url(tokens["root"])) as root:
        for ws in (ana, bo, sue_screen, olly, root):
            await _hello(ws)
        admin = {"Authorization": f"Bearer {tokens['root']}"}
        api = f"{engine.base}/api/v1"
        # A grant revoked: the feed of Travis stops for Ana.
        r = httpx.delete(f"{api}/users/{ids['ana']}/grants/tx-travis", headers=admin)
        assert r.status_code == 204
        code, took = await _closed_within(ana, 5)
        assert code == 4403 and took < 5
        # An account disabled.
        r = httpx.patch(f"{api}/users/{ids['bo']}", json={"disabled": True}, headers=admin)
        assert r.status_code == 200
        code, took = await _closed_within(bo, 5)
        assert code == 4401 and took < 5
        # An API token revoked by its maker.
        r = httpx.delete(f"{api}/me/api-tokens/{made['id']}",
                         headers={"Authorization": f"Bearer {made['token']}"})
        assert r.status_code == 204
        code, took = await _closed_within(sue_screen, 5)
        assert code == 4401 and took < 5
        # A token that expires: closed at its expiry, not left open for days.
        code, _ = await _closed_within(olly, 5)
        assert code == 4401
        # Nothing of this touched anyone else's feed.
        await _still_open(root)


# --- sign-in is the default -------------------------------------------------------------------

EXPECTED_PUBLIC = {
    ("GET", "/api/v1/health"), ("GET", "/metrics"), ("POST", "/api/v1/auth/token"),
    ("WEBSOCKET", "/api/v1/live"), ("GET", "/osmand"), ("POST", "/osmand"),
    ("GET", "/"), ("GET", "/favicon.ico"), ("MOUNT", "/static"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


def _engine_app():
    """The app exactly as ``cordon serve`` composes it (with the OsmAnd intake), on no
    database: an answer without sign-in must come before any query."""
    from alerts.bus import LiveBus
    from cordon.engine import _api_server
    from cordon.settings import Settings
    from devices.formats import Limits
    from ingest.pipeline import Pipeline
    from ingest.stats import IngestStats

    bus, stats = LiveBus(), IngestStats()
    pipeline = Pipeline(None, bus, stats, Limits())  # type: ignore[arg-type]
    return _api_server(Settings(), None, bus, stats, None, pipeline).config.app  # type: ignore[arg-type]


def _routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route of the app, however deeply included; ``WEBSOCKET`` for a
    socket, ``MOUNT`` for a mounted app."""
    found = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, Mount):
            found.append(("MOUNT", path))
        elif isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.append(("WEBSOCKET", path))
        else:
            found += [(m, path) for m in sorted(context.methods or ()) if m != "HEAD"]
    return found


async def _socket_closed_with(app, path: str) -> int | None:
    """Open a WebSocket on the ASGI app with no credentials: the code it is closed with."""
    inbox: asyncio.Queue[dict] = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            await inbox.put({"type": "websocket.disconnect", "code": message.get("code")})

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": [],
             "client": ("127.0.0.1", 1), "server": ("test", 80), "subprotocols": []}
    await asyncio.wait_for(app(scope, inbox.get, send), 10)
    closes = [m for m in sent if m["type"] == "websocket.close"]
    return closes[0].get("code", 1000) if closes else None


async def test_every_route_needs_sign_in_but_the_allow_listed():
    app = _engine_app()
    routes = _routes(app)
    assert len(routes) == len(set(routes))
    assert PUBLIC_ROUTES == EXPECTED_PUBLIC
    assert PUBLIC_ROUTES <= set(routes), "an allow-listed route that does not exist"
    walked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:
        for method, template in routes:
            if (method, template) in PUBLIC_ROUTES:
                continue
            path = re.sub(r"\{[^}]+\}", "1", template)
            walked += 1
            if method == "WEBSOCKET":
                assert await _socket_closed_with(app, path) == 4401, template
                continue
            r = await http.request(method, path)
            assert r.status_code == 401, (method, template, r.status_code, r.text)
            assert r.headers.get("www-authenticate") == "Bearer", (method, template)
            # Credentials that are no bearer token change nothing.
            r = await http.request(method, path, headers={"Authorization": "Basic YTpi"})
            assert r.status_code == 401, (method, template, r.status_code)
        assert walked >= 30
        # The public ones answer without it (those that need no database to).
        for path in ("/", "/favicon.ico", "/openapi.json", "/docs", "/metrics",
                     "/api/v1/health"):
            assert (await http.get(path)).status_code in (200, 204), path
    assert await _socket_closed_with(app, "/api/v1/live") == 4401
