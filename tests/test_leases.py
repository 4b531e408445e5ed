"""Partition leases: the SQL steps under concurrency (store/leases.py), the keeper's loops
(cordon/leases.py) against the real database, and the settings that choose them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from cordon.leases import LeaseKeeper
from cordon.settings import SettingsError, check_partition_ownership, load_settings
from store.database import migrate
from store.leases import acquire, free_partitions, heartbeat, leases, leave, release, renew


async def connect(db_url: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(db_url, autocommit=True)


async def test_two_owners_racing_for_a_partition_one_wins(db_url):
    await migrate(db_url)
    a, b = await connect(db_url), await connect(db_url)
    async with a, b:
        # Side by side, many times over: new rows, then lapsed ones.
        for k in range(30):
            won = await asyncio.gather(acquire(a, "a", [k], 60), acquire(b, "b", [k], 60))
            assert sorted(len(w) for w in won) == [0, 1], (k, won)
        await a.execute("UPDATE partition_leases SET expires_at = now()")
        for k in range(30):
            won = await asyncio.gather(acquire(b, "b", [k], 60), acquire(a, "a", [k], 60))
            assert sorted(len(w) for w in won) == [0, 1], (k, won)
            assert [epoch for w in won for epoch in w.values()] == [2]  # a second holding
        # Made to overlap: ``a`` takes inside a transaction still open while ``b`` tries.
        for lapsed in (False, True):
            k = 100
            if lapsed:
                await a.execute("UPDATE partition_leases SET expires_at = now() "
                                "WHERE partition = %s", (k,))
            async with a.transaction():
                assert len(await acquire(a, "a", [k], 60)) == 1
                racing = asyncio.create_task(acquire(b, "b", [k], 60))
                await asyncio.sleep(0.3)
                assert not racing.done()  # waiting on the row ``a`` holds
            assert await racing == {}
        assert [(x.owner, x.epoch) for x in await leases(a) if x.partition == 100] == [("a", 2)]


async def test_a_lease_is_renewed_by_its_owner_only_until_it_lapses(db_url):
    await migrate(db_url)
    async with await connect(db_url) as conn:
        assert await acquire(conn, "a", [0, 1, 2], 60) == {0: 1, 1: 1, 2: 1}
        assert await acquire(conn, "b", [1, 2, 3], 60) == {3: 1}
        assert await acquire(conn, "a", [0], 60) == {}  # already held, even by itself
        assert await renew(conn, "b", [0, 1], 60) == set()
        assert await renew(conn, "a", [0, 1, 3], 60) == {0, 1}
        assert await free_partitions(conn, 6) == [4, 5]
        # a's lease on 1 lapses: a may not renew it, and b takes it as a new holding.
        await conn.execute("UPDATE partition_leases SET expires_at = now() WHERE partition = 1")
        assert await free_partitions(conn, 6) == [1, 4, 5]
        assert await renew(conn, "a", [0, 1], 60) == {0}
        assert await acquire(conn, "b", [1], 60) == {1: 2}
        assert await release(conn, "a", [1]) == set()  # not a's any more
        assert await release(conn, "a", [0]) == {0}
        assert await acquire(conn, "b", [0], 60) == {0: 2}
        assert {(x.partition, x.owner) for x in await leases(conn)} == {
            (0, "b"), (1, "b"), (2, "a"), (3, "b")}
        assert await release(conn, "b") == {0, 1, 3}
        assert await free_partitions(conn, 4) == [0, 1, 3]


async def test_heartbeats_say_who_is_alive_and_what_each_holds(db_url):
    await migrate(db_url)
    async with await connect(db_url) as conn:
        assert await heartbeat(conn, "a", "h1", 1, 60) == {"a": 0}
        await acquire(conn, "a", [0, 1], 60)
        assert await heartbeat(conn, "b", "h2", 2, 60) == {"a": 2, "b": 0}
        await conn.execute("UPDATE engine_members SET expires_at = now() WHERE owner = 'a'")
        assert await heartbeat(conn, "b", "h2", 2, 60) == {"b": 0}
        assert await leave(conn, "a") == {0, 1}
        assert await free_partitions(conn, 2) == [0, 1]


class Readers:
    """Stands in for the engine's intakes: which partitions a keeper reads, when."""

    def __init__(self, name: str, reading: dict[int, str]):
        self.name = name
        self.reading = reading  # shared by every keeper of a test: partition → reader
        self.overlaps: list[int] = []

    async def take(self, partitions: frozenset[int], holds: Callable[[int], bool]) -> None:
        await asyncio.sleep(0.05)  # an adoption takes a while
        for k in partitions:
            if holds(k):
                if k in self.reading:
                    self.overlaps.append(k)
                self.reading[k] = self.name

    async def stop(self, partition: int) -> None:
        if self.reading.get(partition) == self.name:
            del self.reading[partition]

    async def drop(self, partition: int) -> None:
        await self.stop(partition)


