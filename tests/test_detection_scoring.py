"""Scoring alerts against ground truth, and the naive inside/outside baseline it is applied to."""

from __future__ import annotations

import doctest
import json

import orjson
import pytest

import benchmarks.detection_scoring
import benchmarks.naive_baseline
from benchmarks.detection_scoring import ALERT_LABEL_KIND, AlertRecord, score
from benchmarks.naive_baseline import NaiveDetector, naive_alerts
from devices.topics import native_topic
from simulators.fleet import Fleet, FleetConfig
from simulators.geo import offset
from simulators.labels import KINDS, Label
from simulators.wire import SimMessage, event_payload, event_topic

DAY = 86400.0
T0 = 1_794_808_800.0  # Monday 2026-11-16 00:00 America/Chicago


def test_doctests():
    for module in (benchmarks.detection_scoring, benchmarks.naive_baseline):
        failed, tried = doctest.testmod(module)
        assert tried and not failed, module.__name__


def test_every_mapped_kind_is_a_label_kind():
    assert set(ALERT_LABEL_KIND.values()) <= set(KINDS)


# --- scoring ------------------------------------------------------------------------------------


def test_a_match_counts_for_precision_recall_and_delay():
    labels = [Label("S-1", "exclusion_entry", 1000.0, 2000.0)]
    alerts = [AlertRecord("S-1", "exclusion_entry", 1010.0, 1045.0, 1990.0),
              AlertRecord("S-1", "pass_through", 1500.0, 1600.0, 1500.0)]
    r = score(labels, alerts, {"S-1": "exclusion_entry"}, 0.0, DAY)
    k = r["kinds"]["exclusion_entry"]
    assert (k["labels"], k["alerts"], k["true_alerts"], k["detected"]) == (1, 2, 2, 1)
    assert k["precision"] == 1.0 and k["recall"] == 1.0
    assert k["delay_median_s"] == 45.0 and k["delay_p99_s"] == 45.0  # the earliest raise
    assert r["false_alerts"] == 0 and r["unmatched_alerts"] == 0


def test_tolerance_edges_touch_and_no_further():
    labels = [Label("S-1", "curfew", 1000.0, 2000.0)]
    at_edges = [AlertRecord("S-1", "curfew", 2100.0, 2100.0, 2200.0),  # opens at end + tol
                AlertRecord("S-1", "curfew", 500.0, 500.0, 900.0)]  # clears at start - tol
    beyond = [AlertRecord("S-1", "curfew", 2100.001, 2100.001, 2200.0),
              AlertRecord("S-1", "curfew", 500.0, 500.0, 899.999)]
    edge = score(labels, at_edges, {}, 0.0, DAY, tolerance_s=100.0)["kinds"]["curfew"]
    assert edge["true_alerts"] == 2 and edge["recall"] == 1.0
    assert edge["delay_median_s"] == 0.0  # raised before the start: no negative delay
    out = score(labels, beyond, {}, 0.0, DAY, tolerance_s=100.0)["kinds"]["curfew"]
    assert out["true_alerts"] == 0 and out["precision"] == 0.0 and out["recall"] == 0.0
    assert out["delay_median_s"] is None and out["delay_p99_s"] is None


def test_unmatched_alerts_and_labels():
    labels = [Label("S-1", "inclusion_exit", 1000.0, 2000.0),
              Label("S-2", "inclusion_exit", 1000.0, 2000.0)]
    alerts = [AlertRecord("S-1", "inclusion_exit", 1200.0, 1200.0, 1300.0),
              AlertRecord("S-3", "inclusion_exit", 1200.0, 1200.0, 1300.0),  # someone else
              AlertRecord("S-2", "exclusion_entry", 1200.0, 1200.0, 1300.0)]  # another kind
    r = score(labels, alerts, {"S-1": "inclusion_exit", "S-2": "inclusion_exit",
                               "S-3": "compliant"}, 0.0, DAY)
    k = r["kinds"]["inclusion_exit"]
    assert (k["alerts"], k["true_alerts"], k["detected"]) == (2, 1, 1)
    assert k["precision"] == 0.5 and k["recall"] == 0.5
    assert r["kinds"]["exclusion_entry"]["precision"] == 0.0
    assert r["unmatched_alerts"] == 2 and r["false_alerts"] == 1  # only S-3 is compliant


