"""Decoding and validating device messages: good ones become fixes, bad ones say why."""

from __future__ import annotations

import math

import orjson
import pytest

from devices.formats import Limits, decode_message
from devices.topics import TopicKind, parse_topic

NOW = 1_763_740_800.0
LIMITS = Limits()


def decode(topic: str, payload: bytes | dict | list):
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return decode_message(topic, raw, NOW, LIMITS)


def test_owntracks_location_verbatim():
    # As the OwnTracks app publishes it (extra fields are ignored).
    msg = {"_type": "location", "acc": 13, "alt": 148, "batt": 87, "bs": 1, "conn": "w",
           "created_at": NOW, "lat": 30.2672, "lon": -97.7431, "m": 1, "t": "u",
           "tid": "ph", "tst": int(NOW) - 5, "vac": 3, "vel": 0}
    d = decode("owntracks/alice/ph-001", msg)
    assert d.rejections == []
    [fix] = d.fixes
    assert (fix.device_id, fix.lon, fix.lat, fix.accuracy_m, fix.battery) == (
        "ph-001", -97.7431, 30.2672, 13.0, 87.0)
    assert fix.ts == NOW - 5 and fix.source == "owntracks"


def test_native_single_and_batch():
    d = decode("cordon/devices/br-1/fixes",
               {"ts": "2025-11-21T16:00:00Z", "lon": 1.5, "lat": 2.5, "acc": 4})
    assert [f.ts for f in d.fixes] == [NOW]
    batch = [{"ts": NOW - 60 * i, "lon": 1.0, "lat": 2.0} for i in range(10)]
    d = decode("cordon/devices/br-1/fixes", batch)
    assert len(d.fixes) == 10 and d.rejections == []
    # A missing accuracy takes the coarse default, never "perfect".
    assert d.fixes[0].accuracy_m == LIMITS.default_accuracy_m
    assert math.isnan(d.fixes[0].battery)


def test_one_bad_fix_in_a_batch_keeps_the_others():
    batch = [{"ts": NOW, "lon": 1.0, "lat": 2.0}, {"ts": NOW, "lon": 1.0, "lat": 95.0}]
    d = decode("cordon/devices/br-1/fixes", batch)
    assert len(d.fixes) == 1
    [r] = d.rejections
    assert r.reason == "fix 1: lat 95.0 out of range [-90, 90]"
    assert orjson.loads(r.payload)["lat"] == 95.0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        ({"_type": "location", "lon": 1, "tst": NOW}, "missing field lat"),
        ({"_type": "location", "lat": 1, "lon": 200, "tst": NOW}, "lon 200.0 out of range"),
        ({"_type": "location", "lat": "x", "lon": 1, "tst": NOW}, "lat is not a number"),
        ({"_type": "location", "lat": 1, "lon": 1, "tst": NOW + 3600}, "in the future"),
        ({"_type": "location", "lat": 1, "lon": 1, "tst": 1000}, "older than"),
        ({"_type": "location", "lat": 1, "lon": 1, "tst": NOW, "acc": -1}, "acc -1.0 out of range"),
        ({"_type": "location", "lat": 1, "lon": 1, "tst": NOW, "batt": 250}, "batt 250.0"),
        ({"_type": "transition", "event": "enter"}, "unsupported OwnTracks message type"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_bad_owntracks_messages_are_rejected_with_a_reason(payload, reason):
    d = decode("owntracks/alice/ph-001", payload)
    assert d.fixes == []
    assert len(d.rejections) == 1 and reason in d.rejections[0].reason
    assert d.rejections[0].device_id == "ph-001"


def test_nan_and_oversize_and_foreign_topics():
    nan = decode("cordon/devices/x/fixes", b'{"lat": NaN}')
    assert "not valid JSON" in nan.rejections[0].reason
    big = b"[" + b",".join([b'{"ts":1,"lon":1,"lat":1}'] * 20000) + b"]"
    assert "exceeds" in decode("cordon/devices/x/fixes", big).rejections[0].reason
    assert decode("weather/x", b"{}").rejections[0].reason == "topic is not a Cordon device topic"
    assert decode("cordon/devices/x/fixes", b"[]").rejections[0].reason == "empty batch"


def test_topics():
    assert parse_topic("owntracks/u/d") == (TopicKind.OWNTRACKS, "d")
    assert parse_topic("owntracks/u/d/event") == (TopicKind.UNKNOWN, None)
    assert parse_topic("cordon/devices/d/fixes") == (TopicKind.NATIVE, "d")
