"""Check-ins (信息化核查): Cordon asks a phone for its position with the OwnTracks command
``reportLocation``; a fix within the deadline is the answer (recorded with its distance from
home), none raises ``check_in_missed``. On the real stack: Mosquitto with the ACL generated
from the registry, the engine process with its API, PostgreSQL; the rule on the real pipeline
with a clock the test moves."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.rules.check_in_missed import ANSWER_GRACE_S
from cordon.services import PrivateMosquitto, free_port
from devices.topics import owntracks_topic
from ingest.check_ins import one_pass, slot_times
from ingest.commands import REPORT_LOCATION, command_topic
from ingest.pipeline import RawMessage
from store import check_ins as store
from tests.conftest import ManualClock, registry_pool, started_pipeline
from tests.test_casework import Api, admitted, query, seed, wait
from tests.test_mqtt_security import (  # noqa: F401 — fixtures
    ENGINE,
    GATEWAY,
    NOT_AUTHORISED_5,
    SECRET,
    Client,
    device,
    per_device,
    secure_broker,
    sync,
)
from tests.test_rules import HOME, east

HOME_FEATURE = {"type": "Feature", "properties": {"radius_m": 75},
                "geometry": {"type": "Point", "coordinates": list(HOME)}}


def location(at: tuple[float, float], ts: float) -> bytes:
    """What OwnTracks publishes in answer to ``reportLocation``: trigger ``r``."""
    return orjson.dumps({"_type": "location", "lon": at[0], "lat": at[1], "tst": int(ts),
                         "acc": 8, "t": "r"})


# --- the rule on the real pipeline, with the test's clock -----------------------------------------

def registry() -> dict:
    return {
        "jurisdictions": [{"id": "tx", "name": "Texas", "kind": "state", "parent_id": None,
                           "timezone": "America/Chicago"}],
        "zones": [{**HOME_FEATURE, "id": "home-p1",
                   "properties": {"kind": "inclusion", "radius_m": 75, "name": "home"}}],
        "plans": [],
        "supervisees": [{"id": "p1", "name": "P One", "jurisdiction_id": "tx", "zone_ids": [],
                         "home_zone_id": "home-p1"}],
        "victims": [],
        "devices": [{"id": "ph-1", "kind": "phone", "supervisee_id": "p1"}],
        "pairings": [],
    }


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with registry_pool(db_url, registry()) as p:
        async with p.connection() as conn:  # the registry import leaves the column alone
            await conn.execute("UPDATE supervisees SET home_zone_id = 'home-p1'")
        yield p


async def ask(pool: AsyncConnectionPool, at: float, minutes: float, **kw) -> int:
    async with pool.connection() as conn, conn.transaction():
        cid = await store.insert(conn, "p1", "ph-1", at, at + minutes * 60, "officer-1",
                                 command_topic("ph-1"), **kw)
    assert cid is not None
    return cid


async def missed_alerts(pool: AsyncConnectionPool) -> list[tuple]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT subject, severity, status FROM alerts "
                                 "WHERE kind = 'check_in_missed' ORDER BY id")
        return await cur.fetchall()


@pytest.mark.asyncio
async def test_an_answer_in_time_is_recorded_and_none_raises_check_in_missed(pool):
    t0 = float(int(time.time()) - 3600)
    answered = await ask(pool, t0, 10)
    unanswered = await ask(pool, t0 + 1000, 10)
    clock = ManualClock(t0 + 10)
    p = await started_pipeline(pool, clock)

    # The phone answers the first request 50 m from home; nothing answers the second.
    await p.process([RawMessage(owntracks_topic("ph-1", "ph-1"),
                                location(east(50), t0 + 60), t0 + 61)])
    clock.now = t0 + 600 + ANSWER_GRACE_S + 1
    await p.tick()
    assert await missed_alerts(pool) == []
    clock.now = t0 + 1000 + 600 + ANSWER_GRACE_S - 1  # the deadline passed, the grace not yet
    await p.tick()
    assert await missed_alerts(pool) == []
    clock.now = t0 + 1000 + 600 + ANSWER_GRACE_S + 1
    await p.tick()
    await p.tick()  # once
    assert await missed_alerts(pool) == [(f"check-in {unanswered}", "medium", "open")]
    started = query(pool.conninfo, "SELECT extract(epoch FROM started_at) FROM alerts")
    assert [float(r[0]) for r in started] == [t0 + 1000 + 600]  # missed as of its deadline

    # The record agrees: the answer with its distance from home, the other one missed.
    async with pool.connection() as conn, conn.transaction():
        assert await store.settle(conn, clock.now) == (1, 1)
        a, b = await store.one(conn, answered), await store.one(conn, unanswered)
    assert a["status"] == "answered" and b["status"] == "missed" and b["answer"] is None
    assert a["answer"]["ts"] == t0 + 60 and a["answer"]["at_home"] is True
    assert 45 < a["answer"]["home_distance_m"] < 55

    # A late answer (its fix time in the window, but received after the grace) answers nothing;
    # a restarted engine neither forgets nor repeats a decided request.
    late = await ask(pool, t0 + 2000, 5)
    await p.refresh_registry()
    await p.process([RawMessage(owntracks_topic("ph-1", "ph-1"), location(east(10), t0 + 2100),
                                t0 + 2000 + 300 + ANSWER_GRACE_S + 5)])
    clock.now = t0 + 2000 + 300 + ANSWER_GRACE_S + 10
    restarted = await started_pipeline(pool, clock)
    await restarted.tick()
    assert [s for s, _, _ in await missed_alerts(pool)] == [f"check-in {unanswered}",
                                                            f"check-in {late}"]


@pytest.mark.asyncio
async def test_a_plan_without_the_kind_raises_nothing(db_url):
    doc = registry()
    doc["plans"] = [{"id": "quiet", "name": "Quiet", "settings": {"rules": ["curfew"]}}]
    doc["supervisees"][0]["plan_id"] = "quiet"
    async with registry_pool(db_url, doc) as pool:
        t0 = float(int(time.time()) - 3600)
        await ask(pool, t0, 1)
        clock = ManualClock(t0 + 600)
        p = await started_pipeline(pool, clock)
        await p.tick()
        assert await missed_alerts(pool) == []


@pytest.mark.asyncio
async def test_a_schedule_asks_at_its_random_times_once_each(pool):
    async with pool.connection() as conn, conn.transaction():
        await store.set_schedule(conn, "p1", 3, clock_time(9), clock_time(21), 15, "sup")
    day = datetime.now(UTC).date()
    slots = slot_times("p1", day, 3, clock_time(9), clock_time(21), "America/Chicago")
    assert slots == slot_times("p1", day, 3, clock_time(9), clock_time(21), "America/Chicago")
    assert slots != slot_times("p2", day, 3, clock_time(9), clock_time(21), "America/Chicago")
    made, _, _ = await one_pass(pool, None, slots[1] + 60)
    assert made == 1
    assert (await one_pass(pool, None, slots[1] + 120))[0] == 0  # that slot is asked
    assert (await one_pass(pool, None, slots[1] + 16 * 60))[0] == 0  # nor is a stale one
    rows = query(pool.conninfo, "SELECT requested_by, extract(epoch FROM scheduled_for), "
                               "extract(epoch FROM deadline - requested_at), sent_at "
                               "FROM check_ins")
    assert [(r[0], float(r[1]), float(r[2]), r[3]) for r in rows] == [
        ("schedule", slots[1], 900.0, None)]  # no broker here: sent when there is one
    assert query(pool.conninfo, "SELECT actor, action FROM audit_log") == [
        ("schedule", "check_in.requested")]


# --- the broker's ACL: a phone's command topic is its own -----------------------------------------

@pytest.mark.asyncio
async def test_only_cordon_writes_a_phones_command_topic_and_only_that_phone_reads_it(
        secure_broker):  # noqa: F811 — the fixture
    port = secure_broker.port
    topic = command_topic("ph-a")
    phone, other, bracelet = (await device(port, "ph-a"), await device(port, "br-a"),
                              await device(port, "br-b"))
    engine = await Client.connect(port, *ENGINE)
    gateway = await Client.connect(port, *GATEWAY)
    try:
        assert await phone.subscribe([topic]) == [1]
        await other.subscribe([topic, "owntracks/+/+/cmd"])  # granted or not, it gets nothing
        # Another device, a relay user: refused; the phone hears nothing of them.
        forged = b'{"_type":"cmd","action":"reportLocation"}'
        assert await bracelet.publish(topic, forged) == NOT_AUTHORISED_5
        assert await gateway.publish(topic, forged) == NOT_AUTHORISED_5
        assert await phone.publish(topic, forged) == NOT_AUTHORISED_5  # not even the phone
        await phone.linger(0.3)
        assert phone.received == []
        # Cordon's own user: delivered to the phone, and to nobody else.
        assert await engine.publish(topic, REPORT_LOCATION) == 0
        await phone.wait_for(topic, REPORT_LOCATION)
        await other.linger(0.3)
        assert other.received == []
    finally:
        for c in (phone, other, bracelet, engine, gateway):
            c.close()


# --- the officer's request through the API, on the real stack -------------------------------------

async def test_a_check_in_reaches_the_phone_and_its_answer_is_recorded(db_url, engine_factory,
                                                                     tmp_path: Path):
    await seed(db_url)
    auth = tmp_path / "auth"
    await sync(db_url, auth)
    with PrivateMosquitto(free_port(), tmp_path / "mqtt", password_file=auth / "passwd",
                          acl_file=auth / "acl") as broker:
        eng = engine_factory(db_url, f"mqtt://{ENGINE[0]}:{ENGINE[1]}@127.0.0.1:{broker.port}",
                             broker_auth_dir=str(auth), device_secret=SECRET.decode(),
                             broker_relay_users=GATEWAY[0],
                             broker_reload_command=f"kill -HUP {broker.proc.pid}",
                             timers_start_after_s="0", timer_tick_s="0.5")
        sup, off, bsup = Api(eng.base, "sup"), Api(eng.base, "off"), Api(eng.base, "bsup")
        home = {**HOME_FEATURE, "geometry": {"type": "Point", "coordinates": [116.35, 39.92]}}
        for pid in ("P-1", "P-2"):
            r = sup.post("/supervisees", json={"id": pid, "name": pid, "jurisdiction_id": "cn-a",
                                               "home": home})
            assert r.status_code == 201, r.text
        r = sup.post("/supervisees/P-1/devices", json={"device_id": "ph-1", "kind": "phone"})
        assert r.status_code == 200, r.text
        (await admitted(broker.port, "ph-1")).close()  # the broker knows the phone now
        phone = await device(broker.port, "ph-1")  # (MQTT 5: the test client reads it)
        try:
            topic = command_topic("ph-1")
            assert await phone.subscribe([topic]) == [1]

            # Refusals: outside reach, no phone, bad input (naming the field).
            assert bsup.post("/supervisees/P-1/check-ins", json={}).status_code == 404
            r = off.post("/supervisees/P-2/check-ins", json={})
            assert r.status_code == 409 and "no phone" in r.json()["detail"]
            r = off.post("/supervisees/P-1/check-ins", json={"deadline_min": 0})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body",
                                                                             "deadline_min"]
            # The officer asks: the phone gets OwnTracks' command on its cmd topic.
            r = off.post("/supervisees/P-1/check-ins", json={"deadline_min": 5,
                                                              "note": "random check"})
            assert r.status_code == 201, r.text
            assert r.json()["sent"] is True
            cid = r.json()["check_in"]["id"]
            assert r.json()["check_in"]["topic"] == topic == "owntracks/ph-1/ph-1/cmd"
            await phone.wait_for(topic, REPORT_LOCATION)

            # It answers as OwnTracks does; the answer is recorded, ~111 m from home.
            await phone.publish(owntracks_topic("ph-1", "ph-1"),
                                location((116.35, 39.921), time.time()))

            def settled() -> dict | None:
                found = off.get("/supervisees/P-1/check-ins").json()["check_ins"]
                return found[0] if found and found[0]["status"] == "answered" else None

            wait(settled, what="the answer recorded")
            answer = settled()["answer"]
            assert answer["at_home"] is False and 105 < answer["home_distance_m"] < 117
            assert bsup.get("/supervisees/P-1/check-ins").status_code == 404

            # Schedules: the supervisor sets one; an officer may not; a bad window is named.
            schedule = {"times_per_day": 3, "window_start": "09:00", "window_end": "21:00",
                        "deadline_min": 15}
            assert off.put("/supervisees/P-1/check-in-schedule",
                           json=schedule).status_code == 403
            r = sup.put("/supervisees/P-1/check-in-schedule",
                        json={**schedule, "window_end": "08:00"})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body",
                                                                             "window_end"]
            r = sup.put("/supervisees/P-1/check-in-schedule", json=schedule)
            assert r.status_code == 200 and r.json()["effective"]["times_per_day"] == 3
            assert off.get("/supervisees/P-1/check-in-schedule").json()["own"][
                "window_end"] == "21:00"
            assert bsup.get("/supervisees/P-1/check-in-schedule").status_code == 404

            # Every write is in the audit trail, and so is the read of the answers.
            actions = query(db_url, "SELECT actor, action, subject FROM audit_log WHERE "
                                    "starts_with(action, 'check_in') ORDER BY id")
            assert ("off", "check_in.requested", str(cid)) in actions
            assert ("off", "check_ins.read", "P-1") in actions
            assert ("sup", "check_in_schedule.set", "P-1") in actions
            assert [a for a in actions if a[0] == "bsup"] == []
        finally:
            phone.close()


def test_slot_times_follow_the_local_window_across_dst():
    # 8 March 2026: the US clocks go forward at 02:00; the window is still 09:00–21:00 local,
    # one check-in in each quarter of it.
    chicago = ZoneInfo("America/Chicago")
    slots = slot_times("p1", datetime(2026, 3, 8).date(), 4, clock_time(9), clock_time(21),
                       "America/Chicago")
    hours = [datetime.fromtimestamp(t, chicago).hour for t in slots]
    assert [9 <= h < 12 for h in hours[:1]] == [True] and 18 <= hours[3] < 21
    assert all(9 + 3 * k <= h < 12 + 3 * k for k, h in enumerate(hours))
