"""The structures a registry of millions is held in: a change makes a new version by the piece,
and the old one, still serving, is never touched."""

import random

import numpy as np
from shapely.geometry import box

from alerts.activity import Activity, StillAnchors
from devices.models import Device, Pairing, Supervisee
from devices.tables import DeviceTable, SuperviseeTable, held_id, on_plans, owners
from geofence.layered import Layered, LayeredList, layered
from geofence.zonelist import ZoneList
from geofence.zones import Zone
from store.registry import ByPerson, by_supervisee


def test_a_layered_mapping_reads_as_the_dict_changed_in_place_and_leaves_the_old_one():
    rng = random.Random(7)
    base = {i: f"v{i}" for i in range(3_000)}
    versions = [(layered(base), dict(base))]
    for step in range(1_500):  # past a sixteenth of the base: folded into a new one on the way
        m, d = versions[-1]
        removed = rng.sample(range(4_000), 3)
        updates = {rng.randrange(5_000): f"s{step}" for _ in range(3)}
        new = m.changed(updates, removed=removed)
        d = {k: v for k, v in d.items() if k not in removed} | updates
        versions.append((new, d))
    for m, d in versions[::97]:
        assert dict(m) == d and len(m) == len(d)
        for k in range(0, 5_000, 7):
            assert (k in m) == (k in d) and m.get(k) == d.get(k)
            if k in d:
                assert m[k] == d[k]
    assert dict(versions[0][0]) == base  # the first version is as it was


def test_a_layered_list_reads_as_the_list_changed_in_place():
    rng = random.Random(3)
    lists = [(LayeredList(list(range(2_000))), list(range(2_000)))]
    for step in range(800):
        layer, plain = lists[-1]
        sets = {rng.randrange(len(plain)): -step for _ in range(2)}
        appended = [step] * rng.randrange(3)
        plain = [sets.get(i, v) for i, v in enumerate(plain)] + appended
        lists.append((layer.changed(sets, appended), plain))
    for layer, plain in lists[::53]:
        assert list(layer) == plain and len(layer) == len(plain)
        assert [layer[i] for i in range(0, len(plain), 11)] == plain[::11]
        assert layer[-1] == plain[-1] and layer[5:9] == plain[5:9]


def test_a_layered_mapping_survives_a_deep_copy():
    import copy
    m = Layered({"a": 1, "b": 2}).changed({"c": 3}, removed=["a"])
    assert dict(copy.deepcopy(m)) == {"b": 2, "c": 3}


def test_a_zone_list_copy_shares_its_columns_until_one_is_written():
    park = Zone("park", "Park", "exclusion", "polygon", box(0, 0, 1, 1))
    zones = ZoneList([park])
    zones.append_circle("home-1", "Home", "inclusion", 10.0, 50.0, 100.0)
    copy = zones.copy()
    copy[1] = zones[1].replace(radius_m=150.0)
    assert copy.ids is zones.ids and copy.names is zones.names  # the ids were not copied
    assert (zones[1].radius_m, copy[1].radius_m) == (100.0, 150.0)
    assert copy.differing(zones).tolist() == [1]
    copy.append(Zone("home-2", "Home", "inclusion", "circle", (11.0, 50.0), 80.0))
    assert len(zones) == 2 and len(copy) == 3 and zones.ids == ["park", "home-1"]
    assert list(copy)[0] == park and copy[2].center == (11.0, 50.0)
    assert zones == [park, zones[1]] and copy.taken([2, 0]).ids == ["home-2", "park"]


def test_still_anchors_take_rows_only_for_the_phones_folded_and_follow_a_renumbering():
    a = Activity(["br-1", "ph-1", "ph-2"])
    rows = a.still.rows(np.array([2]))
    a.still.ts[rows] = 100.0
    assert a.still.used == 1 and len(a.still.row) == 3
    b = a.renumbered(["ph-2", "br-1", "ph-1", "ph-3"])
    assert b.still.row.tolist() == [0, -1, -1, -1] and float(b.still.ts[0]) == 100.0
    grown = b.patched(["ph-2", "br-1", "ph-1", "ph-3", "br-9"], np.array([0]))
    assert grown.still.row.tolist() == [-1, -1, -1, -1, -1]
    assert isinstance(StillAnchors(0).rows(np.zeros(0, dtype=np.int64)), np.ndarray)


