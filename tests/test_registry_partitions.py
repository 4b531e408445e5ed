"""The registry by partition and by the piece, over random edits: a process holding some
partitions holds exactly their people (and what is theirs, and the zones they use); after any
sequence of edits the registry patched from the change log is the one a whole load reads; and
the evaluator the pipeline builds by the piece decides as one built from a whole load."""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson
import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from alerts.activity import Activity
from alerts.bus import LiveBus
from alerts.episodes import AlertChange, EpisodeTracker
from alerts.evaluator import Evaluator
from devices.events import DeviceEvent
from devices.fixes import FixBatch
from devices.formats import Limits
from devices.models import Device
from devices.topics import native_topic, partition_of
from ingest.pipeline import Pipeline, RawMessage
from ingest.stats import IngestStats
from store.database import migrate
from store.registry import Partitions, Registry, import_registry, load_registry, upsert_device
from store.registry_changes import fetch_changed, patched, read_changes, watermark

PARTITIONS = 4
HELD = Partitions(PARTITIONS, frozenset({0, 2}))
PEOPLE = 24
CENTRE = (-97.74, 30.27)
CURFEW = {"timezone": "America/Chicago",
          "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                       "start": "22:00", "end": "06:00"}]}
NOON, MIDNIGHT = 1_763_748_000.0, 1_763_791_200.0  # 2025-11-21 12:00 and 2025-11-22 00:00 CST


def home(i: int) -> tuple[float, float]:
    return CENTRE[0] + 0.01 * (i % 6), CENTRE[1] + 0.01 * (i // 6)


def circle(zid: str, kind: str, at: tuple[float, float], radius: float,
           schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"kind": kind, "radius_m": radius, "name": zid}
    if schedule:
        props["schedule"] = schedule
    return {"type": "Feature", "id": zid, "properties": props,
            "geometry": {"type": "Point", "coordinates": list(at)}}


def county() -> dict[str, Any]:
    x, y = CENTRE
    ring = [[x - 0.1, y - 0.1], [x + 0.2, y - 0.1], [x + 0.2, y + 0.2], [x - 0.1, y + 0.2],
            [x - 0.1, y - 0.1]]
    return {"type": "Feature", "id": "county", "properties": {"kind": "inclusion"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def registry_doc() -> dict[str, Any]:
    zones = [county(), circle("park", "exclusion", home(3), 120.0)]
    people, devices, pairings = [], [], []
    for i in range(PEOPLE):
        zones.append(circle(f"home-{i}", "inclusion", home(i), 150.0, CURFEW))
        zones.append(circle(f"excl-{i}", "exclusion", (home(i)[0] + 0.003, home(i)[1]), 200.0))
        people.append({"id": f"s{i}", "name": f"S {i}", "jurisdiction_id": "tx",
                       "zone_ids": ["county", f"excl-{i}"], "home_zone_id": f"home-{i}",
                       "plan_id": ["strict", "grouped", "loose"][i % 3]})
        devices += [{"id": f"br-{i}", "kind": "bracelet", "supervisee_id": f"s{i}"},
                    {"id": f"ph-{i}", "kind": "phone", "supervisee_id": f"s{i}"}]
        pairings.append({"supervisee_id": f"s{i}", "bracelet_id": f"br-{i}",
                         "phone_id": f"ph-{i}"})
    devices.append({"id": "vph-1", "kind": "phone", "victim_id": "v1"})
    return {
        "jurisdictions": [{"id": "tx", "name": "Texas", "kind": "state", "parent_id": None,
                           "timezone": "America/Chicago"}],
        "zones": zones,
        "plans": [{"id": "strict", "settings": {"lost_contact_grace_s": 600}},
                  {"id": "grouped", "settings": {"zone_groups": ["parks"]}},
                  {"id": "loose", "settings": {}}],
        "zone_groups": [{"id": "parks", "zone_ids": ["park"]}],
        "supervisees": people,
        "victims": [{"id": "v1", "name": "v1", "jurisdiction_id": "tx", "protected_from": "s1",
                     "device_id": "vph-1"}],
        "devices": devices,
        "pairings": pairings,
    }


class Edits:
    """Random single edits of the kinds a registry sees: zones redrawn, given and taken away,
    bracelets swapped, devices moved between people, plans and zone groups edited, people
    released and enrolled, leave granted."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.people = PEOPLE
        self.n = 0

    async def make(self, conn: psycopg.AsyncConnection) -> str:
        r, self.n = self.rng, self.n + 1
        i = r.randrange(self.people)
        kind = r.choice(["redraw", "redraw", "swap", "move", "plan", "group", "give", "take",
                         "release", "enrol", "leave", "new-zone"])
        async with conn.transaction():
            if kind == "redraw":
                await conn.execute("UPDATE zones SET feature = %s WHERE id = %s", (Jsonb(circle(
                    f"home-{i}", "inclusion", home(i), r.choice([60.0, 150.0, 400.0]),
                    r.choice([CURFEW, None]))), f"home-{i}"))
            elif kind == "swap":
                cur = await conn.execute(
                    "SELECT bracelet_id FROM pairings WHERE supervisee_id = %s", (f"s{i}",))
                row = await cur.fetchone()
                if row:
                    new = f"br-{i}-x{self.n}"
                    await conn.execute("UPDATE devices SET retired_at = now() WHERE id = %s",
                                       (row[0],))
                    await conn.execute("INSERT INTO devices (id, supervisee_id, kind) "
                                       "VALUES (%s, %s, 'bracelet')", (new, f"s{i}"))
                    await conn.execute("UPDATE pairings SET bracelet_id = %s "
                                       "WHERE bracelet_id = %s", (new, row[0]))
            elif kind == "move":
                j = r.randrange(self.people)
                await conn.execute("UPDATE devices SET supervisee_id = %s WHERE id = %s",
                                   (f"s{j}", f"ph-{i}"))
            elif kind == "plan":
                settings = r.choice([{}, {"zone_groups": ["parks"]},
                                     {"lost_contact_grace_s": r.choice([300, 900])},
                                     {"disabled_alerts": ["exclusion_zone"]}])
                await conn.execute("UPDATE supervision_plans SET settings = %s WHERE id = %s",
                                   (Jsonb(settings), r.choice(["strict", "grouped", "loose"])))
            elif kind == "group":
                zone = f"excl-{r.randrange(PEOPLE)}"
                await conn.execute("INSERT INTO zone_group_zones VALUES ('parks', %s) "
                                   "ON CONFLICT DO NOTHING", (zone,))
            elif kind == "give":
                zone = r.choice(["park", f"excl-{r.randrange(PEOPLE)}"])
                await conn.execute("INSERT INTO supervisee_zones VALUES (%s, %s) "
                                   "ON CONFLICT DO NOTHING", (f"s{i}", zone))
            elif kind == "take":
                await conn.execute("DELETE FROM supervisee_zones WHERE supervisee_id = %s "
                                   "AND zone_id = %s", (f"s{i}", f"excl-{i}"))
            elif kind == "release":
                await conn.execute("UPDATE supervisees SET released_at = now() WHERE id = %s",
                                   (f"s{i}",))
            elif kind == "enrol":
                sid = f"s{self.people}"
                self.people += 1
                await conn.execute("INSERT INTO supervisees (id, name, jurisdiction_id, plan_id) "
                                   "VALUES (%s, %s, 'tx', 'grouped')", (sid, sid))
                await conn.execute("INSERT INTO supervisee_zones VALUES (%s, 'county')", (sid,))
                await conn.execute("INSERT INTO devices (id, supervisee_id, kind) "
                                   "VALUES (%s, %s, 'phone')", (f"ph-{sid}", sid))
            elif kind == "leave":
                await conn.execute(
                    "INSERT INTO suppressions (supervisee_id, starts_at, ends_at, reason) "
                    "VALUES (%s, now(), now() + interval '2 days', 'leave')", (f"s{i}",))
            else:  # a zone made and given at once
                zid = f"new-{self.n}"
                await conn.execute(
                    "INSERT INTO zones (id, name, kind, feature) VALUES (%s, %s, 'exclusion', %s)",
                    (zid, zid, Jsonb(circle(zid, "exclusion", home(i), 90.0))))
                await conn.execute("INSERT INTO supervisee_zones VALUES (%s, %s)", (f"s{i}", zid))
        return kind


def comparable(reg: Registry) -> dict[str, Any]:
    """What a registry says, whatever the order its entries came in."""
    return {
        "jurisdictions": reg.jurisdictions,
        "supervisees": reg.supervisees,
        "devices": reg.devices,
        "zones": {z.id: json.dumps(z.to_feature(), sort_keys=True) for z in reg.zones},
        "rejected_zones": reg.rejected_zones,
        "plans": reg.plans,
        "rejected_plans": reg.rejected_plans,
        **{name: sorted(getattr(reg, name), key=repr)
           for name in ("pairings", "orders", "positioning", "check_ins")},
        "suppressions": sorted(reg.suppressions.windows(), key=repr),
    }


def used_zones(reg: Registry) -> dict[str, Any]:
    """The zones of the people a registry holds, as stored features (a registry patched by
    partition may hold more: zones no one there uses any more wait for the next whole load)."""
    used = {z for s in reg.supervisees.values() for z in s.zone_ids}
    return {z.id: json.dumps(z.to_feature(), sort_keys=True) for z in reg.zones if z.id in used}


def same(a: Registry, b: Registry) -> dict[str, Any]:
    ca, cb = comparable(a), comparable(b)
    ca["zones"], cb["zones"] = used_zones(a), used_zones(b)
    ca["rejected_zones"] = {z: e for z, e in a.rejected_zones.items() if z in cb["zones"]}
    cb["rejected_zones"] = {z: e for z, e in b.rejected_zones.items() if z in cb["zones"]}
    return {k: (ca[k], cb[k]) for k in ca if ca[k] != cb[k]}


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
        async with c.transaction():
            await import_registry(c, json.loads(json.dumps(registry_doc())))
        yield c


async def test_a_process_holds_only_its_partitions_people_and_the_zones_they_use(conn):
    everyone = await load_registry(conn)
    mine = await load_registry(conn, HELD)
    assert {partition_of(s, PARTITIONS) for s in everyone.supervisees} == set(range(PARTITIONS))
    want = {s for s in everyone.supervisees if partition_of(s, PARTITIONS) in HELD.owned}
    assert set(mine.supervisees) == want and 0 < len(want) < PEOPLE
    assert mine.held == HELD
    assert set(mine.devices) == {d.id for d in everyone.devices.values()
                                 if d.supervisee_id in want or d.supervisee_id is None}
    assert "vph-1" in mine.devices  # a victim's phone: held by every process
    assert {p.supervisee_id for p in mine.pairings} == want
    assert mine.pairings == [p for p in everyone.pairings if p.supervisee_id in want]
    assert mine.orders == [o for o in everyone.orders if o.supervisee_id in want]
    used = {z for s in want for z in everyone.supervisees[s].zone_ids}
    assert {z.id for z in mine.zones} == used
    assert "county" in used and not any(z.startswith("home-") and f"s{z[5:]}" not in want
                                        for z in used)
    # The curfew of every home zone is one object, parsed once.
    assert len({id(z.schedule) for z in mine.zones if z.schedule is not None}) == 1


@pytest.mark.parametrize("held", [None, HELD], ids=["everyone", "partitions"])
async def test_random_edits_patched_by_the_piece_give_the_registry_read_whole(conn, held):
    mark = await watermark(conn)
    reg = await load_registry(conn, held)
    edits = Edits(seed=19 if held is None else 20)
    for _ in range(60):
        kind = await edits.make(conn)
        changes, mark = await read_changes(conn, mark)
        reg = patched(reg, await fetch_changed(conn, reg, changes))
        whole = await load_registry(conn, held)
        assert not same(reg, whole), (kind, same(reg, whole))
        if held is None:
            assert comparable(reg) == comparable(whole), kind


@pytest.fixture
async def pool(conn, db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as p:
        await p.open(wait=True)
        yield p


def verdicts(evaluator: Evaluator, devices: list[str]) -> set[tuple]:
    """What the evaluator decides for fixes of these devices at noon and midnight, at home, by
    the exclusion circle, in the park and out of the county."""
    spots = [home(i) for i in range(0, PEOPLE, 5)] + [
        (home(3)[0] + 0.0005, home(3)[1]), (CENTRE[0] + 0.5, CENTRE[1])]
    spots += [(x + 0.003, y) for x, y in spots[:3]]
    rows = [(d, t, x, y) for d in devices for t in (NOON, MIDNIGHT) for x, y in spots]
    batch = FixBatch(
        np.asarray([r[0] for r in rows], dtype=object), np.asarray([r[1] for r in rows]),
        np.asarray([r[2] for r in rows]), np.asarray([r[3] for r in rows]),
        np.full(len(rows), 10.0), np.full(len(rows), np.nan), np.asarray([r[1] for r in rows]),
        np.full(len(rows), "native", dtype=object))
    d = evaluator.decide(batch)
    asg = evaluator.roster.assignments.assignments
    keys = evaluator.roster.key_of_assignment
    return {(batch.device_id[d.rows[f]], float(batch.ts[d.rows[f]]),
             float(batch.lon[d.rows[f]]), asg[a].zone_id, keys[a].kind, int(v))
            for f, a, v in zip(d.pair_fix.tolist(), d.pair_assignment.tolist(),
                               d.verdicts.tolist(), strict=True)}


@pytest.mark.parametrize("owned", [None, HELD.owned], ids=["everyone", "partitions"])
async def test_the_pipeline_by_the_piece_decides_as_a_whole_rebuild(pool, owned, monkeypatch):
    p = Pipeline(pool, LiveBus(), IngestStats(), Limits(), partitions=PARTITIONS, owned=owned)
    await p.start()
    held = p.held()
    assert held == (None if owned is None else HELD)
    edits = Edits(seed=7 if owned is None else 8)
    async with pool.connection() as c:
        await c.set_autocommit(True)
        for k in range(40):
            kind = await edits.make(c)
            await p.refresh_registry()
            if k % 4 and k != 39:
                continue
            whole = await load_registry(c, held)
            fresh = Evaluator(whole.devices, whole.supervisees, whole.zones, plans=whole.plans,
                              pairings=whole.pairings, orders=whole.orders,
                              suppressions=whole.suppressions)
            devices = sorted(whole.devices)
            assert sorted(p.registry.devices) == devices
            assert verdicts(p.evaluator, devices) == verdicts(fresh, devices), (k, kind)


def behaviour(evaluator: Evaluator) -> list[tuple]:
    """What an evaluator opens and clears from nothing (a copy of it, its activity and
    episodes fresh) over a day: three confirming fixes of every device at a spot of its own —
    at a home, by an exclusion circle, in the park, beside another person, out of the county —
    and an hour later at another; tamper, link and power events, low batteries; then the
    clock's ticks into the curfew and past every silence. Every rule has its say."""
    ev = copy.deepcopy(evaluator)
    ev.activity = Activity(ev.roster.device_ids)
    ev.last_tick = None
    ev.forget_live()
    tracker = EpisodeTracker(2)
    devices = sorted(ev.roster.device_no)
    spots = [home(i) for i in range(PEOPLE)] + [
        (home(3)[0] + 0.0005, home(3)[1]), (CENTRE[0] + 0.5, CENTRE[1])]
    spots += [(x + 0.003, y) for x, y in spots[:6]] + [(x + 0.0002, y) for x, y in spots[:6]]
    out: list[tuple] = []

    def note(changes: list[AlertChange]) -> None:
        out.extend((c.action, tuple(c.key), c.device_id, c.at) for c in changes)

    def spot(d: str, step: int) -> tuple[float, float]:
        sid = ev.roster.devices[d].supervisee_id
        i = int(sid[1:]) if sid else 0
        if step == 0 and sid:  # by their own exclusion circle
            return home(i)[0] + 0.003, home(i)[1]
        if step == 2 and i % 3 < 2:  # in the curfew: at home, or out of the county
            return home(i) if i % 3 == 0 else (CENTRE[0] + 0.5, CENTRE[1])
        return spots[(sum(map(ord, d)) + step) % len(spots)]

    for step, at in enumerate((NOON, NOON + 3600, MIDNIGHT - 3600)):
        # (Each device a second of its own: of two fixes at one instant, the device numbered
        # first is folded first, and numberings differ.)
        rows = [(d, at + 60 * k + j % 50, *spot(d, step),
                 10.0 if d.startswith("ph") and step else np.nan)
                for j, d in enumerate(devices) for k in range(3)]
        batch = FixBatch(
            np.asarray([r[0] for r in rows], dtype=object), np.asarray([r[1] for r in rows]),
            np.asarray([r[2] for r in rows]), np.asarray([r[3] for r in rows]),
            np.full(len(rows), 10.0), np.asarray([r[4] for r in rows]),
            np.asarray([r[1] for r in rows]), np.full(len(rows), "native", dtype=object))
        events = [DeviceEvent(d, at + 200, event, np.nan, None, at + 200)
                  for i, d in enumerate(devices) if step == 1
                  for event in [["strap_tamper", "lost_link", "power_off", "case_open"][i % 4]]]
        staging = tracker.stage()
        decided = ev.decide(batch, events)
        note(ev.fold(decided, staging))
        tracker.commit(staging)
        ev.record(decided)
    for now in (NOON + 3 * 3600, MIDNIGHT - 1800, MIDNIGHT + 600, MIDNIGHT + 6 * 3600):
        staging = tracker.stage()
        note(ev.tick(now, staging))
        tracker.commit(staging)
    return sorted(out)


@pytest.mark.parametrize("owned", [None, HELD.owned], ids=["everyone", "partitions"])
async def test_the_evaluator_patched_by_the_piece_behaves_as_one_built_whole(pool, owned):
    p = Pipeline(pool, LiveBus(), IngestStats(), Limits(), partitions=PARTITIONS, owned=owned)
    await p.start()
    held = p.held()
    edits = Edits(seed=11 if owned is None else 12)
    how: dict[str, int] = {}
    async with pool.connection() as c:
        await c.set_autocommit(True)
        for k in range(40):
            kind = await edits.make(c)
            await p.refresh_registry()
            how[p.last_reload] = how.get(p.last_reload, 0) + 1
            whole = await load_registry(c, held)
            fresh = Evaluator(whole.devices, whole.supervisees, whole.zones, plans=whole.plans,
                              pairings=whole.pairings, orders=whole.orders,
                              positioning=whole.positioning, check_ins=whole.check_ins,
                              suppressions=whole.suppressions)
            assert sorted(p.evaluator.roster.device_no) == sorted(whole.devices)
            seen = behaviour(p.evaluator)
            assert seen == behaviour(fresh), (k, kind)
            assert {a[1][2] for a in seen} >= {"exclusion_entry", "inclusion_exit", "curfew",
                                               "strap_tamper", "lost_contact", "separation"}
    assert how.get("patched", 0) >= 20, how  # most edits patch; the rest rebuild or keep


async def test_a_registry_without_zones_is_patched_too(db_url):
    """No one has a zone (nothing to decide): a bracelet enrolled is still patched in, and its
    fixes are stored."""
    await migrate(db_url)
    async with AsyncConnectionPool(db_url, min_size=1, max_size=2, open=False) as pool:
        await pool.open(wait=True)
        async with pool.connection() as c:
            await import_registry(c, {
                "jurisdictions": [{"id": "tx", "name": "Texas", "kind": "state"}],
                "supervisees": [{"id": "a", "name": "A", "jurisdiction_id": "tx"}],
                "devices": [{"id": "ph-a", "kind": "phone", "supervisee_id": "a"}]})
        p = Pipeline(pool, LiveBus(), IngestStats(), Limits())
        await p.start()
        t0 = time.time() - 60
        message = RawMessage(native_topic("ph-a"), orjson.dumps(
            {"ts": t0, "lon": 1.0, "lat": 2.0, "acc": 5.0}), t0)
        await p.process([message])
        async with pool.connection() as c:
            await upsert_device(c, Device("br-a", "a", "bracelet"))
        assert await p.refresh_registry()
        assert p.last_reload == "patched" and p.evaluator.knows("br-a")
        await p.process([message._replace(topic=native_topic("br-a"))])
        assert p.stats.fixes_stored == 2


async def test_what_the_evaluator_does_not_read_rebuilds_nothing(pool):
    p = Pipeline(pool, LiveBus(), IngestStats(), Limits(), partitions=PARTITIONS,
                 owned=HELD.owned)
    await p.start()
    before = p.evaluator
    # ("relaxed": a plan the migrations make, which escalates after half an hour.)
    assert p._escalation_groups() == [(900.0, ("relaxed",), True), (1800.0, ("relaxed",), False)]
    foreign = next(f"s{i}" for i in range(PEOPLE)
                   if partition_of(f"s{i}", PARTITIONS) not in HELD.owned)
    async with pool.connection() as c:
        # How long a plan's alerts wait before they escalate: the pipeline's alone.
        await c.execute("UPDATE supervision_plans SET settings = jsonb_set(settings, "
                        "'{escalate_after_s}', '120') WHERE id = 'strict'")
        # Someone another process holds, and a jurisdiction renamed.
        await c.execute("UPDATE supervisees SET name = 'x' WHERE id = %s", (foreign,))
        await c.execute("INSERT INTO devices (id, supervisee_id, kind) VALUES ('ph-new', %s, "
                        "'phone')", (foreign,))
        await c.execute("UPDATE jurisdictions SET name = 'Tejas' WHERE id = 'tx'")
    assert await p.refresh_registry()
    assert p.evaluator is before
    assert p.registry.plans["strict"].escalate_after_s == 120.0
    assert "ph-new" not in p.registry.devices and p.registry.jurisdictions["tx"].name == "Tejas"
    # Those on the strict plan escalate after 120 s; everyone else after the default.
    assert p._escalation_groups() == [(900.0, ("relaxed", "strict"), True),
                                      (120.0, ("strict",), False), (1800.0, ("relaxed",), False)]
    async with pool.connection() as c:  # a setting the rules read: rebuilt
        await c.execute("UPDATE supervision_plans SET settings = jsonb_set(settings, "
                        "'{lost_contact_grace_s}', '60') WHERE id = 'strict'")
    assert await p.refresh_registry()
    assert p.evaluator is not before
    strict = next(s for s, v in p.registry.supervisees.items() if v.plan_id == "strict")
    assert p.evaluator.plan_of[strict].lost_contact_grace_s == 60.0
