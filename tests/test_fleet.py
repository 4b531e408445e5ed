"""The simulated fleet: deterministic, decodable by Cordon, honest noise, and labels that agree
with the true paths — checked here independently (geodesic distances with pyproj, polygons and
schedules parsed from the registry's own GeoJSON and JSON by Cordon's readers)."""

from __future__ import annotations

import doctest
import hashlib
import json
from collections import Counter, defaultdict
from urllib.parse import parse_qs

import numpy as np
import orjson
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape

import simulators.labels
from devices.credentials import device_password
from devices.formats import Limits, decode_message
from devices.topics import TopicKind, parse_topic
from geofence.schedules import Schedule
from geofence.zones import Zone
from simulators.fleet import Fleet, FleetConfig, write_labels
from simulators.labels import KINDS, read_labels
from simulators.scenarios import KINDS as SCRIPTED
from simulators.wire import EVENTS, is_event_topic, osmand_queries

GEOD = Geod(ellps="WGS84")
LIMITS = Limits()
SPATIAL = ("exclusion_entry", "inclusion_exit", "curfew", "victim_proximity", "separation")


def digest(fleet: Fleet) -> str:
    h = hashlib.sha256()
    for m in fleet.messages():
        h.update(repr((m.deliver_at, m.device_id, m.topic)).encode())
        h.update(m.payload)
    for lb in fleet.labels():
        h.update(repr(lb).encode())
    return h.hexdigest()


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def small() -> tuple[Fleet, list]:
    """40 supervisees over 1.5 days, with all their messages."""
    fleet = Fleet(FleetConfig(supervisees=40, seed=11, days=1.5))
    return fleet, list(fleet.messages())


@pytest.fixture(scope="module")
def big() -> Fleet:
    """300 supervisees over 2 days: built (plans, paths, labels), not rendered."""
    return Fleet(FleetConfig(supervisees=300, seed=5, days=2.0))


@pytest.fixture(scope="module")
def decoded(small):
    """Every fix of the small fleet as Cordon decodes it, with the message it came in."""
    _, messages = small
    out = []
    for m in messages:
        if is_event_topic(m.topic):
            continue
        d = decode_message(m.topic, m.payload, m.deliver_at, LIMITS)
        assert d.rejections == [], (m, d.rejections[:2])
        out.extend((m, fix) for fix in d.fixes)
    return out


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes():
    cfg = FleetConfig(supervisees=12, seed=3, days=0.5)
    first, again = digest(Fleet(cfg)), digest(Fleet(cfg))
    assert first == again
    assert digest(Fleet(FleetConfig(supervisees=12, seed=4, days=0.5))) != first


def test_a_person_does_not_depend_on_fleet_size():
    few = Fleet(FleetConfig(supervisees=5, seed=8, days=0.5, **{f"{k}_fraction": 0.0
                                                                  for k in SCRIPTED}))
    more = Fleet(FleetConfig(supervisees=9, seed=8, days=0.5, **{f"{k}_fraction": 0.0
                                                                   for k in SCRIPTED}))
    ts = np.linspace(few.start, few.end, 50)
    for sid in ("S-0001", "S-0005"):
        assert np.array_equal(few.supervisee_truth(sid, ts)[0], more.supervisee_truth(sid, ts)[0])


# --- wire formats -------------------------------------------------------------------------------


def test_messages_are_ordered_and_decode_without_rejections(small, decoded):
    _, messages = small
    at = np.array([m.deliver_at for m in messages])
    assert np.all(np.diff(at) >= 0)
    kinds = Counter(parse_topic(m.topic)[0] for m in messages if not is_event_topic(m.topic))
    assert kinds[TopicKind.NATIVE] > 1000 and kinds[TopicKind.OWNTRACKS] > 1000
    for m, fix in decoded:
        assert fix.device_id == m.device_id
        assert fix.ts <= m.deliver_at
    # One report a minute, more while in violation: about 1440 fixes a device-day at least.
    assert len(decoded) > 40 * 1.3 * 1.5 * 1200