def _device(rng: random.Random, i: int, step: int = 0) -> Device:
    kind = rng.choice(["bracelet", "phone", "beacon"])
    return Device(f"d{i:05d}", rng.choice([None, f"s{rng.randrange(50)}"]), kind,
                  f"v{step}" if rng.random() < 0.1 else None,
                  rng.choice([None, 0.0, 30.0 + step]))


def test_a_device_table_reads_as_the_dict_of_devices_and_folds_its_changes_into_a_table():
    rng = random.Random(11)
    plain = {d.id: d for d in (_device(rng, i) for i in range(2_000))}
    table = DeviceTable(plain.values())
    assert dict(table) == plain and list(table) == list(plain)
    assert table.numbers == {d: n for n, d in enumerate(plain)}
    assert table.kind_is("bracelet").tolist() == [d.kind == "bracelet" for d in plain.values()]
    assert np.array_equal(table.intervals(), [np.nan if d.report_interval_s is None
                                              else d.report_interval_s for d in plain.values()],
                          equal_nan=True)
    versions = [(layered(table), dict(plain))]
    for step in range(400):  # past a sixteenth of the table: folded into a new one
        m, d = versions[-1]
        removed = [f"d{rng.randrange(2_500):05d}" for _ in range(2)]
        updates = {(x := _device(rng, rng.randrange(2_500), step)).id: x for _ in range(3)}
        d = {k: v for k, v in d.items() if k not in removed} | updates
        versions.append((m.changed(updates, removed=removed), d))
    assert isinstance(versions[-1][0].layers()[0], DeviceTable)  # folded as a table
    for m, d in versions[::37]:
        assert dict(m) == d and len(m) == len(d)
        # (In the mapping's order: the base's, a device set anew in its place, then those added.)
        assert list(owners(m)) == [(x.id, x.supervisee_id, x.kind) for x in m.values()]
        for k in ("d00003", "d02400", "nobody"):
            assert m.get(k) == d.get(k) and (k in m) == (k in d)
            assert held_id(m, k) == (k if k in d else None)
    assert dict(versions[0][0]) == plain  # the first version is as it was


def test_a_supervisee_table_reads_as_the_dict_and_says_whether_it_was_added_in_order():
    people = [Supervisee(f"s{i:03d}", "", f"j{i % 3}", tuple(f"z{i}-{k}" for k in range(i % 4)),
                         ["p1", "p2", None][i % 3], "case-1" if i % 7 == 0 else None)
              for i in range(300)]
    table = SuperviseeTable(people)
    assert table.ordered and dict(table) == {s.id: s for s in people}
    assert [tuple(z) for z in table.zone_ids()] == [s.zone_ids for s in people]
    assert table.case_nos() == {s.id: "case-1" for s in people if s.case_no}
    assert on_plans(table, {"p2"}) == {s.id for s in people if s.plan_id == "p2"}
    assert not SuperviseeTable(reversed(people)).ordered
    moved = Supervisee("s001", "", "j0", ("z",), "p2")
    changed = layered(table).changed({"s999": Supervisee("s999", "", "j0", (), "p2"),
                                      "s001": moved}, removed=["s002"])
    assert on_plans(changed, {"p2"}) == {s.id for s in people if s.plan_id == "p2"} - {
        "s002"} | {"s999", "s001"}
    folded = table.fold(dict(changed.layers()[1]))
    assert dict(folded) == dict(changed) and folded.ordered  # (s999 comes last, and sorts last)


def test_links_by_person_read_as_tuples_and_fold_their_changes_into_the_same_form():
    rng = random.Random(5)
    links = [Pairing(f"s{rng.randrange(1_500)}", f"b{i}", f"p{i}") for i in range(2_000)]
    plain: dict[str, tuple[Pairing, ...]] = {}
    for p in links:
        plain[p.supervisee_id] = (*plain.get(p.supervisee_id, ()), p)
    held = by_supervisee(links)
    assert dict(held) == plain and any(len(ps) > 1 for ps in plain.values())
    m, d = layered(held), dict(plain)
    for step in range(300):  # past a sixteenth: folded
        removed = [f"s{rng.randrange(1_600)}"]
        updates = {f"s{rng.randrange(1_600)}": tuple(
            Pairing("x", f"b{step}-{k}", "p") for k in range(rng.randrange(1, 3)))}
        m, d = m.changed(updates, removed=removed), {
            k: v for k, v in d.items() if k not in removed} | updates
    assert isinstance(m.layers()[0], ByPerson) and dict(m) == d
    assert dict(held) == plain  # as it was
