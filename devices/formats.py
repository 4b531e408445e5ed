"""Decoding and validating device messages.

Two wire formats are accepted, chosen by topic (see :mod:`devices.topics`):

OwnTracks (verbatim, as the phone app sends it)::

    {"_type": "location", "lat": 30.27, "lon": -97.74, "tst": 1763740800, "acc": 12, "batt": 80}

Cordon native — one fix, or an array of fixes (a buffered upload)::

    {"ts": "2026-11-21T12:00:00Z", "lon": -97.74, "lat": 30.27, "acc": 8.5, "batt": 64}
    [{"ts": 1763740800, ...}, {"ts": 1763740860, ...}]

``ts`` is RFC 3339 or Unix seconds; ``acc`` (metres) and ``batt`` (%) are optional. A missing
accuracy takes the configured default, which is deliberately coarse: a fix whose accuracy is
unknown must not be taken as certain.

Nothing is dropped silently: each bad message, or bad fix inside a batch, becomes a
:class:`Rejection` with a reason a person can act on.

>>> limits = Limits()
>>> d = decode_message("owntracks/alice/ph-1",
...     b'{"_type":"location","lat":30.27,"lon":-97.74,"tst":1763740800,"acc":12}',
...     received_at=1763740801.0, limits=limits)
>>> d.fixes[0].device_id, d.fixes[0].accuracy_m, d.rejections
('ph-1', 12.0, [])
>>> decode_message("cordon/devices/br-1/fixes", b'{"lat": 95}', 0.0, limits).rejections[0].reason
'fix 0: missing field ts'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from devices.fixes import Fix
from devices.topics import TopicKind, parse_topic


@dataclass(frozen=True, slots=True)
class Limits:
    """What counts as plausible input."""

    max_payload_bytes: int = 256 * 1024
    max_fixes_per_message: int = 10_000
    default_accuracy_m: float = 50.0
    max_accuracy_m: float = 100_000.0
    max_future_s: float = 300.0
    max_age_s: float = 366 * 86400.0


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message (or one fix of a batch) that cannot be used, and why."""

    topic: str
    payload: bytes
    reason: str
    device_id: str | None
    received_at: float


@dataclass(slots=True)
class Decoded:
    fixes: list[Fix] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # devices.events.DeviceEvent
    rejections: list[Rejection] = field(default_factory=list)
    topic: str = ""  # where it came from (an MQTT topic, or "http/osmand")
    payload: bytes = b""


class _Invalid(ValueError):
    pass


def decode_message(topic: str, payload: bytes, received_at: float, limits: Limits) -> Decoded:
    """Decode one MQTT message into validated fixes and rejections."""
    out = Decoded(topic=topic, payload=payload)
    kind, device_id = parse_topic(topic)

    def reject(reason: str) -> Decoded:
        out.rejections.append(Rejection(topic, payload, reason, device_id, received_at))
        return out

    if kind is TopicKind.UNKNOWN or device_id is None:
        return reject("topic is not a Cordon device topic")
    if len(payload) > limits.max_payload_bytes:
        return reject(f"payload of {len(payload)} bytes exceeds {limits.max_payload_bytes}")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return reject(f"not valid JSON: {exc}")

    if kind is TopicKind.EVENTS:
        from devices.events import InvalidEvent, decode_event

        try:
            out.events.append(decode_event(device_id, payload, received_at, limits))
        except InvalidEvent as exc:
            return reject(str(exc))
        return out
    if kind is TopicKind.OWNTRACKS:
        if not isinstance(doc, dict):
            return reject("OwnTracks message is not a JSON object")
        msg_type = doc.get("_type")
        if msg_type != "location":
            return reject(f"unsupported OwnTracks message type {msg_type!r}")
        items: list[Any] = [doc]
        time_key, source = "tst", "owntracks"
    else:
        items = doc if isinstance(doc, list) else [doc]
        time_key, source = "ts", "native"
        if not items:
            return reject("empty batch")
        if len(items) > limits.max_fixes_per_message:
            return reject(
                f"batch of {len(items)} fixes exceeds {limits.max_fixes_per_message} per message"
            )

    for i, item in enumerate(items):
        try:
            out.fixes.append(
                _fix_from(item, device_id, time_key, source, received_at, limits)
            )
        except _Invalid as exc:
            reason = str(exc) if kind is TopicKind.OWNTRACKS else f"fix {i}: {exc}"
            item_payload = payload if len(items) == 1 else orjson.dumps(item)
            out.rejections.append(Rejection(topic, item_payload, reason, device_id, received_at))
    return out