def test_owntracks_messages_are_the_apps_format(small):
    _, messages = small
    m = next(m for m in messages if m.topic.startswith("owntracks/"))
    doc = orjson.loads(m.payload)
    assert doc["_type"] == "location"
    assert {"lat", "lon", "tst", "acc", "batt", "tid", "conn", "bs", "vel", "alt"} <= set(doc)
    assert isinstance(doc["tst"], int) and isinstance(doc["acc"], int)
    assert doc["conn"] in ("w", "m", "o") and doc["tid"] == m.device_id[-2:]


def test_buffered_uploads_hold_only_older_fixes(small):
    _, messages = small
    batches = [m for m in messages if m.payload.startswith(b"[")]
    assert len(batches) > 50
    sizes = []
    for m in batches:
        assert m.topic.endswith("/fixes")
        fixes = orjson.loads(m.payload)
        sizes.append(len(fixes))
        assert all(f["ts"] < m.deliver_at for f in fixes)
    assert max(sizes) >= 10  # a ten-minute upload of one fix a minute


def test_connectivity_gaps_deliver_late(small):
    _, messages = small
    late = [m for m in messages if m.topic.startswith("owntracks/")
            and orjson.loads(m.payload)["conn"] == "o"]
    assert late
    assert all(m.deliver_at - orjson.loads(m.payload)["tst"] > 1.0 for m in late)


def test_event_messages(small):
    fleet, messages = small
    events = [m for m in messages if is_event_topic(m.topic)]
    assert events
    seen = Counter()
    for m in events:
        assert m.topic == f"cordon/devices/{m.device_id}/events"
        assert parse_topic(m.topic)[0] is TopicKind.EVENTS  # not a fix topic
        doc = orjson.loads(m.payload)
        assert {"ts", "event", "batt"} <= set(doc)
        assert doc["event"] in EVENTS and 0 <= doc["batt"] <= 100
        assert doc["ts"] <= m.deliver_at
        if doc["event"] in ("lost_link", "link_restored"):
            assert doc["peer"].startswith("ph-")
        seen[doc["event"]] += 1
    assert seen["charger_connected"] and seen["charger_disconnected"]


def test_osmand_rendering_round_trips(small):
    _, messages = small
    m = next(m for m in messages if m.topic.endswith("/fixes") and m.payload.startswith(b"{"))
    [query] = osmand_queries(m, secret=b"fleet test agency secret")
    q = {k: v[0] for k, v in parse_qs(query).items()}
    doc = orjson.loads(m.payload)
    assert q["id"] == m.device_id
    assert q["key"] == device_password(b"fleet test agency secret", m.device_id)
    assert float(q["lat"]) == doc["lat"] and float(q["lon"]) == doc["lon"]
    assert float(q["timestamp"]) == doc["ts"] and float(q["accuracy"]) == doc["acc"]
    assert int(q["batt"]) == doc["batt"]


# --- noise ------------------------------------------------------------------------------------


def test_noise_is_honest_most_of_the_time(small, decoded):
    fleet, _ = small
    by_device = defaultdict(list)
    for _, fix in decoded:
        by_device[fix.device_id].append(fix)
    inside, lies, total = 0, 0, 0
    for did, fixes in by_device.items():
        ts = np.array([f.ts for f in fixes])
        lon, lat = fleet.truth(did, ts)
        d = metres([f.lon for f in fixes], [f.lat for f in fixes], lon, lat)
        acc = np.array([f.accuracy_m for f in fixes])
        inside += int(np.sum(d <= acc))
        lies += int(np.sum(d > acc + 50.0))  # multipath, cold starts
        total += len(fixes)
    assert 0.8 <= inside / total <= 0.99
    assert lies > 0


# --- ground truth -------------------------------------------------------------------------------


