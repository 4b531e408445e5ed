"""Decoding and validating device messages: good ones become fixes, bad ones say why."""

from __future__ import annotations

import json
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


# --- the batch decoder's fast path must agree with the one-message decoder exactly ---------

_ODD_VALUES = [None, True, "1.5", "2025-11-21T16:00:00Z", 10**400, 1e308, -1, 91, -181, 1e6,
               [1], {"a": 1}, float(NOW + 1e4), float(NOW - 400 * 86400)]


def _random_messages(rng, n: int) -> list[tuple[str, bytes, float]]:
    """Mostly good messages, with every kind of damage mixed in."""
    out = []
    for _ in range(n):
        device = f"d-{rng.integers(0, 6)}"
        owntracks = rng.random() < 0.3
        count = 1 if owntracks else int(rng.integers(1, 5))
        items = []
        for k in range(count):
            item = {"tst" if owntracks else "ts": NOW - 60 * k - float(rng.integers(0, 3)),
                    "lon": float(rng.uniform(-180, 180)), "lat": float(rng.uniform(-90, 90))}
            if rng.random() < 0.7:
                item["acc"] = float(rng.choice([0, 3.5, 12, 80_000]))
            if rng.random() < 0.5:
                item["batt"] = int(rng.integers(0, 101))
            if rng.random() < 0.15:  # damage one field
                key = str(rng.choice(list(item) + ["acc", "batt"]))
                choice = rng.integers(0, len(_ODD_VALUES) + 1)
                if choice == len(_ODD_VALUES):
                    item.pop(key, None)
                else:
                    item[key] = _ODD_VALUES[choice]
            items.append(item)
        if owntracks:
            doc = {"_type": "location" if rng.random() < 0.95 else "waypoint", **items[0]}
            topic = f"owntracks/u/{device}"
        else:
            doc = items if count > 1 or rng.random() < 0.5 else items[0]
            topic = f"cordon/devices/{device}/fixes"
        try:
            payload = orjson.dumps(doc)
        except orjson.JSONEncodeError:  # the huge integer, which orjson will not write
            payload = json.dumps(doc).encode()
        r = rng.random()
        if r < 0.02:
            payload = b"{not json"
        elif r < 0.04:
            payload = b"[]"
        elif r < 0.06:
            topic = "weather/today"
        elif r < 0.08:
            payload = b'["x", 1]'
        out.append((topic, payload, NOW))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_batch_decoder_agrees_with_the_message_decoder(seed, monkeypatch):
    import numpy as np

    import devices.batches
    from devices.batches import decode_batch, unknown_device

    rng = np.random.default_rng(seed)
    messages = _random_messages(rng, 400)
    known = {"d-0", "d-1", "d-2", "d-3", "d-4"}.__contains__  # d-5 is not registered

    expected_fixes, expected_rejections = [], []
    for topic, payload, received_at in messages:
        d = decode_message(topic, payload, received_at, LIMITS)
        expected_rejections += d.rejections
        if d.fixes and not known(d.fixes[0].device_id):
            expected_rejections.append(unknown_device(d))
        elif d.fixes:
            expected_fixes += d.fixes

    slow = []
    monkeypatch.setattr(devices.batches, "decode_message",
                        lambda *a: slow.append(a) or decode_message(*a))
    got = decode_batch(messages, LIMITS, known)
    as_rows = sorted(
        tuple(-1.0 if isinstance(v, float) and math.isnan(v) else v for v in f)
        for f in (got.fixes.fix(i) for i in range(len(got.fixes))))
    want = sorted(
        tuple(-1.0 if isinstance(v, float) and math.isnan(v) else v for v in f)
        for f in expected_fixes)
    assert as_rows == want
    assert got.rejections == expected_rejections
    assert len(expected_fixes) > 200 and len(expected_rejections) > 30
    assert 50 < len(slow) < len(messages) / 2  # both paths exercised