def _fix_from(
    item: Any, device_id: str, time_key: str, source: str, received_at: float, limits: Limits
) -> Fix:
    if not isinstance(item, dict):
        raise _Invalid("fix is not a JSON object")
    for key in (time_key, "lat", "lon"):
        if key not in item:
            raise _Invalid(f"missing field {key}")
    lat = _number(item, "lat")
    lon = _number(item, "lon")
    if not -90.0 <= lat <= 90.0:
        raise _Invalid(f"lat {lat} out of range [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise _Invalid(f"lon {lon} out of range [-180, 180]")
    ts = _timestamp(item[time_key], time_key)
    if ts > received_at + limits.max_future_s:
        raise _Invalid(f"{time_key} is {ts - received_at:.0f} s in the future")
    if ts < received_at - limits.max_age_s:
        raise _Invalid(f"{time_key} is older than {limits.max_age_s / 86400:.0f} days")
    if "acc" in item and item["acc"] is not None:
        acc = _number(item, "acc")
        if not 0.0 <= acc <= limits.max_accuracy_m:
            raise _Invalid(f"acc {acc} out of range [0, {limits.max_accuracy_m:g}] m")
    else:
        acc = limits.default_accuracy_m
    battery = math.nan
    if item.get("batt") is not None:
        battery = _number(item, "batt")
        if not 0.0 <= battery <= 100.0:
            raise _Invalid(f"batt {battery} out of range [0, 100]")
    return Fix(device_id, ts, lon, lat, acc, battery, received_at, source)


def event_fields(item: dict[str, Any], received_at: float, limits: Limits
                 ) -> tuple[float, float]:
    """``ts`` and ``batt`` of a device event, checked as a fix's are (raises ValueError)."""
    if "ts" not in item:
        raise _Invalid("missing field ts")
    ts = _timestamp(item["ts"], "ts")
    if ts > received_at + limits.max_future_s:
        raise _Invalid(f"ts is {ts - received_at:.0f} s in the future")
    if ts < received_at - limits.max_age_s:
        raise _Invalid(f"ts is older than {limits.max_age_s / 86400:.0f} days")
    battery = math.nan
    if item.get("batt") is not None:
        battery = _number(item, "batt")
        if not 0.0 <= battery <= 100.0:
            raise _Invalid(f"batt {battery} out of range [0, 100]")
    return ts, battery


def _number(item: dict[str, Any], key: str) -> float:
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{key} is not a number: {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise _Invalid(f"{key} is not finite")
    return value


def _timestamp(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise _Invalid(f"{key} is not a timestamp: {value!r}")
    if isinstance(value, int | float):
        ts = float(value)
        if not math.isfinite(ts):
            raise _Invalid(f"{key} is not finite")
        return ts
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Invalid(f"{key} is not RFC 3339: {value!r}") from None
        if parsed.tzinfo is None:
            raise _Invalid(f"{key} has no time zone: {value!r}")
        return parsed.timestamp()
    raise _Invalid(f"{key} is not a timestamp: {value!r}")


OSMAND_TOPIC = "http/osmand"


def decode_osmand(
    params: Mapping[str, str], body: bytes, received_at: float, limits: Limits
) -> Decoded:
    """Decode one report of the OsmAnd protocol spoken by the Traccar Client phone app.

    Either query/form parameters (``id``, ``lat``, ``lon`` or ``location=lat,lon``,
    ``timestamp`` in Unix seconds, milliseconds or RFC 3339, ``accuracy`` m, ``batt`` %), or the
    JSON body of Traccar Client 9 (``device_id``, ``location.timestamp``,
    ``location.coords.latitude/longitude/accuracy``, ``location.battery.level`` 0–1).

    >>> d = decode_osmand({"id": "ph-7", "lat": "30.27", "lon": "-97.74",
    ...                    "timestamp": "1763740800", "accuracy": "12", "batt": "81"},
    ...                   b"", 1763740801.0, Limits())
    >>> d.fixes[0].device_id, d.fixes[0].lat, d.fixes[0].battery, d.rejections
    ('ph-7', 30.27, 81.0, [])
    """
    payload = body or "&".join(f"{k}={v}" for k, v in params.items()).encode()
    out = Decoded(topic=OSMAND_TOPIC, payload=payload)
    device_id = None

    def reject(reason: str) -> Decoded:
        out.rejections.append(Rejection(OSMAND_TOPIC, payload, reason, device_id, received_at))
        return out

    if len(payload) > limits.max_payload_bytes:
        return reject(f"payload of {len(payload)} bytes exceeds {limits.max_payload_bytes}")
    item: dict[str, Any]
    if body and not params.get("id"):
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return reject(f"not valid JSON: {exc}")
        # The id first, so that a refused body is still put down to its device (and the HTTP
        # intake can check the device's password); a non-string id is no id.
        raw_id = doc.get("device_id") if isinstance(doc, dict) else None
        device_id = (raw_id if isinstance(raw_id, str) else None) or params.get("id")
        if not isinstance(doc, dict) or not isinstance(doc.get("location"), dict):
            return reject("JSON body has no location object")
        loc = doc["location"]
        coords = loc.get("coords") if isinstance(loc.get("coords"), dict) else {}
        battery = loc.get("battery") if isinstance(loc.get("battery"), dict) else {}
        item = {"ts": loc.get("timestamp"), "lat": coords.get("latitude"),
                "lon": coords.get("longitude"), "acc": coords.get("accuracy")}
        level = battery.get("level")
        if isinstance(level, int | float) and not isinstance(level, bool) and level >= 0:
            item["batt"] = level * 100.0
        item = {k: v for k, v in item.items() if v is not None}
    else:
        device_id = params.get("id") or params.get("deviceid")
        item = {}
        try:
            if "location" in params and "lat" not in params:
                lat, lon = params["location"].split(",", 1)
                item["lat"], item["lon"] = float(lat), float(lon)
            for src, dst in (("lat", "lat"), ("lon", "lon"), ("accuracy", "acc"),
                             ("batt", "batt")):
                if params.get(src) not in (None, ""):
                    item[dst] = float(params[src])
        except ValueError as exc:
            return reject(f"not a number: {exc}")
        stamp = params.get("timestamp")
        if stamp is not None:
            item["ts"] = _osmand_time(stamp)
    if not device_id or not isinstance(device_id, str):
        return reject("missing device id (id)")
    try:
        out.fixes.append(_fix_from(item, device_id, "ts", "osmand", received_at, limits))
    except _Invalid as exc:
        return reject(str(exc))
    return out


def _osmand_time(stamp: str) -> float | str:
    try:
        value = float(stamp)
    except ValueError:
        return stamp.replace(" ", "T") if "T" not in stamp else stamp  # RFC 3339, checked later
    return value / 1000.0 if value > 1e11 else value  # milliseconds from some clients
