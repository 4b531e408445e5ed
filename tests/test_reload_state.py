"""State across a registry reload and a restart: what each device did, the bracelet's word on
its link, the episode states — neither corrupted by a new device numbering nor forgotten, and
not kept forever either. Runs the real pipeline against PostgreSQL, with a clock the test
moves (as tests/test_timers.py)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.episodes import RESTING_KEPT_S, EpisodeKey, EpisodeTracker
from alerts.verdict import Verdict
from devices.fixes import FixBatch
from devices.models import Device, Supervisee
from ingest.pipeline import Pipeline, RawMessage
from store.registry import upsert_device, upsert_supervisee
from tests.conftest import ManualClock as Clock
from tests.conftest import registry_pool, started_pipeline
from tests.test_rules import HOME, changes, east, evaluator, event, ticks, walk

T0 = float((int(time.time()) // 86400 - 1) * 86400 + 12 * 3600)  # noon UTC, yesterday
SCHOOL = east(3000)


def registry() -> dict:
    school = {"type": "Feature", "id": "school",
              "properties": {"kind": "exclusion", "radius_m": 150, "name": "School"},
              "geometry": {"type": "Point", "coordinates": list(SCHOOL)}}
    people = [{"id": p, "name": p, "jurisdiction_id": "tx", "zone_ids": ["school"],
               "plan_id": "strict"} for p in ("p1", "p2", "p3", "p4")]
    return {
        "jurisdictions": [{"id": "tx", "name": "Texas", "kind": "state", "parent_id": None,
                           "timezone": "America/Chicago"}],
        "zones": [school],
        "plans": [{"id": "strict", "name": "Strict",
                   "settings": {"lost_contact_grace_s": 600}}],
        "supervisees": people,
        "victims": [],
        # Stored in this order; "aa-2" sorts first.
        "devices": [{"id": "br-1", "kind": "bracelet", "supervisee_id": "p1"},
                    {"id": "ph-1", "kind": "phone", "supervisee_id": "p1"},
                    {"id": "aa-2", "kind": "phone", "supervisee_id": "p2"},
                    {"id": "br-3", "kind": "bracelet", "supervisee_id": "p3"},
                    {"id": "ph-4", "kind": "phone", "supervisee_id": "p4"}],
        "pairings": [{"supervisee_id": "p1", "bracelet_id": "br-1", "phone_id": "ph-1"}],
    }


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with registry_pool(db_url, registry()) as p:
        yield p


pipeline = started_pipeline


def fix(device: str, t: float, where: tuple[float, float], batt: float | None = None
        ) -> RawMessage:
    body = {"ts": t, "lon": where[0], "lat": where[1], "acc": 5.0,
            **({} if batt is None else {"batt": batt})}
    return RawMessage(f"cordon/devices/{device}/fixes", json.dumps(body).encode(), t + 1)


def device_event(device: str, t: float, kind: str, batt: float | None = None) -> RawMessage:
    body = {"ts": t, "event": kind, **({} if batt is None else {"batt": batt})}
    return RawMessage(f"cordon/devices/{device}/events", json.dumps(body).encode(), t + 1)


async def sql(pool: AsyncConnectionPool, query: str, *args: object) -> None:
    async with pool.connection() as conn:
        await conn.execute(query, args)  # type: ignore[arg-type]


async def alerts(pool: AsyncConnectionPool) -> list[tuple]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT kind, supervisee_id, status, extract(epoch FROM started_at)::float8 "
            "FROM alerts ORDER BY id")
        return await cur.fetchall()


async def count(pool: AsyncConnectionPool, table: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) FROM {table}")
        return (await cur.fetchone())[0]


def newest_fix(p: Pipeline, device: str) -> float:
    act = p.evaluator.activity
    return float(act.fix_ts[act.device_ids.index(device)])


# --- a batch decided before a reload, stored after it ---------------------------------------


async def test_a_batch_prepared_before_a_reload_that_removed_a_device_is_recorded_by_device(
        pool):
    p = await pipeline(pool, Clock(T0))
    prepared = await p.prepare([fix("br-1", T0, HOME), fix("ph-4", T0 + 5, east(50)),
                                fix("aa-2", T0 + 7, east(80))])
    # The registry changes while the batch waits for its turn: a device goes, the others are
    # numbered anew.
    await sql(pool, "DELETE FROM devices WHERE id = 'aa-2'")
    await p.reload_registry()
    await p.commit(prepared)  # stored: it must not fail now (it would be quarantined)
    assert await count(pool, "fixes") == 3
    assert await count(pool, "quarantine") == 0
    assert not p.evaluator.knows("aa-2")
    assert newest_fix(p, "br-1") == T0
    assert newest_fix(p, "ph-4") == T0 + 5
    assert np.isnan(newest_fix(p, "br-3"))


async def test_a_reload_where_nothing_moved_keeps_each_device_its_own_activity(pool):
    p = await pipeline(pool, Clock(T0))
    prepared = await p.prepare([fix("br-1", T0, HOME), fix("ph-1", T0 + 5, east(50))])
    # The same device written again (same values): PostgreSQL stores a new row version, and a
    # load without an order returns the rows in another order.
    async with pool.connection() as conn:
        await upsert_device(conn, Device("br-1", "p1", "bracelet"))
    await p.reload_registry()
    await p.commit(prepared)
    assert newest_fix(p, "br-1") == T0
    assert newest_fix(p, "ph-1") == T0 + 5
    assert np.isnan(newest_fix(p, "aa-2"))
    # The numbering itself holds still, too.
    assert list(p.registry.devices) == sorted(p.registry.devices)


# --- the bracelet's word on its link ---------------------------------------------------------


async def test_a_lost_link_outlives_a_reload_and_positions_do_not_clear_it(pool):
    p = await pipeline(pool, Clock(T0))
    await p.process([device_event("br-1", T0, "lost_link")])
    assert await alerts(pool) == [("separation", "p1", "open", T0)]
    async with pool.connection() as conn:  # an unrelated change
        await upsert_supervisee(conn, Supervisee("p9", "p9", "tx", ()))
    await p.reload_registry()
    # Both devices report the same place: positions alone would say "together", but the
    # bracelet has said its link is gone, and only it can say it is back.
    for i in range(3):
        await p.process([fix("br-1", T0 + 60 * (i + 1), HOME),
                         fix("ph-1", T0 + 60 * (i + 1) + 5, HOME)])
    assert await alerts(pool) == [("separation", "p1", "open", T0)]
    await p.process([device_event("br-1", T0 + 300, "link_restored")])
    assert await alerts(pool) == [("separation", "p1", "cleared", T0)]


async def test_a_lost_link_decided_before_a_reload_and_stored_after_it_is_kept(pool):
    p = await pipeline(pool, Clock(T0))
    prepared = await p.prepare([device_event("br-1", T0, "lost_link")])
    await p.reload_registry()
    await p.commit(prepared)
    await p.process([fix("br-1", T0 + 60, HOME), fix("ph-1", T0 + 65, HOME)])
    assert await alerts(pool) == [("separation", "p1", "open", T0)]


async def test_the_link_state_of_a_device_removed_is_forgotten(pool):
    p = await pipeline(pool, Clock(T0))
    await p.process([device_event("br-1", T0, "lost_link")])
    assert "br-1" in p.tracker.links_lost
    await sql(pool, "DELETE FROM pairings WHERE bracelet_id = 'br-1'")
    await sql(pool, "DELETE FROM devices WHERE id = 'br-1'")
    await p.reload_registry()
    assert "br-1" not in p.tracker.links_lost


# --- episode states: pruned, and the timers do not walk them all ------------------------------


def opened_and_cleared(tracker: EpisodeTracker, keys: list[EpisodeKey], t: float) -> None:
    staging = tracker.stage()
    for key in keys:
        for i, verdict in enumerate((Verdict.VIOLATING, Verdict.COMPLIANT)):
            change = staging.fold(key, verdict, t + i, 0.0, 0.0, "d", confirm=1)
            assert change is not None
            staging.set_alert_id(change, 1)
    tracker.commit(staging)


def test_episode_states_at_rest_are_pruned_once_old_and_behaviour_is_unchanged():
    tracker = EpisodeTracker(2)
    t = 1_000_000.0
    settled = [EpisodeKey(f"p{i}", f"zone-{i}", "exclusion_entry") for i in range(2000)]
    opened_and_cleared(tracker, settled, t)
    live = EpisodeKey("p-live", "zone", "exclusion_entry")
    streak = EpisodeKey("p-streak", "zone", "exclusion_entry")
    staging = tracker.stage()
    staging.set_alert_id(staging.fold(live, Verdict.VIOLATING, t, 0, 0, "d", confirm=1), 7)
    staging.fold(streak, Verdict.VIOLATING, t, 0, 0, "d")
    tracker.commit(staging)
    # Until the verdicts that settled them are old, a late one is still recognised as late.
    tracker.prune(t + RESTING_KEPT_S - 10)
    assert len(tracker.states) == 2002
    assert tracker.stage().fold(settled[0], Verdict.VIOLATING, t, 0, 0, "d", confirm=1) is None
    tracker.prune(t + RESTING_KEPT_S + 10)
    # What is left: the open episode and the streak under way.
    assert set(tracker.states) == {live, streak}
    staging = tracker.stage()
    assert staging.keys_of_kind("exclusion_entry") == {live, streak}
    assert staging.fold(streak, Verdict.VIOLATING, t + 5, 0, 0, "d").action == "opened"
    assert staging.fold(settled[0], Verdict.VIOLATING, t + 9, 0, 0, "d", confirm=1
                        ).action == "opened"


async def test_the_pipeline_prunes_settled_episodes_and_forgets_removed_devices(pool):
    clock = Clock(T0)
    p = await pipeline(pool, clock)
    # br-1 walks into the school and out again; its strap is cut and refitted; the phone's
    # battery runs low and is charged.
    walk_in = [fix("br-1", T0 + 15 * i, SCHOOL) for i in range(3)]
    walk_out = [fix("br-1", T0 + 60 + 15 * i, HOME) for i in range(3)]
    await p.process(walk_in)
    await p.process(walk_out)
    await p.process([device_event("br-1", T0 + 120, "strap_tamper"),
                     device_event("br-1", T0 + 180, "strap_restored")])
    await p.process([fix("ph-1", T0 + 10 * i, HOME, batt=4) for i in range(3)])
    await p.process([fix("ph-1", T0 + 100 + 10 * i, HOME, batt=90) for i in range(3)])
    assert [(a[0], a[2]) for a in await alerts(pool)] == [
        ("exclusion_entry", "cleared"), ("strap_tamper", "cleared"),
        ("low_battery_warning", "cleared"), ("low_battery_critical", "cleared")]
    assert {k.subject for k in p.tracker.states} >= {"school", "br-1", "ph-1"}
    # A device removed: nothing about it is kept.
    await sql(pool, "DELETE FROM pairings WHERE phone_id = 'ph-1'")
    await sql(pool, "DELETE FROM devices WHERE id = 'ph-1'")
    await p.reload_registry()
    assert "ph-1" not in {k.subject for k in p.tracker.states}
    assert "ph-1" not in p.tracker.clocks
    # Long after: what had settled is gone, what is open stays (lost contact, now due).
    clock.now = T0 + RESTING_KEPT_S + 3600
    await p.tick()
    assert [(k.kind, p.tracker.states[k].open) for k in p.tracker.states] == [
        ("lost_contact", True)]
    # And the rules work as before: the school again opens a new episode.
    clock.now += 60
    await p.process([fix("br-1", clock.now + 15 * i, SCHOOL) for i in range(3)])
    assert [(a[0], a[2]) for a in await alerts(pool)][-2:] == [
        ("lost_contact", "cleared"), ("exclusion_entry", "open")]


class _NoScan(dict):
    """Episode states that refuse to be walked: a timer must look only at what it needs."""

    def _refuse(self, *_: object) -> object:
        raise AssertionError("walked every episode state")

    __iter__ = keys = values = items = _refuse  # type: ignore[assignment]


def test_the_device_off_timer_does_not_walk_every_episode_state():
    ev, tracker = evaluator([]), EpisodeTracker(3)
    for i in range(500):
        tracker.restore_open(EpisodeKey(f"x{i}", f"zone-{i}", "exclusion_entry"), i)
    t = 1_800_000_000.0
    assert ticks(ev, tracker, t) == []
    changes(ev, tracker, walk("ph-1", t, HOME, n=3, step=60, batt=2.0))
    tracker.states = _NoScan(tracker.states)
    last = t + 120
    assert ticks(ev, tracker, last + 60) == []
    assert ticks(ev, tracker, last + 200) == [("opened", "device_off", last)]
    assert ticks(ev, tracker, last + 300) == []
    assert ("cleared", "device_off", last + 400) in changes(
        ev, tracker, FixBatch.empty(), (event("ph-1", last + 400, "power_on", 3.0),))


# --- a restart: devices heard only through their events ---------------------------------------


async def test_devices_heard_only_through_events_still_fall_due_after_a_restart(pool):
    clock = Clock(T0)
    p = await pipeline(pool, clock)
    await p.process([device_event("br-3", T0, "heartbeat", batt=80),  # a bracelet, charged
                     device_event("ph-4", T0, "heartbeat", batt=3),  # a phone, nearly flat
                     fix("br-1", T0, HOME)])
    await p.process([device_event("br-1", T0 + 300, "heartbeat")])  # then only events
    assert await alerts(pool) == []
    # The engine restarts: what the devices did last comes from the database.
    clock.now = T0 + 150
    p = await pipeline(pool, clock)
    await p.tick()
    assert await alerts(pool) == []
    clock.now = T0 + 700  # past br-3's interval and grace, and ph-4's two intervals
    await p.tick()
    assert sorted(await alerts(pool)) == [("device_off", "p4", "open", T0),
                                          ("lost_contact", "p3", "open", T0)]
    clock.now = T0 + 1000  # and p1 is due from the event, not the fix before it
    await p.tick()
    assert (await alerts(pool))[-1] == ("lost_contact", "p1", "open", T0 + 300)