async def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_keepers_share_partitions_fairly_and_take_over_from_a_dead_one(db_url):
    await migrate(db_url)
    reading: dict[int, str] = {}
    timing = {"ttl_s": 1.5, "renew_s": 0.25}

    def pool() -> AsyncConnectionPool:
        return AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False)

    async with pool() as pool_ab, pool() as pool_c:
        await pool_ab.open(wait=True)
        await pool_c.open(wait=True)
        ra, rb, rc = (Readers(n, reading) for n in "abc")
        a = LeaseKeeper(pool_ab, 5, ra, owner="a", **timing)
        b = LeaseKeeper(pool_ab, 5, rb, owner="b", **timing)
        ta = asyncio.create_task(a.run())
        await until(lambda: len(reading) == 5, "a alone takes every partition")
        tb = asyncio.create_task(b.run())
        # a gives back its surplus one at a time; b takes it: 3 and 2.
        await until(lambda: sorted(map(len, (a.held, b.held))) == [2, 3]
                    and len(reading) == 5, "the partitions are shared")
        c = LeaseKeeper(pool_c, 5, rc, owner="c", **timing)
        tc = asyncio.create_task(c.run())
        await until(lambda: sorted(map(len, (a.held, b.held, c.held))) == [1, 2, 2]
                    and len(reading) == 5, "three share five")
        theirs = set(c.held)
        # c is cut off from the database: no more heartbeat or renewal. It stops reading
        # before its leases lapse, then a and b take its partitions over.
        await pool_c.close()
        await until(lambda: "c" not in reading.values(), "c stops reading")
        await until(lambda: theirs <= (a.held.keys() | b.held.keys()) and len(reading) == 5,
                    "c's partitions are taken over")
        assert sorted(map(len, (a.held, b.held))) == [2, 3]
        tc.cancel()
        await asyncio.gather(tc, return_exceptions=True)
        # b stops in good order: its leases are given back, and a takes them at once.
        tb.cancel()
        await asyncio.gather(tb, return_exceptions=True)
        await until(lambda: len(a.held) == 5 and len(reading) == 5, "a takes b's back")
        ta.cancel()
        await asyncio.gather(ta, return_exceptions=True)
        async with pool_ab.connection() as conn:
            assert await free_partitions(conn, 5) == [0, 1, 2, 3, 4]
    assert ra.overlaps == rb.overlaps == rc.overlaps == []  # never two readers at once


async def test_a_partition_whose_renewal_is_refused_is_dropped_at_once(db_url):
    await migrate(db_url)
    reading: dict[int, str] = {}
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as pool:
        await pool.open(wait=True)
        keeper = LeaseKeeper(pool, 2, Readers("a", reading), ttl_s=600, renew_s=0.1,
                             owner="a")
        task = asyncio.create_task(keeper.run())
        await until(lambda: len(reading) == 2, "a takes both")
        # Someone else holds partition 1 now (an operator, or a clock gone wrong): a's next
        # renewal is refused, and it stops reading partition 1 long before its own deadline.
        async with pool.connection() as conn:
            await conn.execute("UPDATE partition_leases SET owner = 'x' WHERE partition = 1")
        await until(lambda: list(reading) == [0], "partition 1 dropped")
        assert keeper.holds(0) and not keeper.holds(1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CORDON_PARTITION_OWNERSHIP": "zookeeper"}, "must be 'static' or 'leases'"),
        ({"CORDON_PARTITION_OWNERSHIP": "leases"}, "set mqtt_partitions to 2 or more"),
        ({"CORDON_PARTITION_OWNERSHIP": "leases", "CORDON_MQTT_PARTITIONS": "4",
          "CORDON_LEASE_RENEW_S": "0"}, "lease_renew_s must be more than 0"),
        ({"CORDON_PARTITION_OWNERSHIP": "leases", "CORDON_MQTT_PARTITIONS": "4",
          "CORDON_LEASE_TTL_S": "5", "CORDON_LEASE_RENEW_S": "2"},
         r"lease_ttl_s \(5.0\) must be at least 3 × lease_renew_s \(2.0\)"),
    ],
)
def test_bad_lease_settings_say_what_is_wrong(env, message):
    with pytest.raises(SettingsError, match=message):
        check_partition_ownership(load_settings(env=env))