def test_one_alert_across_two_labels_detects_both():
    labels = [Label("S-1", "exclusion_entry", 1000.0, 1100.0),
              Label("S-1", "exclusion_entry", 3000.0, 3100.0)]
    alerts = [AlertRecord("S-1", "exclusion_entry", 1030.0, 1060.0, None)]  # never cleared
    r = score(labels, alerts, {"S-1": "exclusion_entry"}, 0.0, DAY)
    k = r["kinds"]["exclusion_entry"]
    assert (k["alerts"], k["true_alerts"], k["detected"]) == (1, 1, 2)
    assert k["precision"] == 1.0 and k["recall"] == 1.0
    assert k["delay_median_s"] == 30.0  # 60 and 0 (already open when the second began)
    assert k["delay_p99_s"] == pytest.approx(59.4)


def test_kinds_without_labels_or_alerts_have_no_score():
    alerts = [AlertRecord("S-1", "strap_tamper", 10.0, 10.0, 20.0),
              AlertRecord("S-1", "no_fix", 10.0, 10.0, 20.0),
              AlertRecord("S-1", "no_fix", 30.0, 30.0, 40.0),
              AlertRecord("S-1", "fire_alarm", 10.0, 10.0, None)]
    r = score([], alerts, {"S-1": "compliant"}, 0.0, DAY)
    assert set(r["kinds"]) == set(KINDS)
    silent = r["kinds"]["silent"]
    assert silent["precision"] is None and silent["recall"] is None
    assert (silent["labels"], silent["alerts"], silent["detected"]) == (0, 0, 0)
    tamper = r["kinds"]["tamper"]
    assert tamper["precision"] == 0.0 and tamper["recall"] is None
    assert r["unlabelled_kinds"] == {"fire_alarm": 1, "no_fix": 2}
    assert r["false_alerts"] == 4
    json.dumps(r, allow_nan=False)  # JSON-able: None, not NaN


def test_false_alerts_per_compliant_supervisee_day():
    scenarios = {"S-1": "compliant", "S-2": "compliant", "S-3": "curfew"}
    labels = [Label("S-3", "curfew", 1000.0, 2000.0)]
    alerts = [AlertRecord("S-1", "exclusion_entry", 10.0, 10.0, 20.0),
              AlertRecord("S-1", "curfew", 5000.0, 5000.0, 5100.0),
              AlertRecord("S-2", "low_battery_warning", 10.0, 10.0, None),
              AlertRecord("S-2", "no_fix", 10.0, 10.0, None),  # unlabelled: false too
              AlertRecord("S-3", "curfew", 1500.0, 1500.0, 1600.0),  # true
              AlertRecord("S-3", "curfew", 9000.0, 9000.0, 9100.0)]  # false, not compliant
    r = score(labels, alerts, scenarios, 0.0, 3 * DAY)
    assert r["compliant_supervisees"] == 2 and r["days"] == 3.0
    assert r["false_alerts"] == 4 and r["unmatched_alerts"] == 5
    assert r["false_alerts_per_supervisee_day"] == pytest.approx(4 / 6)
    assert score([], [], {"S-3": "curfew"}, 0.0, DAY)["false_alerts_per_supervisee_day"] is None


# --- the naive baseline -------------------------------------------------------------------------


def _square(lon: float, lat: float, half_m: float) -> dict:
    x0, y0 = offset(lon, lat, -half_m, -half_m)
    x1, y1 = offset(lon, lat, half_m, half_m)
    x0, y0, x1, y1 = map(float, (x0, y0, x1, y1))
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1],
                                                [x0, y0]]]}


