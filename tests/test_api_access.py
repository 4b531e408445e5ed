"""Accounts and reach through the running engine's API: sign-in, refresh, throttling, token
expiry, API tokens; a county's officer cannot read or change another county's anything (it
answers 404, as if it did not exist); track reads and alert actions are audited; the live feed
filters by jurisdiction and bounding box and replays missed alerts."""

from __future__ import annotations

import time

import httpx
import orjson
import psycopg
import pytest
import websockets

from alerts.episodes import AlertChange, EpisodeKey
from api.auth import issue_access_token
from api.schemas import TrackCollection
from devices.models import Device, Jurisdiction, Supervisee
from geofence.zones import Zone
from store.alerts import apply_change
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee, upsert_zone
from tests.conftest import add_user, sign_in
from tests.test_end_to_end import CENTRE, next_event, north, owntracks, publish, seed

pytestmark = pytest.mark.asyncio
HAYS = (-97.94, 29.99)
PASSWORD = "correct horse battery staple"


async def world(db_url: str) -> dict[str, int]:
    """Travis (P-1, P-2, from the end-to-end seed) and Hays (H-1) under Texas; an alert and a
    fix in each county; officers of each, a Travis supervisor, a Texas admin."""
    await seed(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("tx-hays", "Hays County", "county", "tx"),
                                  None)
        await upsert_zone(conn, Zone.from_feature({
            "type": "Feature", "id": "hays-school",
            "properties": {"kind": "exclusion", "radius_m": 200, "jurisdiction_id": "tx-hays"},
            "geometry": {"type": "Point", "coordinates": list(HAYS)}}))
        await upsert_supervisee(conn, Supervisee("H-1", "Hays One", "tx-hays", ("hays-school",)))
        await upsert_device(conn, Device("hb-1", "H-1", "bracelet"))
        ids = {}
        for sid, did, subject, where in (("P-1", "ph-1", "victim-1", CENTRE),
                                         ("H-1", "hb-1", "hays-school", HAYS)):
            ids[sid] = await apply_change(conn, AlertChange(
                "opened", EpisodeKey(sid, subject, "exclusion_entry"), did, time.time() - 60,
                *where))
            await conn.execute(
                "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, source) "
                "SELECT %s, now() - make_interval(secs => g * 60), now(), %s, %s, 8, 'native' "
                "FROM generate_series(1, 5) g", (did, *where))
    add_user(db_url, "ana", {"tx-travis": "officer"})
    add_user(db_url, "bo", {"tx-hays": "officer"})
    add_user(db_url, "sue", {"tx-travis": "supervisor"})
    add_user(db_url, "root", {"tx": "admin"})
    return ids


def client(engine, user: str) -> httpx.Client:
    return httpx.Client(base_url=f"{engine.base}/api/v1", timeout=10,
                        headers={"Authorization": f"Bearer {sign_in(engine.base, user)}"})