def test_lease_settings_default_to_static_ownership():
    s = load_settings(env={})
    assert (s.partition_ownership, s.lease_ttl_s, s.lease_renew_s) == ("static", 10.0, 2.0)
    check_partition_ownership(s)
    check_partition_ownership(load_settings(env={"CORDON_PARTITION_OWNERSHIP": "leases",
                                                 "CORDON_MQTT_PARTITIONS": "8"}))


async def test_adopting_a_partition_restores_what_its_last_holder_left(db_url):
    """The pipeline side of a takeover (Pipeline.adopt): the live episode, the device clocks
    and activity of the partition's people come from storage, so a redelivered fix opens
    nothing twice; a partition given back takes its people's state with it."""
    import orjson

    from alerts.bus import LiveBus
    from devices.formats import Limits
    from devices.topics import native_topic, partition_of
    from ingest.pipeline import Pipeline, RawMessage
    from ingest.stats import IngestStats
    from tests.conftest import ManualClock, registry_pool
    from tests.test_reload_state import SCHOOL, T0, registry

    k = partition_of("p1", 4)
    fixes = [RawMessage(native_topic("br-1", k), orjson.dumps(
        [{"ts": T0 + 60 * i, "lon": SCHOOL[0], "lat": SCHOOL[1], "acc": 5.0}]), T0 + 60 * i)
        for i in range(5)]

    def pipeline(pool: AsyncConnectionPool, owned: frozenset[int]) -> Pipeline:
        return Pipeline(pool, LiveBus(), IngestStats(), Limits(max_age_s=10 * 86400),
                        partitions=4, owned=owned, clock=ManualClock(T0 + 600))

    async with registry_pool(db_url, registry()) as pool:
        first = pipeline(pool, frozenset({k}))
        await first.start()
        for m in fixes[:4]:
            await first.process([m])
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT id, kind FROM alerts WHERE supervisee_id = 'p1'")
            [(alert_id, kind)] = await cur.fetchall()
        # The first holder dies; the second, holding nothing so far, takes the partition.
        second = pipeline(pool, frozenset())
        await second.start()
        second.tracker.states.clear()  # as if it had never seen anyone (start restores all)
        second.tracker.clocks.clear()
        await second.adopt(frozenset({k}))
        assert second.owned == frozenset({k})
        [(key, state)] = [(key, s) for key, s in second.tracker.states.items()
                          if key.supervisee_id == "p1"]
        assert (key.kind, state.open, state.alert_id) == (kind, True, alert_id)
        assert second.tracker.clocks["br-1"] == T0 + 180
        activity = second.evaluator.activity
        assert activity.fix_ts[activity.device_ids.index("br-1")] == T0 + 180
        # The broker hands the last fixes over again, and one more comes: nothing opens twice.
        for m in fixes[2:]:
            await second.process([m])
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM alerts")
            assert (await cur.fetchone())[0] == 1
            cur = await conn.execute("SELECT count(*) FROM fixes")
            assert (await cur.fetchone())[0] == 5
        # Given back: nothing of p1 stays (another process carries the open alert on).
        await second.adopt(frozenset())
        assert not [key for key in second.tracker.states if key.supervisee_id == "p1"]
        assert "br-1" not in second.tracker.clocks
