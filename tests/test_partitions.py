"""Several engine processes: partitioned topics give each supervisee one process; the API
process still sees every alert, position and counter."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import psycopg
import pytest
import websockets
from shapely.geometry import Point

from devices.credentials import device_password
from devices.models import Device, Jurisdiction, Supervisee
from devices.topics import native_topic, partition_of
from geofence.zones import Zone
from store.database import migrate
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee, upsert_zone
from tests.test_end_to_end import DEVICE_SECRET, next_event, publish

pytestmark = pytest.mark.asyncio

PARTITIONS = 4
CENTRE = (-97.74, 30.27)
PEOPLE = [f"P-{i:02d}" for i in range(16)]


async def seed(db_url: str) -> None:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("tx-travis", "Travis County", "county"),
                                  None)
        await upsert_zone(conn, Zone("victim", "Protected residence", "exclusion", "circle",
                                     Point(*CENTRE), 300.0))
        for sid in PEOPLE:
            await upsert_supervisee(conn, Supervisee(sid, sid, "tx-travis", ("victim",)))
            await upsert_device(conn, Device(f"br-{sid}", sid, "bracelet"))


async def consumers_up(engine) -> None:
    """Until consumer 1 reports, its partitions' sessions may not exist yet (and a broker
    keeps nothing for a session it has never seen)."""
    deadline = time.monotonic() + 30
    while engine.health()["counters"]["consumers"] < 2:
        assert time.monotonic() < deadline, "consumer 1 never reported"
        await asyncio.sleep(0.2)


def topic(sid: str) -> str:
    return native_topic(f"br-{sid}", partition_of(sid, PARTITIONS))


async def test_two_consumers_on_four_partitions_evaluate_everyone_once(
    db_url, mosquitto, engine_factory
):
    assert {partition_of(s, PARTITIONS) for s in PEOPLE} == set(range(PARTITIONS))
    await seed(db_url)
    engine = engine_factory(db_url, consumers="2", mqtt_partitions=str(PARTITIONS))
    t0 = time.time() - 300
    # Each person: two fixes far away, then three inside the protected circle.
    uploads = [
        (topic(sid), orjson.dumps([
            {"ts": t0 + 10 * k, "lon": CENTRE[0], "lat": CENTRE[1] + (0.05 if k < 2 else 0.0),
             "acc": 5.0} for k in range(5)]))
        for sid in PEOPLE
    ]
    async with websockets.connect(engine.live_url()) as ws:
        await ws.recv()
        await consumers_up(engine)
        await publish(mosquitto.url, uploads)
        opened = set()
        while len(opened) < len(PEOPLE):
            event = await next_event(ws, lambda e: e["type"] == "alert")
            assert event["action"] == "opened"
            opened.add(event["alert"]["supervisee_id"])
    assert opened == set(PEOPLE)  # alerts from both processes reach the one live feed

    deadline = time.monotonic() + 20
    while engine.health()["counters"]["fixes_stored"] < 5 * len(PEOPLE):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    h = engine.health()
    assert h["counters"]["fixes_stored"] == 5 * len(PEOPLE)
    assert h["counters"]["alerts_opened"] == len(PEOPLE)  # one each: no split episodes
    assert h["broker"]["connected"]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM fixes")
        assert await cur.fetchone() == (5 * len(PEOPLE), 5 * len(PEOPLE))


async def test_wrong_partition_is_refused_and_http_fixes_reach_their_partition(
    db_url, mosquitto, engine_factory
):
    await seed(db_url)
    engine = engine_factory(db_url, consumers="2", mqtt_partitions=str(PARTITIONS),
                            device_secret=DEVICE_SECRET.decode())
    await consumers_up(engine)
    sid = next(s for s in PEOPLE if partition_of(s, PARTITIONS) % 2 == 1)  # consumer 1's
    now = time.time()
    wrong = native_topic(f"br-{sid}", (partition_of(sid, PARTITIONS) + 1) % PARTITIONS)
    await publish(mosquitto.url, [
        (wrong, orjson.dumps({"ts": now - 5, "lon": 1.0, "lat": 1.0})),
        (native_topic(f"br-{sid}"), orjson.dumps({"ts": now - 4, "lon": 1.0, "lat": 1.0})),
    ])
    # The HTTP intake lives in consumer 0; this fix is evaluated by consumer 1.
    r = httpx.get(f"{engine.base}/osmand", params={
        "id": f"br-{sid}", "lat": "30.3", "lon": "-97.7", "timestamp": str(int(now - 3)),
        "key": device_password(DEVICE_SECRET, f"br-{sid}")})
    assert r.status_code == 200
    deadline = time.monotonic() + 20
    while True:
        c = engine.health()["counters"]
        if c["quarantined"] >= 2 and c["fixes_stored"] >= 1:
            break
        assert time.monotonic() < deadline, c
        await asyncio.sleep(0.2)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT reason FROM quarantine ORDER BY id")
        reasons = [r for (r,) in await cur.fetchall()]
        cur = await conn.execute("SELECT device_id, source FROM fixes")
        stored = await cur.fetchall()
    want = partition_of(sid, PARTITIONS)
    assert len(reasons) == 2  # both published where they do not belong
    assert all(r.startswith(f"device 'br-{sid}' belongs to partition {want}: it must publish "
                            f"under the topic prefix p{want}/") for r in reasons)
    assert stored == [(f"br-{sid}", "native")]  # the OsmAnd fix, via its partition's topic


async def test_a_consumer_killed_is_restarted_and_its_partitions_lose_nothing(
    db_url, mosquitto, engine_factory
):
    import os
    import signal
    from pathlib import Path

    await seed(db_url)
    engine = engine_factory(db_url, consumers="2", mqtt_partitions=str(PARTITIONS))
    await consumers_up(engine)
    [child] = Path(f"/proc/{engine.proc.pid}/task/{engine.proc.pid}/children").read_text().split()
    theirs = [s for s in PEOPLE if partition_of(s, PARTITIONS) % 2 == 1]
    os.kill(int(child), signal.SIGKILL)
    t0 = time.time() - 100
    # Published while consumer 1 is dead: its partitions' sessions keep them.
    await publish(mosquitto.url, [
        (topic(sid), orjson.dumps({"ts": t0 + k, "lon": 1.0, "lat": 1.0}))
        for sid in theirs for k in range(3)])
    deadline = time.monotonic() + 30
    while True:
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            cur = await conn.execute("SELECT count(*) FROM fixes")
            (stored,) = await cur.fetchone()
        if stored >= 3 * len(theirs):
            break
        assert time.monotonic() < deadline, f"{stored} of {3 * len(theirs)} stored"
        await asyncio.sleep(0.3)
    assert stored == 3 * len(theirs)
    [again] = Path(f"/proc/{engine.proc.pid}/task/{engine.proc.pid}/children").read_text().split()
    assert again != child