def _registry(lon: float, lat: float) -> dict:
    """One supervisee: a 2 km county square, a 100 m exclusion circle 500 m east of home, and a
    curfew 22:00–06:00 at a 75 m home circle; one bracelet, and a victim's phone (ignored)."""
    ex_lon, ex_lat = offset(lon, lat, 500.0, 0.0)
    zones = [
        {"type": "Feature", "id": "county", "properties": {"kind": "inclusion"},
         "geometry": _square(lon, lat, 1000.0)},
        {"type": "Feature", "id": "ex", "properties": {"kind": "exclusion", "radius_m": 100.0},
         "geometry": {"type": "Point", "coordinates": [ex_lon, ex_lat]}},
        {"type": "Feature", "id": "home", "properties": {"kind": "inclusion", "radius_m": 75.0},
         "geometry": {"type": "Point", "coordinates": [lon, lat]}},
    ]
    curfew = {"timezone": "America/Chicago",
              "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                           "start": "22:00", "end": "06:00"}]}
    return {"zones": zones,
            "supervisees": [{"id": "S-1", "zone_ids": ["county", "ex"], "home_zone_id": "home",
                             "curfew": curfew}],
            "devices": [{"id": "br-1", "supervisee_id": "S-1"},
                        {"id": "vp-1", "supervisee_id": None}]}


def _fix(device: str, ts: float, lon: float, lat: float) -> SimMessage:
    payload = orjson.dumps({"ts": ts, "lon": float(lon), "lat": float(lat), "acc": 5.0,
                            "batt": 80})
    return SimMessage(ts + 0.5, device, native_topic(device), payload)


def test_naive_rules_on_hand_made_fixes():
    lon, lat = -97.74, 30.27
    home = (lon, lat)
    away = offset(lon, lat, 0.0, 300.0)  # in the county, out of home and the zone
    zone = offset(lon, lat, 500.0, 0.0)
    outside = offset(lon, lat, 3000.0, 0.0)  # beyond the county
    day = T0 + 8 * 3600.0  # 08:00, no curfew
    night = T0 + 22 * 3600.0 + 600.0  # 22:10, curfew
    walk = [
        (day, outside), (day + 60, outside),  # first fixes outside the county: nothing to leave
        (day + 120, away), (day + 180, zone), (day + 240, zone), (day + 300, away),
        (day + 360, zone), (day + 420, outside), (day + 480, away),
        (night, away), (night + 60, home), (night + 120, away), (night + 180, away),
    ]
    messages = [_fix("br-1", t, *p) for t, p in walk]
    messages.insert(3, SimMessage(day + 130, "br-1", event_topic("br-1"),
                                  event_payload(day + 130, "low_battery", 15)))
    messages.append(_fix("vp-1", day + 180, *zone))  # a victim's phone: not a supervisee's fix
    messages.reverse()  # arrival order does not matter: fixes are taken in fix-time order
    alerts = naive_alerts(messages, _registry(lon, lat))
    got = [(a.kind, a.opened_at - T0, None if a.cleared_at is None else a.cleared_at - T0)
           for a in alerts]
    h = 3600.0
    assert got == [
        ("exclusion_entry", 8 * h + 180, 8 * h + 300),
        ("exclusion_entry", 8 * h + 360, 8 * h + 420),
        ("inclusion_exit", 8 * h + 420, 8 * h + 480),
        ("curfew", 22 * h + 600, 22 * h + 660),  # the first fix of the window is away
        ("curfew", 22 * h + 720, None),
    ]
    assert all(a.raised_at == a.opened_at and a.supervisee == "S-1" for a in alerts)


@pytest.fixture(scope="module")
def tiny() -> Fleet:
    return Fleet(FleetConfig(supervisees=20, seed=3, days=0.5))


def test_naive_detector_runs_on_a_fleet(tiny):
    detector = NaiveDetector(tiny.registry())
    detector.feed_all(tiny.messages(), chunk=5000)  # several chunks
    alerts = detector.alerts()
    assert detector.n_fixes > 10_000 and detector.n_rejections == 0
    assert alerts
    assert {a.kind for a in alerts} <= {"exclusion_entry", "inclusion_exit", "curfew"}
    assert all(tiny.start - 300 <= a.opened_at <= tiny.end for a in alerts)
    assert all(a.cleared_at is None or a.cleared_at > a.opened_at for a in alerts)
    # Chunking changes nothing.
    assert naive_alerts(tiny.messages(), tiny.registry()) == alerts
    r = score(tiny.labels(), alerts, tiny.scenarios(), tiny.start, tiny.end)
    assert r["compliant_supervisees"] > 0 and r["false_alerts_per_supervisee_day"] is not None
    json.dumps(r, allow_nan=False)
