"""Faults on real parts: the engine killed, the broker restarted, the database stopped — and
every fix a device published with QoS 1 is stored exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import psycopg
import pytest

from cordon.services import PrivateMosquitto, PrivatePostgres, free_port
from devices.models import Device, Jurisdiction, Supervisee
from simulators.loadgen import at_rate, publish_load
from store.database import migrate
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee

pytestmark = pytest.mark.asyncio

DEVICES = 50


async def seed(db_url: str) -> None:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("j", "J", "county"), None)
        for i in range(DEVICES):
            await upsert_supervisee(conn, Supervisee(f"P-{i}", f"P-{i}", "j", ()))
            await upsert_device(conn, Device(f"br-{i}", f"P-{i}", "bracelet"))


def fixes(n: int, t0: float):
    for i in range(n):
        device = f"br-{i % DEVICES}"
        ts = t0 + i // DEVICES  # one fix a second per device, all distinct (device, ts)
        payload = f'{{"ts":{ts},"lon":-97.7,"lat":30.2,"acc":8}}'.encode()
        yield device, f"cordon/devices/{device}/fixes", payload


async def stored(db_url: str) -> tuple[int, int]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM fixes")
        return await cur.fetchone()


async def wait_stored(db_url: str, n: int, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    got = (0, 0)
    while time.monotonic() < deadline:
        try:
            got = await stored(db_url)
        except psycopg.OperationalError:
            pass
        if got[0] >= n:
            break
        await asyncio.sleep(0.25)
    return got


@pytest.fixture
def broker(tmp_path: Path):
    with PrivateMosquitto(free_port(), tmp_path / "mqtt", persistence=True) as b:
        yield b


async def test_engine_killed_repeatedly_loses_and_duplicates_nothing(db_url, broker,
                                                                   engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, broker.url)
    n = 12_000
    publisher = asyncio.create_task(publish_load(
        at_rate(fixes(n, time.time() - 3600), 1500), "127.0.0.1", broker.port, 60))
    for _ in range(4):  # SIGKILL mid-stream, then restart on the same session
        await asyncio.sleep(1.5)
        engine.proc.send_signal(signal.SIGKILL)
        engine.proc.wait()
        await asyncio.sleep(0.5)
        engine.start()
    report = await publisher
    assert report.acknowledged == n  # the broker took every message
    total, distinct = await wait_stored(db_url, n, 60)
    assert (total, distinct) == (n, n)
    health = engine.health()
    engine.stop()
    assert health["counters"]["quarantined"] == 0


async def test_broker_restart_with_persistence_loses_nothing(db_url, broker, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, broker.url)
    n = 4000
    t0 = time.time() - 3600
    first = await publish_load(at_rate(fixes(n, t0), 2000), "127.0.0.1", broker.port, 60)
    assert first.acknowledged == n
    broker.stop()
    await asyncio.sleep(1)
    broker.start()
    deadline = time.monotonic() + 30
    while not engine.health()["broker"]["connected"] and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert engine.health()["broker"]["connected"], "the engine did not reconnect"
    later = ((d, t, p) for d, t, p in fixes(2 * n, t0))
    rest = [m for i, m in enumerate(later) if i >= n]
    second = await publish_load(at_rate(iter(rest), 2000), "127.0.0.1", broker.port, 60)
    assert second.acknowledged == n
    assert await wait_stored(db_url, 2 * n, 60) == (2 * n, 2 * n)
    engine.stop()


async def test_database_down_for_30_s_loses_nothing(engine_factory):
    pg = PrivatePostgres(free_port(), durable=False)  # its own folder, reachable by postgres
    pg.start()
    try:
        db_url = pg.url
        await seed(db_url)
        engine = engine_factory(db_url)
        n = 6000
        t0 = time.time() - 3600
        publisher = asyncio.create_task(publish_load(
            at_rate(fixes(n, t0), 200), "127.0.0.1", engine.mqtt_port, 60))
        await asyncio.sleep(3)
        pg.stop()
        await asyncio.sleep(2)
        health = engine.health()
        assert health["database"]["connected"] is False
        assert health["status"] == "degraded"
        await asyncio.sleep(28)
        pg.start()
        report = await publisher
        assert report.acknowledged == n
        assert await wait_stored(db_url, n, 60) == (n, n)
        assert engine.health()["database"]["connected"] is True
        engine.stop()
    finally:
        pg.cleanup()