def test_every_kind_occurs_and_compliant_people_have_no_labels(big):
    labels = big.labels()
    kinds = big.scenarios()
    assert set(Counter(lb.kind for lb in labels)) == set(KINDS)
    labelled = {lb.supervisee for lb in labels}
    assert not [s for s, k in kinds.items() if k == "compliant" and s in labelled]
    for sid, kind in kinds.items():
        if kind != "compliant":
            assert any(lb.supervisee == sid and lb.kind == kind for lb in labels), (sid, kind)
    assert all(big.start <= lb.start < lb.end <= big.end for lb in labels)


def test_low_battery_comes_before_battery_dead_and_never_to_the_compliant(big):
    labels = big.labels()
    kinds = big.scenarios()
    low = defaultdict(list)
    for lb in labels:
        if lb.kind == "low_battery":
            low[lb.supervisee].append(lb)
    assert low
    assert not [s for s in low if kinds[s] == "compliant"]
    dead = [lb for lb in labels if lb.kind == "battery_dead"]
    assert dead
    for d in dead:
        # The warning opens while the device still runs, and outlasts the flat spell: it
        # clears only once the charger has lifted the level above 25 %.
        [lb] = [lb for lb in low[d.supervisee] if lb.start <= d.start < lb.end]
        assert lb.start < d.start and (lb.end > d.end or lb.end == big.end)


def test_low_battery_labels_agree_with_the_reported_levels(small):
    fleet, messages = small
    owner = {d["id"]: d["supervisee_id"] for d in fleet.registry()["devices"]}
    low = defaultdict(list)
    for lb in fleet.labels():
        if lb.kind == "low_battery":
            low[lb.supervisee].append((lb.start, lb.end))
    assert low
    checked = 0
    for m in messages:
        sid = owner[m.device_id]
        if sid is None or is_event_topic(m.topic):
            continue
        doc = orjson.loads(m.payload)
        for f in doc if isinstance(doc, list) else [doc]:
            if f["batt"] <= 19:  # reported as floor(level): the true level is below 20 %
                t = f.get("ts", f.get("tst"))
                assert any(a - 1.0 <= t <= b for a, b in low[sid]), (m.device_id, t, f["batt"])
                checked += 1
    assert checked


def test_labels_doctests():
    failed, tried = doctest.testmod(simulators.labels)
    assert tried and not failed


def test_labels_round_trip_as_jsonl(big, tmp_path):
    path = tmp_path / "labels.jsonl"
    write_labels(path, big.labels())
    first = orjson.loads(path.read_bytes().splitlines()[0])
    assert set(first) == {"supervisee", "kind", "start", "end"}
    assert read_labels(path) == big.labels()