async def test_sign_in_refresh_throttle_expiry_and_api_tokens(db_url, engine_factory):
    await world(db_url)
    engine = engine_factory(db_url)
    token_url = f"{engine.base}/api/v1/auth/token"
    r = httpx.post(token_url, data={"grant_type": "password", "username": "ana",
                                    "password": PASSWORD})
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    me = httpx.get(f"{engine.base}/api/v1/me",
                   headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me["username"] == "ana" and me["reach"] == {"tx-travis": "officer"}

    # Refresh: a new pair; the spent refresh token is good no more.
    r = httpx.post(token_url, data={"grant_type": "refresh_token",
                                    "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200 and r.json()["refresh_token"] != tokens["refresh_token"]
    again = httpx.post(token_url, data={"grant_type": "refresh_token",
                                        "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 400

    # Not signed in, a forged token, an expired token: 401.
    assert httpx.get(f"{engine.base}/api/v1/supervisees").status_code == 401
    bad = httpx.get(f"{engine.base}/api/v1/supervisees", headers={"Authorization": "Bearer x.y.z"})
    assert bad.status_code == 401
    with psycopg.connect(db_url) as conn:
        key = bytes(conn.execute("SELECT value FROM server_secrets "
                                 "WHERE name = 'access_token_key'").fetchone()[0])
        ana_id = conn.execute("SELECT id FROM users WHERE username = 'ana'").fetchone()[0]
    expired = issue_access_token(key, ana_id, ttl_s=-1)
    r = httpx.get(f"{engine.base}/api/v1/supervisees",
                  headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and r.json()["detail"] == "token expired"
    fresh = issue_access_token(key, ana_id)
    assert httpx.get(f"{engine.base}/api/v1/supervisees",
                     headers={"Authorization": f"Bearer {fresh}"}).status_code == 200

    # Throttling: five wrong passwords, then even the right one waits.
    for _ in range(5):
        r = httpx.post(token_url, data={"grant_type": "password", "username": "bo",
                                        "password": "wrong"})
        assert r.status_code == 400
    r = httpx.post(token_url, data={"grant_type": "password", "username": "bo",
                                    "password": PASSWORD})
    assert r.status_code == 429 and "Retry-After" in r.headers

    # An API token acts as its maker until revoked.
    with client(engine, "ana") as ana:
        made = ana.post("/me/api-tokens", json={"name": "case system"}).json()
        assert made["token"].startswith("cdn_")
        api = {"Authorization": f"Bearer {made['token']}"}
        assert [s["id"] for s in httpx.get(f"{engine.base}/api/v1/supervisees",
                                           headers=api).json()["supervisees"]] == ["P-1", "P-2"]
        assert ana.delete(f"/me/api-tokens/{made['id']}").status_code == 204
    assert httpx.get(f"{engine.base}/api/v1/supervisees", headers=api).status_code == 401


async def test_one_county_cannot_read_or_change_another_countys_anything(db_url, engine_factory):
    ids = await world(db_url)
    engine = engine_factory(db_url)
    now = time.time()
    track = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-30T00:00:00Z"}
    with client(engine, "ana") as ana, client(engine, "bo") as bo:
        # Lists hold only their own county.
        assert [j["id"] for j in ana.get("/jurisdictions").json()["jurisdictions"]] == [
            "tx-travis"]
        assert [s["id"] for s in bo.get("/supervisees").json()["supervisees"]] == ["H-1"]
        assert [d["id"] for d in bo.get("/devices").json()["devices"]] == ["hb-1"]
        assert [a["supervisee_id"] for a in ana.get("/alerts").json()["alerts"]] == ["P-1"]
        assert {p["device_id"] for p in ana.get("/positions").json()["positions"]} == {"ph-1"}
        assert {f["id"] for f in bo.get("/zones").json()["features"]} == {"hays-school"}
        assert ana.get("/pairings").json()["pairings"] == []
        assert ana.get("/supervisees", params={"jurisdiction_id": "tx-hays"}).json() == {
            "supervisees": []}
        # Anything of Hays, read or changed by Travis's officer: 404, as if it did not exist.
        for path in ("/jurisdictions/tx-hays", "/supervisees/H-1", "/devices/hb-1",
                     "/zones/hays-school", f"/alerts/{ids['H-1']}"):
            assert ana.get(path).status_code == 404, path
            assert bo.get(path).status_code == 200, path
        r = ana.get("/supervisees/H-1/track", params=track)
        assert r.status_code == 404
        for path in (f"/alerts/{ids['H-1']}/acknowledge", f"/alerts/{ids['H-1']}/resolve"):
            assert ana.post(path, json={"note": "x", "cause": "other",
                                        "outcome": "other"}).status_code == 404
        assert ana.patch("/supervisees/H-1", json={"plan_id": None}).status_code == 404
        imported = ana.post("/zones/import", params={"jurisdiction_id": "tx-hays"}, json={
            "type": "FeatureCollection", "features": []})
        assert imported.status_code == 404
        # And the alert of Hays is still open, untouched.
        assert bo.get(f"/alerts/{ids['H-1']}").json()["alert"]["status"] == "open"
        # Officers read; changing a supervisee's zones needs the supervisor role.
        assert ana.patch("/supervisees/P-1", json={"zone_ids": ["victim-1"]}).status_code == 403
        # Administration is the admin's.
        assert ana.get("/users").status_code == 403 and ana.get("/audit").status_code == 403
    with client(engine, "sue") as sue:
        r = sue.patch("/supervisees/P-1", json={"zone_ids": ["victim-1", "hays-school"]})
        assert r.status_code == 404  # a zone of another county does not exist for her
        r = sue.patch("/supervisees/P-1", json={"zone_ids": ["victim-1"]})
        assert r.status_code == 200 and r.json()["supervisee"]["zone_ids"] == ["victim-1"]
    with client(engine, "root") as root:
        assert {s["id"] for s in root.get("/supervisees").json()["supervisees"]} == {
            "P-1", "P-2", "H-1"}
        tree = root.get("/jurisdictions").json()["tree"]
        assert [(t["id"], sorted(c["id"] for c in t["children"])) for t in tree] == [
            ("tx", ["tx-hays", "tx-travis"])]
    assert time.time() - now < 120


async def test_zone_import_reports_each_bad_feature_and_keeps_the_good(db_url, engine_factory):
    await world(db_url)
    engine = engine_factory(db_url)
    circle = {"type": "Feature", "id": "park",
              "properties": {"kind": "exclusion", "radius_m": 150},
              "geometry": {"type": "Point", "coordinates": list(north(900))}}
    features = [circle,
                {"type": "Feature", "id": "no-radius", "properties": {"kind": "exclusion"},
                 "geometry": {"type": "Point", "coordinates": list(north(100))}},
                {"type": "Feature", "id": "odd", "properties": {"kind": "sideways",
                                                                "radius_m": 5},
                 "geometry": {"type": "Point", "coordinates": list(north(100))}},
                {"type": "Feature", "id": "elsewhere",
                 "properties": {"kind": "exclusion", "radius_m": 50,
                                "jurisdiction_id": "tx-hays"},
                 "geometry": {"type": "Point", "coordinates": list(HAYS)}}]
    with client(engine, "sue") as sue:
        r = sue.post("/zones/import", params={"jurisdiction_id": "tx-travis"},
                     json={"type": "FeatureCollection", "features": features})
        assert r.status_code == 200
        report = r.json()
        assert report["stored"] == 1 and report["zone_ids"] == ["park"]
        assert [(e["index"], e["id"]) for e in report["errors"]] == [
            (1, "no-radius"), (2, "odd"), (3, "elsewhere")]
        assert "radius_m" in report["errors"][0]["error"]
        assert sue.get("/zones/park").json()["properties"]["jurisdiction_id"] == "tx-travis"
        strict = sue.post("/zones/import", params={"jurisdiction_id": "tx-travis",
                                                   "all_or_nothing": True},
                          json={"type": "FeatureCollection",
                                "features": [{**circle, "id": "park-2"}, features[1]]})
        assert strict.json()["stored"] == 0
        assert sue.get("/zones/park-2").status_code == 404
        assert sue.post("/zones/import", json={"type": "Nope"}).status_code == 422


async def test_track_reads_and_alert_actions_are_audited_and_the_trail_is_append_only(
    db_url, engine_factory
):
    ids = await world(db_url)
    engine = engine_factory(db_url)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    with client(engine, "ana") as ana:
        geo = ana.get("/supervisees/P-1/track", params={"start": start, "end": end}).json()
        TrackCollection.model_validate(geo)  # what the OpenAPI document says it is
        assert geo["type"] == "FeatureCollection" and geo["properties"]["fixes"] == 5
        assert len(geo["features"][0]["properties"]["times"]) == 5
        csv = ana.get("/supervisees/P-1/track", params={"start": start, "end": end,
                                                         "format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[0] == "device_id,time,lon,lat,accuracy_m,battery"
        assert len(csv.text.splitlines()) == 6
        gpx = ana.get("/supervisees/P-1/track", params={"start": start, "end": end,
                                                         "format": "gpx", "max_points": 2})
        assert gpx.text.count("<trkpt") == 2  # thinned: a still person, two points
        assert ana.post(f"/alerts/{ids['P-1']}/acknowledge", json={}).status_code == 200
    with client(engine, "root") as root:
        trail = root.get("/audit", params={"actor": "ana"}).json()["entries"]
        assert [(e["action"], e["subject"]) for e in trail][:4] == [
            ("alert.acknowledged", str(ids["P-1"])), ("track.read", "P-1"),
            ("track.read", "P-1"), ("track.read", "P-1")]
        assert {e["detail"]["format"] for e in trail if e["action"] == "track.read"} == {
            "geojson", "csv", "gpx"}
        history = root.get(f"/alerts/{ids['P-1']}").json()["history"]
        assert [(h["action"], h["actor"]) for h in history][-1] == ("acknowledged", "ana")
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("DELETE FROM audit_log")


async def test_live_feed_filters_by_jurisdiction_and_box_and_replays_missed_alerts(
    db_url, mosquitto, engine_factory
):
    ids = await world(db_url)
    engine = engine_factory(db_url)
    ana, bo = sign_in(engine.base, "ana"), sign_in(engine.base, "bo")
    t0 = time.time() - 60
    async with websockets.connect(engine.live_url(ana)) as ws_ana, \
            websockets.connect(engine.live_url(bo) + "&since_alert_id=0") as ws_bo, \
            websockets.connect(engine.live_url("nonsense")) as ws_bad:
        hello = orjson.loads(await ws_ana.recv())
        assert hello["type"] == "hello" and hello["reach"] == {"tx-travis": "officer"}
        assert orjson.loads(await ws_bo.recv())["type"] == "hello"
        missed = orjson.loads(await ws_bo.recv())
        assert missed["type"] == "missed"
        assert [a["id"] for a in missed["alerts"]] == [ids["H-1"]]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws_bad.recv()
        assert closed.value.rcvd.code == 4401
        await publish(mosquitto.url, [
            ("owntracks/alice/ph-1", owntracks(*north(2000), t0)),
            ("cordon/devices/hb-1/fixes", orjson.dumps({"ts": t0, "lon": HAYS[0],
                                                         "lat": HAYS[1] + 0.02, "acc": 5}))])
        seen = await next_event(ws_ana, lambda e: e["type"] == "positions")
        assert {p["device_id"] for p in seen["positions"]} == {"ph-1"}
        seen = await next_event(ws_bo, lambda e: e["type"] == "positions")
        assert {p["device_id"] for p in seen["positions"]} == {"hb-1"}
        # A box around Hays only: Travis's phone is outside it, so nothing comes to Ana.
        await ws_ana.send(orjson.dumps({"type": "subscribe",
                                        "bbox": [-98.1, 29.8, -97.8, 30.1]}).decode())
        assert (await next_event(ws_ana, lambda e: e["type"] == "subscribed"))["bbox"]
        await publish(mosquitto.url, [("owntracks/alice/ph-1",
                                       owntracks(*north(2100), t0 + 10))])
        await publish(mosquitto.url, [("cordon/devices/hb-1/fixes", orjson.dumps(
            {"ts": t0 + 10, "lon": HAYS[0], "lat": HAYS[1] + 0.021, "acc": 5}))])
        await next_event(ws_bo, lambda e: e["type"] == "positions")
        with pytest.raises(TimeoutError):
            await next_event(ws_ana, lambda e: e["type"] == "positions", timeout=2.5)
        # Asking for another county's feed changes nothing: it does not exist for her.
        await ws_ana.send(orjson.dumps({"type": "subscribe", "jurisdictions": ["tx-hays"],
                                        "bbox": None}).decode())
        sub = await next_event(ws_ana, lambda e: e["type"] == "subscribed")
        assert sub["jurisdictions"] == []


async def test_the_command_line_adds_accounts_and_writes_broker_credentials(db_url, tmp_path):
    import os
    import subprocess
    import sys

    from api.auth import password_matches
    from devices.credentials import check_password, device_password

    await world(db_url)
    env = os.environ | {"CORDON_DATABASE_URL": db_url, "CORDON_NEW_PASSWORD": "a long passphrase",
                        "CORDON_DEVICE_SECRET": "sixteen chars at least",
                        "CORDON_MQTT_URL": "mqtt://engine:engine-secret@127.0.0.1:1883"}

    def cordon(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cordon", *args], env=env, text=True,
                              capture_output=True, timeout=60)

    done = cordon("user", "add", "carla", "--grant", "tx-hays:supervisor")
    assert done.returncode == 0, done.stderr
    bad = cordon("user", "add", "dan", "--grant", "tx-hays:overlord")
    assert bad.returncode == 2 and "JURISDICTION:ROLE" in bad.stderr
    with psycopg.connect(db_url) as conn:
        (hashed,) = conn.execute("SELECT password_hash FROM users WHERE username = 'carla'"
                                 ).fetchone()
        grants = conn.execute("SELECT jurisdiction_id, role FROM grants g JOIN users u "
                              "ON u.id = g.user_id WHERE u.username = 'carla'").fetchall()
    assert hashed.startswith("$argon2id$") and password_matches(hashed, "a long passphrase")
    assert grants == [("tx-hays", "supervisor")]

    written = cordon("broker-auth", str(tmp_path / "mqtt"))
    assert written.returncode == 0 and "reload the broker" in written.stdout, written.stderr
    lines = dict(line.split(":", 1) for line in (tmp_path / "mqtt" / "passwd").read_text()
                 .splitlines() if line and not line.startswith("#"))
    assert set(lines) == {"engine", "ph-1", "br-2", "hb-1"}
    secret = cordon("device-password", "hb-1").stdout.strip()
    assert secret == device_password(b"sixteen chars at least", "hb-1")
    assert check_password(secret, lines["hb-1"])
    again = cordon("broker-auth", str(tmp_path / "mqtt"))
    assert "unchanged" in again.stdout


async def test_input_the_database_cannot_hold_is_refused_not_a_server_error(db_url,
                                                                           engine_factory):
    # Found by the schemathesis run: a NUL character in a text field.
    await world(db_url)
    engine = engine_factory(db_url)
    with client(engine, "ana") as ana:
        r = ana.post("/me/api-tokens", json={"name": "nul\u0000name"})
        assert r.status_code == 422 and "NUL" in r.json()["detail"][0]["msg"]
        assert ana.get("/me/api-tokens").json()["tokens"] == []
        assert ana.get("/supervisees", params={"search": "a\u0000b"}).status_code == 422
