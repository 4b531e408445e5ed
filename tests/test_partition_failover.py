"""Partition ownership by lease, on the real stack: two engine processes share four partitions;
the one holding some of them is killed (SIGKILL) while devices publish; the other takes them
over, and every fix published is stored exactly once, and an alert open before the kill is not
raised again."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import orjson
import psycopg
import pytest

from devices.topics import partition_of
from store.leases import leases
from tests.conftest import ROOT
from tests.test_partitions import CENTRE, PARTITIONS, PEOPLE, seed, topic

LEASES = {"partition_ownership": "leases", "mqtt_partitions": str(PARTITIONS),
          "lease_ttl_s": "3", "lease_renew_s": "0.5"}


class Publisher:
    """Devices of every partition publishing QoS 1 fixes without pause; a fix counts as
    published once the broker has acknowledged it. Everyone is far from the protected
    residence, except those sent ``inside``."""

    def __init__(self, mqtt_port: int):
        self.port = mqtt_port
        self.published: dict[str, set[float]] = {f"br-{sid}": set() for sid in PEOPLE}
        self.inside: set[str] = set()
        self.running = True
        self.rounds = 0
        self.t0 = float(int(time.time()) - 3000)  # fix times exact in microseconds

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="failover-fleet",
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:
            client.pending_calls_threshold = 2 * len(PEOPLE)  # a round is sent at once
            n = 0
            while self.running:
                ts = self.t0 + 0.5 * n
                await asyncio.gather(*(self._send(client, sid, ts) for sid in PEOPLE))
                n += 1
                self.rounds = n
                await asyncio.sleep(0.05)

    async def until_read(self, db_url: str) -> None:
        """Until every partition's session is read: a broker keeps nothing for a session it
        has never seen, so a fix published before the engine first subscribed is not lost, it
        was never queued. One fix a device, before the fixes counted, until all are stored."""
        async with aiomqtt.Client("127.0.0.1", self.port, protocol=aiomqtt.ProtocolVersion.V5
                                  ) as client, await psycopg.AsyncConnection.connect(
                                      db_url, autocommit=True) as conn:
            for attempt in range(200):
                cur = await conn.execute("SELECT count(DISTINCT device_id) FROM fixes")
                if (await cur.fetchone())[0] == len(PEOPLE):
                    return
                for sid in PEOPLE:
                    await client.publish(topic(sid), orjson.dumps(
                        {"ts": self.t0 - 1 - attempt, "lon": 1.0, "lat": 1.0}), qos=1)
                await asyncio.sleep(0.5)
        raise AssertionError("the engine never read every partition")

    async def _send(self, client: aiomqtt.Client, sid: str, ts: float) -> None:
        lat = CENTRE[1] + (0.0 if sid in self.inside else 0.05)
        await client.publish(topic(sid), orjson.dumps(
            {"ts": ts, "lon": CENTRE[0], "lat": lat, "acc": 5.0}), qos=1)
        self.published[f"br-{sid}"].add(ts)


async def holders(db_url: str) -> dict[int, str | None]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        return {x.partition: x.owner if x.expires_in_s > 0 else None for x in await leases(conn)}


async def until(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


@pytest.fixture
def second_engine(tmp_path: Path):
    """``cordon serve --consumer 1`` beside an engine (its settings, another process)."""
    procs: list[subprocess.Popen] = []

    def start(engine) -> subprocess.Popen:
        with open(tmp_path / "engine-1.log", "ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "cordon", "serve", "--consumer", "1"],
                env=engine.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        return procs[-1]

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(20)


async def test_a_partition_owner_killed_mid_stream_is_taken_over_with_every_fix_stored_once(
    db_url, mosquitto, engine_factory, second_engine
):
    await seed(db_url)
    first = engine_factory(db_url, **LEASES)
    await until(lambda: _all_held_by_one(db_url), "the first engine takes every partition")
    first_owner = (await holders(db_url))[0]
    publisher = Publisher(first.mqtt_port)
    await publisher.until_read(db_url)
    publishing = asyncio.create_task(publisher.run())
    try:
        # A second process joins: the first gives back its surplus while devices publish.
        events = {"join": publisher.rounds}
        second = second_engine(first)
        split = await until(lambda: _split(db_url), "the partitions are shared two and two")
        [theirs] = set(split.values()) - {first_owner}
        their_partitions = {k for k, owner in split.items() if owner == theirs}
        # One of the second process's people enters the protected residence: it opens an alert.
        violator = next(s for s in PEOPLE if partition_of(s, PARTITIONS) in their_partitions)
        events["split"] = publisher.rounds
        publisher.inside.add(violator)
        await until(lambda: _open_alerts(db_url, violator), "the violation is raised")

        events["kill"] = publisher.rounds
        second.send_signal(signal.SIGKILL)
        killed_at = time.time()
        second.wait(10)
        # The first takes the dead one's partitions over once their leases lapse.
        await until(lambda: _all_held_by_one(db_url), "the partitions are taken over")
        taken_at = time.time()
        events["taken"] = publisher.rounds
        assert set((await holders(db_url)).values()) == {first_owner}
        await asyncio.sleep(3)  # and goes on reading them, the violator still inside
    finally:
        publisher.running = False
        await publishing

    total = sum(len(ts) for ts in publisher.published.values())
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        deadline = time.monotonic() + 60
        while True:
            cur = await conn.execute("SELECT count(*) FROM fixes WHERE ts >= to_timestamp(%s)",
                                     (publisher.t0,))
            (stored,) = await cur.fetchone()
            if stored >= total:
                break
            if time.monotonic() > deadline:
                cur = await conn.execute("SELECT device_id, extract(epoch FROM ts)::float8 "
                                         "FROM fixes WHERE ts >= to_timestamp(%s)",
                                         (publisher.t0,))
                have = set(await cur.fetchall())
                missing = sorted((d, (ts - publisher.t0) / 0.5)
                                 for d, tss in publisher.published.items() for ts in tss
                                 if (d, ts) not in have)
                raise AssertionError(f"{stored} of {total} fixes stored; missing (device, "
                                     f"round): {missing[:40]}; events: {events}")
            await asyncio.sleep(0.3)
        cur = await conn.execute("SELECT device_id, extract(epoch FROM ts)::float8, "
                                 "extract(epoch FROM received_at)::float8 FROM fixes "
                                 "WHERE ts >= to_timestamp(%s)", (publisher.t0,))
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT count(*) FROM quarantine")
        (quarantined,) = await cur.fetchone()
        cur = await conn.execute("SELECT supervisee_id, kind, subject, status FROM alerts")
        alerts = await cur.fetchall()
    stored_by_device: dict[str, list[float]] = {}
    for device, ts, _ in rows:
        stored_by_device.setdefault(device, []).append(ts)
    for device, published in publisher.published.items():
        got = stored_by_device.get(device, [])
        assert len(got) == len(set(got))  # none twice
        assert set(got) == published, (device, len(published - set(got)), "missing")
    assert len(rows) == total
    assert quarantined == 0
    # The alert opened by the dead process is the only one: the survivor took the open
    # episode over and did not raise it again.
    assert alerts == [(violator, "exclusion_entry", "victim", "open")]

    # How long the dead process's partitions went unread: the longest pause between two fixes
    # stored of their devices around the kill.
    theirs_devices = {f"br-{s}" for s in PEOPLE if partition_of(s, PARTITIONS) in their_partitions}
    received = sorted(r for d, _, r in rows if d in theirs_devices)
    gap = max(b - a for a, b in zip(received, received[1:], strict=False))
    print(json.dumps({"lease_ttl_s": float(LEASES["lease_ttl_s"]),
                      "lease_renew_s": float(LEASES["lease_renew_s"]),
                      "kill_to_leases_taken_s": round(taken_at - killed_at, 2),
                      "longest_unread_s": round(gap, 2), "fixes": total}))


async def _all_held_by_one(db_url: str) -> bool:
    held = await holders(db_url)
    return len(held) == PARTITIONS and None not in held.values() and len(set(held.values())) == 1


async def _split(db_url: str) -> dict[int, str | None] | None:
    held = await holders(db_url)
    owners = list(held.values())
    if len(held) == PARTITIONS and None not in owners and len(set(owners)) == 2 and all(
            owners.count(o) == 2 for o in owners):
        return held
    return None


async def _open_alerts(db_url: str, sid: str) -> bool:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM alerts WHERE supervisee_id = %s", (sid,))
        return (await cur.fetchone())[0] > 0
