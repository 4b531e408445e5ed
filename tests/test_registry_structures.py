"""The structures a registry of millions is held in: a change makes a new version by the piece,
and the old one, still serving, is never touched."""

import random

import numpy as np
from shapely.geometry import box

from alerts.activity import Activity, StillAnchors
from geofence.layered import Layered, LayeredList, layered
from geofence.zonelist import ZoneList
from geofence.zones import Zone


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