class Truth:
    """Independent checks of one fleet's labels against its true paths."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        reg = fleet.registry()
        self.zones = {f["id"]: f for f in reg["zones"]}
        self.sup = {s["id"]: s for s in reg["supervisees"]}
        self.pair = {p["supervisee_id"]: p for p in reg["pairings"]}

    def where(self, sid: str, ts: np.ndarray):
        return self.fleet.supervisee_truth(sid, ts)

    def violating(self, kind: str, sid: str, ts: np.ndarray, zone_id: str | None = None
                  ) -> np.ndarray:
        lon, lat = self.where(sid, ts)
        s = self.sup[sid]
        if kind == "inclusion_exit":
            county = shape(self.zones[s["zone_ids"][0]]["geometry"])
            return ~shapely.contains_xy(county, lon, lat)
        if kind == "exclusion_entry":
            zone = self.zones[zone_id]
            return self._inside(zone, lon, lat)
        if kind == "curfew":
            home = self.zones[s["home_zone_id"]]
            active = Schedule.from_dict(s["curfew"]).active_at(ts)
            return active & ~self._inside(home, lon, lat)
        if kind == "separation":
            p = self.pair[sid]
            blon, blat = self.fleet.truth(p["bracelet_id"], ts)
            plon, plat = self.fleet.truth(p["phone_id"], ts)
            return metres(blon, blat, plon, plat) > 200.0
        raise AssertionError(kind)

    def victim_distance(self, sid: str, ts: np.ndarray) -> np.ndarray:
        lon, lat = self.where(sid, ts)
        vlon, vlat = self.fleet.truth(self.sup[sid]["protected_victims"][0]["device_id"], ts)
        return metres(lon, lat, vlon, vlat)

    def exclusion_zone_of(self, sid: str, t: float) -> str:
        lon, lat = self.where(sid, np.array([t]))
        for zid in self.sup[sid]["zone_ids"][1:]:
            if self._inside(self.zones[zid], lon, lat)[0]:
                return zid
        raise AssertionError(f"{sid} is in no exclusion zone at {t}")

    @staticmethod
    def _inside(zone: dict, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        geom = zone["geometry"]
        if geom["type"] == "Point":
            cx, cy = geom["coordinates"]
            d = metres(np.full(len(lon), cx), np.full(len(lat), cy), lon, lat)
            return d <= zone["properties"]["radius_m"]
        return shapely.contains_xy(shape(geom), lon, lat)


def test_spatial_labels_agree_with_the_true_paths(big):
    truth = Truth(big)
    checked = Counter()
    for lb in big.labels():
        if lb.kind not in SPATIAL:
            continue
        eps = 2.0
        inner = np.linspace(lb.start + eps, lb.end - eps, 25)
        before = np.array([lb.start - eps])
        after = np.array([lb.end + eps])
        if lb.kind == "victim_proximity":
            d = truth.victim_distance(lb.supervisee, inner)
            assert np.all(d < 700.0 + 1.0) and d.min() < 500.0
            if lb.start > big.start:
                assert truth.victim_distance(lb.supervisee, before)[0] > 500.0 - 1.0
            if lb.end < big.end:
                assert truth.victim_distance(lb.supervisee, after)[0] > 700.0 - 1.0
        else:
            zid = (truth.exclusion_zone_of(lb.supervisee, (lb.start + lb.end) / 2)
                   if lb.kind == "exclusion_entry" else None)
            assert truth.violating(lb.kind, lb.supervisee, inner, zid).all(), lb
            if lb.start > big.start:
                assert not truth.violating(lb.kind, lb.supervisee, before, zid)[0], lb
            if lb.end < big.end:
                assert not truth.violating(lb.kind, lb.supervisee, after, zid)[0], lb
        if lb.kind == "separation":
            assert lb.end - lb.start >= 600.0 or lb.end == big.end
        checked[lb.kind] += 1
    assert set(checked) == set(SPATIAL)


def test_compliant_true_paths_keep_every_rule(big):
    truth = Truth(big)
    ts = np.arange(big.start, big.end, 120.0)
    compliant = [s for s, k in big.scenarios().items() if k == "compliant"][:80]
    for sid in compliant:
        assert not truth.violating("inclusion_exit", sid, ts).any(), sid
        assert not truth.violating("curfew", sid, ts).any(), sid
        for zid in truth.sup[sid]["zone_ids"][1:]:
            assert not truth.violating("exclusion_entry", sid, ts, zid).any(), (sid, zid)
        if truth.sup[sid]["protected_victims"]:
            assert truth.victim_distance(sid, ts).min() > 700.0
        if sid in truth.pair:
            assert not truth.violating("separation", sid, ts).any()


def test_device_labels_agree_with_the_messages(small):
    fleet, messages = small
    reg = fleet.registry()
    devices_of = defaultdict(list)
    for d in reg["devices"]:
        if d["supervisee_id"]:
            devices_of[d["supervisee_id"]].append(d["id"])
    fix_times = defaultdict(list)
    events = defaultdict(list)
    for m in messages:
        doc = orjson.loads(m.payload)
        if is_event_topic(m.topic):
            events[m.device_id].append((doc["ts"], doc["event"]))
            continue
        for f in doc if isinstance(doc, list) else [doc]:
            fix_times[m.device_id].append(f["ts"] if "ts" in f else f["tst"])
    labels = fleet.labels()
    device_kinds = {lb.kind for lb in labels} & {"tamper", "battery_dead", "silent"}
    assert device_kinds == {"tamper", "battery_dead", "silent"}
    for lb in labels:
        devs = devices_of[lb.supervisee]
        if lb.kind == "silent":
            for did in devs:
                t = np.array(fix_times[did])
                assert not np.any((t > lb.start) & (t < lb.end)), (lb, did)
        elif lb.kind == "battery_dead":
            # The bracelet dies if there is one (and says so), else the phone.
            did = next((d for d in devs if d.startswith("br-")), devs[0])
            t = np.array(fix_times[did])
            assert not np.any((t > lb.start) & (t < lb.end)), (lb, did)
            if did.startswith("br-"):
                assert (round(lb.start, 3), "power_off") in events[did], lb
                if lb.end < fleet.end:
                    assert (round(lb.end, 3), "power_on") in events[did], lb
        elif lb.kind == "tamper":
            [br] = [d for d in devs if d.startswith("br-")]
            names = {e for ts, e in events[br] if abs(ts - lb.start) < 0.01}
            assert names & {"strap_tamper", "case_open"}, lb


def test_reporting_speeds_up_during_violations(small):
    fleet, messages = small
    spatial = [lb for lb in fleet.labels() if lb.kind in SPATIAL and lb.end - lb.start > 300]
    assert spatial
    reg = fleet.registry()
    lb = spatial[0]
    [did, *_] = [d["id"] for d in reg["devices"] if d["supervisee_id"] == lb.supervisee]
    ts = []
    for m in messages:
        if m.device_id == did and not is_event_topic(m.topic):
            doc = orjson.loads(m.payload)
            ts += [f.get("ts", f.get("tst")) for f in (doc if isinstance(doc, list) else [doc])]
    ts = np.sort(np.array(ts))
    during = ts[(ts > lb.start + 30) & (ts < lb.end - 30)]
    assert np.median(np.diff(during)) <= 20.0


# --- registry -----------------------------------------------------------------------------------


def test_registry_is_json_and_cordon_reads_its_zones_and_curfews(small):
    fleet, messages = small
    reg = json.loads(json.dumps(fleet.registry()))
    zones = {z["id"]: Zone.from_feature(z) for z in reg["zones"]}
    kinds = Counter((z.kind, z.shape) for z in zones.values())
    assert kinds[("inclusion", "polygon")] == 5  # the county lines
    assert kinds[("exclusion", "circle")] and kinds[("exclusion", "polygon")]
    assert kinds[("inclusion", "circle")] == 40  # the homes
    juris = {j["id"]: j for j in reg["jurisdictions"]}
    devices = {d["id"]: d for d in reg["devices"]}
    for s in reg["supervisees"]:
        assert s["jurisdiction_id"] in juris and juris[s["jurisdiction_id"]]["parent_id"] == "tx"
        assert all(z in zones for z in s["zone_ids"])
        assert zones[s["home_zone_id"]].radius_m == 75.0
        Schedule.from_dict(s["curfew"])
        for v in s["protected_victims"]:
            assert devices[v["device_id"]]["role"] == "victim"
            assert devices[v["device_id"]]["protects_against"] == s["id"]
    for p in reg["pairings"]:
        assert devices[p["bracelet_id"]]["kind"] == "bracelet"
        assert devices[p["phone_id"]]["kind"] == "phone"
    assert {m.device_id for m in messages} == set(devices)
    for d in devices.values():
        if d["format"] == "owntracks":
            m = next(m for m in messages if m.device_id == d["id"])
            assert m.topic == f"owntracks/{d['owntracks_user']}/{d['id']}"
