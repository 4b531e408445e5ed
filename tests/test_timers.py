"""Timers survive restarts: lost contact, curfew starts and escalations are rebuilt from the
database when the engine starts. Plans, zone groups and device events come from the registry
and are stored. Runs the real pipeline against PostgreSQL, with a clock the test moves."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from ingest.pipeline import RawMessage
from store.registry import load_registry
from tests.conftest import ManualClock as Clock
from tests.conftest import registry_pool, started_pipeline
from tests.test_rules import HOME, east

pytestmark = pytest.mark.asyncio

T0 = float((int(time.time()) // 86400 - 1) * 86400 + 12 * 3600)  # noon UTC, yesterday


def registry() -> dict:
    def circle(zid: str, kind: str, where: tuple[float, float], r: float, **props) -> dict:
        return {"type": "Feature", "id": zid,
                "properties": {"kind": kind, "radius_m": r, "name": zid, **props},
                "geometry": {"type": "Point", "coordinates": list(where)}}
    curfew = {"timezone": "UTC", "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat",
                                                       "sun"], "start": "22:00", "end": "06:00"}]}
    return {
        "jurisdictions": [{"id": "tx", "name": "Texas", "kind": "state", "parent_id": None,
                           "timezone": "America/Chicago"}],
        "zones": [circle("home-p1", "inclusion", HOME, 75, schedule=curfew),
                  circle("school-a", "exclusion", east(3000), 150),
                  circle("school-b", "exclusion", east(6000), 150)],
        "zone_groups": [{"id": "schools", "name": "Every school",
                         "zone_ids": ["school-a", "school-b"]}],
        "plans": [{"id": "strict", "name": "Strict",
                   "settings": {"lost_contact_grace_s": 600, "escalate_after_s": 300,
                                "zone_groups": ["schools"]}}],
        "supervisees": [{"id": "p1", "name": "P One", "jurisdiction_id": "tx",
                         "zone_ids": [], "home_zone_id": "home-p1", "plan_id": "strict"}],
        "victims": [],
        "devices": [{"id": "br-1", "kind": "bracelet", "supervisee_id": "p1"}],
        "pairings": [],
    }


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with registry_pool(db_url, registry()) as p:
        yield p


pipeline = started_pipeline


def fix(t: float, where: tuple[float, float]) -> RawMessage:
    body = {"ts": t, "lon": where[0], "lat": where[1], "acc": 5.0}
    return RawMessage("cordon/devices/br-1/fixes", json.dumps(body).encode(), t + 1)


async def alerts(pool: AsyncConnectionPool) -> list[tuple]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT kind, status, severity, escalated_at IS NOT NULL "
                                 "FROM alerts ORDER BY id")
        return await cur.fetchall()


async def test_plans_and_zone_groups_come_from_the_registry(pool):
    async with pool.connection() as conn:
        reg = await load_registry(conn)
    assert reg.supervisees["p1"].zone_ids == ("home-p1", "school-a", "school-b")
    assert reg.plans["strict"].lost_contact_grace_s == 600
    # The plan's zone group applies: entering a school of the group raises an alert.
    clock = Clock(T0)
    p = await pipeline(pool, clock)
    await p.process([fix(T0 + 15 * i, east(3000)) for i in range(3)])
    assert await alerts(pool) == [("exclusion_entry", "open", "high", False)]


async def test_lost_contact_is_rebuilt_after_a_restart(pool):
    clock = Clock(T0)
    p = await pipeline(pool, clock)
    await p.process([fix(T0 + 60 * i, HOME) for i in range(3)])
    clock.now = T0 + 300
    await p.tick()
    assert await alerts(pool) == []
    # The engine stops; the device stays silent. A new engine reads what the devices did last
    # from the database, and raises lost contact when it falls due: 120 + 60 + 600 s.
    clock.now = T0 + 500
    p = await pipeline(pool, clock)
    await p.tick()
    assert await alerts(pool) == []
    clock.now = T0 + 790
    await p.tick()
    assert await alerts(pool) == [("lost_contact", "open", "high", False)]


async def test_a_curfew_that_began_while_the_engine_was_down_is_caught_up(pool):
    day = T0 - T0 % 86400
    clock = Clock(day + 21 * 3600 + 55 * 60)
    p = await pipeline(pool, clock)
    await p.process([fix(clock.now - 60 + 20 * i, east(900)) for i in range(3)])
    await p.tick()
    # Down across 22:00; back at 22:02 the person's last position (recent, 900 m from home)
    # says they were away when it began.
    clock.now = day + 22 * 3600 + 120
    p = await pipeline(pool, clock)
    await p.tick()
    assert await alerts(pool) == [("curfew", "open", "high", False)]


async def test_unacknowledged_alerts_escalate_once_also_after_a_restart(pool):
    clock = Clock(T0)
    p = await pipeline(pool, clock)
    await p.process([fix(T0 + 15 * i, east(3000)) for i in range(3)])
    clock.now = T0 + 200
    await p.tick()
    assert await alerts(pool) == [("exclusion_entry", "open", "high", False)]
    clock.now = T0 + 400
    p = await pipeline(pool, clock)  # restarted: the deadline comes from the database
    await p.tick()
    await p.tick()
    assert await alerts(pool) == [("exclusion_entry", "open", "critical", True)]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT action, actor FROM alert_events ORDER BY id")
        assert await cur.fetchall() == [("opened", "engine"), ("escalated", "engine")]


async def test_device_events_are_stored_once_and_feed_the_rules(pool):
    clock = Clock(T0)
    p = await pipeline(pool, clock)
    ev = RawMessage("cordon/devices/br-1/events",
                    json.dumps({"ts": T0, "event": "strap_tamper", "batt": 70}).encode(), T0 + 1)
    bad = RawMessage("cordon/devices/br-1/events", b'{"ts": 1, "event": "exploded"}', T0 + 1)
    await p.process([ev, bad])
    await p.process([ev])  # redelivered
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM device_events")
        assert (await cur.fetchone())[0] == 1
        cur = await conn.execute("SELECT reason FROM quarantine")
        assert [r[0] for r in await cur.fetchall()] == [
            "unknown event 'exploded' (one of strap_tamper, ...)"]
    assert await alerts(pool) == [("strap_tamper", "open", "critical", False)]
