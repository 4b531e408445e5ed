"""The path of a fix on real parts: MQTT client → Mosquitto → `cordon serve` → PostgreSQL with
TimescaleDB → WebSocket. Devices publish exactly as the OwnTracks app or Cordon bracelets do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiomqtt
import httpx
import orjson
import psycopg
import pytest
import websockets
from bokeh_sampledata.us_counties import records
from shapely.geometry import Point, mapping

from devices.credentials import device_password
from devices.models import Device, Jurisdiction, Supervisee
from geofence.zones import Zone
from store.database import migrate
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee, upsert_zone

pytestmark = pytest.mark.asyncio

CENTRE = (-97.74, 30.27)  # downtown Austin, in Travis County
DEVICE_SECRET = b"end-to-end test agency secret..."  # for the OsmAnd intake's device passwords
M_PER_DEG_LAT = 111_000.0


def north(metres: float) -> tuple[float, float]:
    return CENTRE[0], CENTRE[1] + metres / M_PER_DEG_LAT


async def seed(db_url: str) -> None:
    await migrate(db_url)
    travis = next(r for r in records(state="TX") if r["name"] == "Travis")["geometry"]
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("tx", "Texas", "state"), None)
        await upsert_jurisdiction(
            conn, Jurisdiction("tx-travis", "Travis County", "county", "tx"), mapping(travis)
        )
        await upsert_zone(conn, Zone("travis-line", "Travis County line", "inclusion", "polygon",
                                     travis, jurisdiction_id="tx-travis"))
        await upsert_zone(conn, Zone("victim-1", "Protected residence", "exclusion", "circle",
                                     Point(*CENTRE), 300.0, jurisdiction_id="tx-travis"))
        for sid, did, kind in (("P-1", "ph-1", "phone"), ("P-2", "br-2", "bracelet")):
            await upsert_supervisee(
                conn, Supervisee(sid, sid, "tx-travis", ("travis-line", "victim-1"))
            )
            await upsert_device(conn, Device(did, sid, kind))


def owntracks(lon: float, lat: float, ts: float, acc: float = 10) -> bytes:
    return orjson.dumps({"_type": "location", "lat": lat, "lon": lon, "tst": int(ts),
                         "acc": acc, "batt": 80, "tid": "p1", "conn": "m"})


async def publish(mosquitto_url: str, messages: list[tuple[str, bytes]]) -> None:
    port = int(mosquitto_url.rsplit(":", 1)[1])
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def next_event(ws, want: Callable[[dict], bool], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no matching event on the live feed")
        event = orjson.loads(await asyncio.wait_for(ws.recv(), remaining))
        if want(event):
            return event


def is_alert(action: str, kind: str) -> Callable[[dict], bool]:
    return lambda e: (e["type"] == "alert" and e["action"] == action
                      and e["alert"]["kind"] == kind)


async def test_owntracks_fix_opens_and_clears_an_alert_seen_live_and_stored(
    db_url, mosquitto, engine_factory
):
    await seed(db_url)
    engine = engine_factory(db_url)
    t0 = time.time() - 120
    path = [north(2000), north(1900), north(0), north(20), north(1500), north(1600)]
    async with websockets.connect(engine.live_url()) as ws:
        assert orjson.loads(await ws.recv())["type"] == "hello"
        await publish(mosquitto.url, [
            ("owntracks/alice/ph-1", owntracks(lon, lat, t0 + 10 * i))
            for i, (lon, lat) in enumerate(path[:4])
        ])
        opened = await next_event(ws, is_alert("opened", "exclusion_entry"))
        assert opened["alert"]["supervisee_id"] == "P-1"
        assert opened["alert"]["subject"] == "victim-1"
        assert opened["alert"]["at"] == int(t0 + 20)  # the first of the confirming fixes
        positions = await next_event(ws, lambda e: e["type"] == "positions")
        assert any(p["device_id"] == "ph-1" for p in positions["positions"])

        await publish(mosquitto.url, [
            ("owntracks/alice/ph-1", owntracks(lon, lat, t0 + 10 * (4 + i)))
            for i, (lon, lat) in enumerate(path[4:])
        ])
        cleared = await next_event(ws, is_alert("cleared", "exclusion_entry"))
        assert cleared["alert"]["id"] == opened["alert"]["id"]

    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT lon, lat, accuracy_m, battery, source FROM fixes "
            "WHERE device_id = 'ph-1' ORDER BY ts"
        )
        rows = await cur.fetchall()
        assert len(rows) == 6
        assert rows[2] == (CENTRE[0], CENTRE[1], 10.0, 80.0, "owntracks")
        cur = await conn.execute(
            "SELECT status, ended_at IS NOT NULL FROM alerts WHERE id = %s",
            (opened["alert"]["id"],),
        )
        assert await cur.fetchone() == ("cleared", True)
        cur = await conn.execute(
            "SELECT action, actor FROM alert_events WHERE alert_id = %s ORDER BY id",
            (opened["alert"]["id"],),
        )
        assert await cur.fetchall() == [("opened", "engine"), ("cleared", "engine")]
    health = engine.health()
    assert health["status"] == "ok" and health["database"]["timescaledb"]
    assert health["counters"]["fixes_stored"] == 6
    assert health["counters"]["alerts_open"] == 0


async def test_native_batch_leaving_the_county_opens_an_inclusion_alert(
    db_url, mosquitto, engine_factory
):
    await seed(db_url)
    engine = engine_factory(db_url)
    t0 = time.time() - 600
    # A buffered upload: inside the county, then ~60 km east of Austin (Bastrop/Lee County).
    batch = [{"ts": t0 + 60 * i, "lon": CENTRE[0] + (0.0 if i < 3 else 0.6), "lat": CENTRE[1],
              "acc": 8.0} for i in range(6)]
    async with websockets.connect(engine.live_url()) as ws:
        await ws.recv()
        await publish(mosquitto.url, [("cordon/devices/br-2/fixes", orjson.dumps(batch))])
        opened = await next_event(ws, is_alert("opened", "inclusion_exit"))
    assert opened["alert"]["supervisee_id"] == "P-2"
    assert opened["alert"]["at"] == pytest.approx(t0 + 180)
    alerts = engine.get("/alerts", status="open").json()["alerts"]
    assert [(a["kind"], a["supervisee_id"], a["subject_name"]) for a in alerts] == [
        ("inclusion_exit", "P-2", "Travis County line")
    ]


async def test_bad_input_is_quarantined_with_reasons_and_the_consumer_carries_on(
    db_url, mosquitto, engine_factory
):
    await seed(db_url)
    engine = engine_factory(db_url)
    now = time.time()
    await publish(mosquitto.url, [
        ("owntracks/alice/ph-1", b"{this is not json"),
        ("owntracks/alice/ph-1", orjson.dumps({"_type": "location", "lon": 1, "tst": now})),
        ("owntracks/alice/ph-1", orjson.dumps({"_type": "location", "lat": 91, "lon": 1,
                                               "tst": now})),
        ("owntracks/mallory/ph-999", owntracks(*CENTRE, now)),
        ("cordon/devices/br-2/fixes", orjson.dumps({"ts": "yesterday", "lon": 1, "lat": 1})),
        ("owntracks/alice/ph-1", owntracks(*north(3000), now)),  # and a good one after
    ])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counters = engine.health()["counters"]
        if counters["quarantined"] >= 5 and counters["fixes_stored"] >= 1:
            break
        await asyncio.sleep(0.1)
    assert (counters["quarantined"], counters["fixes_stored"]) == (5, 1)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT device_id, reason FROM quarantine ORDER BY id")
        rows = await cur.fetchall()
    reasons = [r for _, r in rows]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "missing field lat"
    assert reasons[2] == "lat 91.0 out of range [-90, 90]"
    assert reasons[3] == "unknown device 'ph-999'"
    assert reasons[4] == "fix 0: ts is not RFC 3339: 'yesterday'"
    assert rows[3][0] == "ph-999"
    assert engine.proc.poll() is None


async def test_jitter_at_a_zone_edge_raises_no_alert(db_url, mosquitto, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url)
    t0 = time.time() - 300
    # Standing at the 300 m circle's edge: fixes scatter ±15 m with an honest 25 m accuracy.
    msgs = [("owntracks/alice/ph-1", owntracks(*north(300 + (15 if i % 2 else -15)),
                                               t0 + 5 * i, acc=25)) for i in range(40)]
    await publish(mosquitto.url, msgs)
    deadline = time.monotonic() + 20
    while engine.health()["counters"]["fixes_stored"] < 40 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    counters = engine.health()["counters"]
    assert counters["fixes_stored"] == 40
    assert counters["alerts_opened"] == 0 and counters["alerts_open"] == 0


async def test_osmand_http_reports_take_the_same_path(db_url, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, device_secret=DEVICE_SECRET.decode())
    t0 = int(time.time()) - 100
    key = device_password(DEVICE_SECRET, "ph-1")  # what the phone has on MQTT too
    async with httpx.AsyncClient(base_url=engine.base) as http:
        # Traccar Client (query string, the password as key=), twice the same report: stored
        # once.
        for _ in range(2):
            r = await http.get("/osmand", params={"id": "ph-1", "lat": CENTRE[1],
                                                   "lon": CENTRE[0], "timestamp": t0,
                                                   "accuracy": 6, "batt": 55, "key": key})
            assert r.status_code == 200
        # A form POST (HTTP Basic) and a Traccar Client 9 JSON body (key= in the URL).
        r = await http.post("/osmand", auth=("ph-1", key),
                            data={"id": "ph-1", "lat": str(CENTRE[1]), "lon": str(CENTRE[0]),
                                  "timestamp": str(t0 + 10), "accuracy": "6"})
        assert r.status_code == 200
        r = await http.post("/osmand", params={"key": key}, json={"device_id": "ph-1", "location": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 20)),
            "coords": {"latitude": CENTRE[1], "longitude": CENTRE[0], "accuracy": 5},
            "battery": {"level": 0.5}}})
        assert r.status_code == 200
        bad = await http.get("/osmand", params={"id": "ph-1", "lat": 95, "lon": 0,
                                                "timestamp": t0, "key": key})
        assert (bad.status_code, bad.text) == (400, "lat 95.0 out of range [-90, 90]")
        # The agency's secret makes a valid password for an id not (yet) registered.
        unknown = await http.get("/osmand", params={
            "id": "nobody", "lat": 1, "lon": 1, "timestamp": t0,
            "key": device_password(DEVICE_SECRET, "nobody")})
        assert unknown.status_code == 400 and "unknown device" in unknown.text
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*), min(source), max(battery) FROM fixes")
        assert await cur.fetchone() == (3, "osmand", 55.0)
        cur = await conn.execute("SELECT topic, reason FROM quarantine ORDER BY id")
        rows = await cur.fetchall()
    assert [r[0] for r in rows] == ["http/osmand", "http/osmand"]
    # Three fixes inside the victim's 300 m circle: the exclusion alert opened from HTTP too.
    alerts = engine.get("/alerts").json()["alerts"]
    assert [a["kind"] for a in alerts] == ["exclusion_entry"]


async def test_a_device_registered_while_running_is_recognised(db_url, mosquitto, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_supervisee(conn, Supervisee("P-3", "P-3", "tx-travis", ("victim-1",)))
        await upsert_device(conn, Device("ph-3", "P-3", "phone"))
    await asyncio.sleep(3)  # the engine notices the registry version moved and reloads
    await publish(mosquitto.url, [("owntracks/carol/ph-3", owntracks(*north(5000), time.time()))])
    deadline = time.monotonic() + 20
    while engine.health()["counters"]["fixes_stored"] < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    counters = engine.health()["counters"]
    assert (counters["fixes_stored"], counters["quarantined"]) == (1, 0)
