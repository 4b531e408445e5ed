"""The registry by the piece (store/registry_changes.py): after any change, the registry patched
from the change log is the registry a whole load reads; a transaction that commits late is not
missed; the pipeline applies a change without reading the registry whole, and a truncation
makes it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

import ingest.pipeline
from alerts.bus import LiveBus
from alerts.evaluator import Evaluator
from devices.formats import Limits
from ingest.pipeline import Pipeline
from ingest.stats import IngestStats
from store.database import migrate
from store.registry import Partitions, Registry, import_registry, load_registry
from store.registry_changes import fetch_changed, patched, read_changes, watermark
from tests.test_reload_state import registry as base_registry
from tests.test_rules import east


def registry_doc() -> dict[str, Any]:
    doc = base_registry()
    doc["zones"].append({"type": "Feature", "id": "park",
                         "properties": {"kind": "exclusion", "radius_m": 80},
                         "geometry": {"type": "Point", "coordinates": list(east(900))}})
    doc["zone_groups"] = [{"id": "parks", "zone_ids": ["park"]}]
    doc["plans"].append({"id": "grouped", "settings": {"zone_groups": ["parks"]}})
    doc["supervisees"].append({"id": "p5", "name": "p5", "jurisdiction_id": "tx",
                               "zone_ids": [], "plan_id": "grouped"})
    doc["victims"] = [{"id": "v1", "name": "v1", "jurisdiction_id": "tx", "protected_from": "p3",
                       "device_id": "vph-1"}]
    doc["devices"].append({"id": "vph-1", "kind": "phone", "victim_id": "v1"})
    return doc


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
        "pairings": sorted(reg.pairings),
        "orders": sorted(reg.orders),
        "positioning": sorted(reg.positioning),
        "suppressions": sorted(reg.suppressions.windows(), key=repr),
    }


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
        async with c.transaction():
            await import_registry(c, json.loads(json.dumps(registry_doc())))
        yield c


CHANGES = [
    # A zone redrawn, one added and given to someone, one deleted (its assignments go).
    "UPDATE zones SET feature = jsonb_set(feature, '{properties,radius_m}', '200') "
    "WHERE id = 'school'",
    "INSERT INTO zones (id, name, kind, feature) VALUES ('bar', 'Bar', 'exclusion', "
    "'{\"type\": \"Feature\", \"properties\": {\"kind\": \"exclusion\", \"radius_m\": 50}, "
    "\"geometry\": {\"type\": \"Point\", \"coordinates\": [-97.7, 30.3]}}')",
    "INSERT INTO supervisee_zones VALUES ('p2', 'bar')",
    "DELETE FROM zones WHERE id = 'school'",
    # A zone that does not parse: rejected, and kept out.
    "UPDATE zones SET feature = '{\"type\": \"Feature\", \"geometry\": null}' WHERE id = 'bar'",
    # A bracelet swapped: the old one retired, a new one paired.
    "UPDATE devices SET retired_at = now() WHERE id = 'br-1'",
    "INSERT INTO devices (id, supervisee_id, kind) VALUES ('br-1b', 'p1', 'bracelet')",
    "UPDATE pairings SET bracelet_id = 'br-1b' WHERE bracelet_id = 'br-1'",
    # A plan edited; a zone group's zones changed; a plan that loses its groups.
    "UPDATE supervision_plans SET settings = '{\"lost_contact_grace_s\": 900}' "
    "WHERE id = 'strict'",
    "INSERT INTO zone_group_zones VALUES ('parks', 'bar')",
    "UPDATE supervision_plans SET settings = '{}' WHERE id = 'grouped'",
    # A plan that does not parse: its supervisees fall back to the default.
    "UPDATE supervision_plans SET settings = '{\"nonsense\": 1}' WHERE id = 'strict'",
    # Leave, a positioning order, a device moved to another person.
    "INSERT INTO suppressions (supervisee_id, starts_at, ends_at, reason) "
    "VALUES ('p4', now(), now() + interval '2 days', 'leave')",
    "INSERT INTO positioning_orders (supervisee_id, ground, approver, starts_at, ends_at, "
    "created_by) VALUES ('p3', 'court_prohibition_breach', 'judge', now(), "
    "now() + interval '30 days', 'officer')",
    "UPDATE devices SET supervisee_id = 'p4' WHERE id = 'aa-2'",
    # The victim's phone retired: the protection order no longer holds.
    "UPDATE devices SET retired_at = now() WHERE id = 'vph-1'",
    # A person released: their devices and links go with them.
    "UPDATE supervisees SET released_at = now() WHERE id = 'p1'",
    # A jurisdiction renamed, a new person enrolled with zones.
    "UPDATE jurisdictions SET name = 'Tejas' WHERE id = 'tx'",
    "INSERT INTO supervisees (id, name, jurisdiction_id, plan_id) "
    "VALUES ('p6', 'p6', 'tx', 'grouped')",
    "INSERT INTO supervisee_zones VALUES ('p6', 'park')",
    "UPDATE supervision_plans SET settings = '{\"zone_groups\": [\"parks\"]}' "
    "WHERE id = 'grouped'",
]


async def test_the_patched_registry_is_the_registry_read_whole_after_each_change(conn):
    mark = await watermark(conn)
    reg = await load_registry(conn)
    for statement in CHANGES:
        await conn.execute(statement)
        changes, mark = await read_changes(conn, mark)
        assert changes, statement
        reg = patched(reg, await fetch_changed(conn, reg, changes))
        assert comparable(reg) == comparable(await load_registry(conn)), statement


async def test_the_old_registry_is_left_as_it_was(conn):
    mark = await watermark(conn)
    reg = await load_registry(conn)
    before = comparable(reg)
    await conn.execute("UPDATE devices SET retired_at = now() WHERE id = 'br-1'")
    changes, _ = await read_changes(conn, mark)
    new = patched(reg, await fetch_changed(conn, reg, changes))
    assert comparable(reg) == before
    assert "br-1" in reg.devices and "br-1" not in new.devices


async def test_a_transaction_that_commits_after_a_later_one_is_not_missed(conn, db_url):
    mark = await watermark(conn)
    reg = await load_registry(conn)
    async with await psycopg.AsyncConnection.connect(db_url) as slow:
        # It writes first, and commits last.
        await slow.execute("INSERT INTO devices (id, supervisee_id, kind) "
                           "VALUES ('ph-late', 'p3', 'phone')")
        await conn.execute("INSERT INTO devices (id, supervisee_id, kind) "
                           "VALUES ('ph-early', 'p3', 'phone')")
        changes, mark = await read_changes(conn, mark)
        reg = patched(reg, await fetch_changed(conn, reg, changes))
        assert "ph-early" in reg.devices and "ph-late" not in reg.devices
        await slow.commit()
    changes, mark = await read_changes(conn, mark)
    reg = patched(reg, await fetch_changed(conn, reg, changes))
    assert "ph-late" in reg.devices


@pytest.fixture
async def pool(conn, db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as p:
        await p.open(wait=True)
        yield p


async def test_the_pipeline_applies_a_change_by_the_piece(pool, monkeypatch):
    p = Pipeline(pool, LiveBus(), IngestStats(), Limits())
    await p.start()
    loads = []
    whole = ingest.pipeline.load_registry

    async def counted(conn: psycopg.AsyncConnection, held: Partitions | None = None
                      ) -> Registry:
        loads.append(1)
        return await whole(conn, held)

    monkeypatch.setattr(ingest.pipeline, "load_registry", counted)
    assert not await p.refresh_registry()  # nothing changed: nothing rebuilt
    async with pool.connection() as c:
        await c.execute("INSERT INTO devices (id, supervisee_id, kind) "
                        "VALUES ('ph-3', 'p3', 'phone')")
        await c.execute("UPDATE zones SET feature = %s WHERE id = 'school'", (Jsonb(
            {"type": "Feature", "properties": {"kind": "exclusion", "radius_m": 300},
             "geometry": {"type": "Point", "coordinates": list(east(5000))}}),))
    assert await p.refresh_registry()
    assert loads == []
    assert p.evaluator.knows("ph-3")
    zoneset = p.evaluator.roster.zoneset
    assert zoneset.zones[zoneset.index["school"]].radius_m == 300
    async with pool.connection() as c:
        await c.execute("TRUNCATE suppressions")
    assert await p.refresh_registry()
    assert loads == [1]


def decisions(evaluator: Evaluator, subjects: list[str], lon: list[float], lat: list[float]) -> set:
    asg = evaluator.roster.assignments
    d = asg.evaluate(subjects, [1.7e9] * len(subjects), lon, lat, [5.0] * len(subjects))
    return {(int(f), asg.assignments[a].subject, asg.assignments[a].zone_id, int(x))
            for f, a, x in zip(d.fix.tolist(), d.assignment.tolist(), d.decision.tolist(),
                               strict=True)}


async def test_a_circle_redrawn_in_place_decides_as_one_compiled_anew(pool):
    p = Pipeline(pool, LiveBus(), IngestStats(), Limits())
    await p.start()
    async with pool.connection() as c:
        await c.execute("UPDATE zones SET feature = %s WHERE id = 'school'", (Jsonb(
            {"type": "Feature", "properties": {"kind": "exclusion", "radius_m": 400},
             "geometry": {"type": "Point", "coordinates": list(east(6000))}}),))
    assert await p.refresh_registry()
    async with pool.connection() as c:
        reg = await load_registry(c)
    fresh = Evaluator(reg.devices, reg.supervisees, reg.zones, plans=reg.plans)
    points = [east(x) for x in (0, 3000, 5700, 6000, 6300, 6390, 6410, 9000)]
    lon, lat = [q[0] for q in points], [q[1] for q in points]
    for who in ("p1", "p2", "p5"):
        assert decisions(p.evaluator, [who] * len(points), lon, lat) == decisions(
            fresh, [who] * len(points), lon, lat)
    patched_set, fresh_set = p.evaluator.roster.zoneset, fresh.roster.zoneset
    got, want = (zs.zones_containing(np.asarray(lon), np.asarray(lat))
                 for zs in (patched_set, fresh_set))
    assert got[0].tolist() == want[0].tolist()
    assert [patched_set.zones[z].id for z in got[1]] == [fresh_set.zones[z].id for z in want[1]]


async def test_a_plain_circle_read_as_columns_is_the_zone_its_feature_makes(conn):
    """store.registry.zone_rows reads a plain circle as columns, not as GeoJSON: the zone it
    makes is the one Zone.from_feature makes of the feature, and a circle that is not plain
    (a name that is a number, a 3-D point, a radius of 0, a kind unknown, coordinates out of
    range) is read from its feature, and rejected or repaired as before."""
    from geofence.zones import Zone, ZoneError
    from store.registry import StoredCircle, add_zone, zone_rows

    curfew = {"timezone": "Asia/Shanghai", "windows": [
        {"days": ["mon", "tue"], "start": "22:00", "end": "06:00"}]}
    props = [
        {"kind": "inclusion", "radius_m": 150, "schedule": curfew, "name": "家"},
        {"radius_m": 80.5},  # kind and name left out
        {"kind": "exclusion", "radius_m": 1e-3, "name": "", "jurisdiction_id": "tx"},
        {"kind": "exclusion", "radius_m": 50, "name": "c-4", "schedule": None},
        {"kind": "exclusion", "radius_m": 50, "name": 12},  # not plain: read as a feature
        {"kind": "exclusion", "radius_m": 0},  # rejected
        {"kind": "nearby", "radius_m": 50},  # rejected
    ]
    coords = [[116.3913, 39.9075], [-97.74, 30.27], [180, -90], [0.1, 0.2], [1, 2], [1, 2],
              [1, 2], [1, 2, 3], [200, 10]]
    props += [{"radius_m": 50}, {"radius_m": 50}]  # a 3-D point; a longitude out of range
    features = {f"c-{i}": {"type": "Feature", "properties": p,
                           "geometry": {"type": "Point", "coordinates": xy}}
                for i, (p, xy) in enumerate(zip(props, coords, strict=True))}
    for zid, feature in features.items():
        await conn.execute("INSERT INTO zones (id, name, kind, feature) "
                           "VALUES (%s, %s, 'exclusion', %s)", (zid, zid, Jsonb(feature)))
    read = {zid: row async for zid, row in zone_rows(
        conn, ("AND id = ANY(%s)", (sorted(features),)))}
    plain = {zid for zid, row in read.items() if isinstance(row, StoredCircle)}
    assert plain == {"c-0", "c-1", "c-2", "c-3"}
    reg = Registry()
    for zid, row in read.items():
        add_zone(reg, zid, row)
        try:
            expected = Zone.from_feature(features[zid], zid)
        except ZoneError:
            assert zid in reg.rejected_zones
            continue
        got = reg.zones[reg.zone_index[zid]]
        assert got == expected and got.center == expected.center
        assert got.to_feature() == expected.to_feature()
    assert set(reg.rejected_zones) == {"c-5", "c-6", "c-8"}
    # One schedule object for one schedule, however it was read.
    assert reg.zones[reg.zone_index["c-0"]].schedule is not None
