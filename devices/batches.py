"""Decoding many messages at once into one :class:`~devices.fixes.FixBatch`.

The engine receives thousands of messages a second, most of them well-formed. Decoding them one
fix at a time into Python objects would cost more than everything else a fix goes through, so
the common case takes a fast path: per message only the JSON parse and the lookup of five fields,
then validation of the whole batch at once on NumPy arrays.

Whatever the fast path does not vouch for — a topic it does not know, a payload it cannot read
as plain numbers, a fix that fails a check, a device that is not registered — goes through
:func:`~devices.formats.decode_message` one message at a time. That path is the specification:
the fast path accepts exactly the fixes it would accept, and leaves every refusal, with its
reason, to it. Rejections come out in message order.

>>> from devices.formats import Limits
>>> msgs = [("cordon/devices/br-1/fixes", b'[{"ts":100,"lon":1,"lat":2},{"ts":160,"lon":1,"lat":2.1}]', 200.0),
...         ("cordon/devices/br-2/fixes", b'{"ts":100,"lon":1,"lat":95}', 200.0)]
>>> d = decode_batch(msgs, Limits(max_age_s=1e9))
>>> d.fixes.device_id.tolist(), d.fixes.accuracy_m.tolist(), d.newest.tolist()
(['br-1', 'br-1'], [50.0, 50.0], [160.0])
>>> [r.reason for r in d.rejections]
['fix 0: lat 95.0 out of range [-90, 90]']
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson

from devices.events import DeviceEvent
from devices.fixes import FixBatch
from devices.formats import Decoded, Limits, Rejection, decode_message
from devices.topics import TopicKind, parse_topic


class Message(Protocol):
    topic: str
    payload: bytes
    received_at: float


MessageLike = Message | tuple[str, bytes, float]


@dataclass(slots=True)
class DecodedBatch:
    fixes: FixBatch
    rejections: list[Rejection]
    newest: np.ndarray  # newest fix time of each message that contributed fixes
    events: list[DeviceEvent] = field(default_factory=list)  # in message order


_NUMBERS = frozenset((int, float))
_NUMBERS_OR_NONE = frozenset((int, float, type(None)))
_SOURCE = {TopicKind.OWNTRACKS: "owntracks", TopicKind.NATIVE: "native"}


def _fields(m: MessageLike) -> tuple[str, bytes, float]:
    return m if isinstance(m, tuple) else (m.topic, m.payload, m.received_at)


def unknown_device(decoded: Decoded) -> Rejection:
    """The rejection of a message whose device is not registered."""
    first = decoded.fixes[0]
    return Rejection(decoded.topic or "unknown", decoded.payload,
                     f"unknown device {first.device_id!r}", first.device_id, first.received_at)


def decode_batch(
    messages: Sequence[MessageLike],
    limits: Limits,
    known: Callable[[str], bool] | None = None,
) -> DecodedBatch:
    """Decode and validate messages; with ``known``, refuse the fixes of devices it does not
    know (the whole message goes to the quarantine, as ``unknown device``)."""
    fast = _FastColumns()
    slow: list[int] = []
    for i, m in enumerate(messages):
        topic, payload, received_at = _fields(m)
        kind, device = parse_topic(topic)
        if (kind is TopicKind.UNKNOWN or kind is TopicKind.EVENTS or device is None
                or len(payload) > limits.max_payload_bytes
                or (known is not None and not known(device))
                or not fast.add(i, kind, device, payload, received_at, limits)):
            slow.append(i)

    fixes, newest, bad_messages = fast.validated(limits)
    slow = sorted(slow + bad_messages)
    rejections: list[Rejection] = []
    slow_batches: list[FixBatch] = []
    slow_newest: list[float] = []
    events: list[DeviceEvent] = []
    for i in slow:
        decoded = decode_message(*_fields(messages[i]), limits)
        rejections.extend(decoded.rejections)
        if decoded.events:
            if known is not None and not known(decoded.events[0].device_id):
                e = decoded.events[0]
                rejections.append(Rejection(decoded.topic, decoded.payload,
                                            f"unknown device {e.device_id!r}", e.device_id,
                                            e.received_at))
            else:
                events.extend(decoded.events)
        if not decoded.fixes:
            continue
        if known is not None and not known(decoded.fixes[0].device_id):
            rejections.append(unknown_device(decoded))
            continue
        slow_batches.append(FixBatch.from_fixes(decoded.fixes))
        slow_newest.append(max(f.ts for f in decoded.fixes))
    return DecodedBatch(
        FixBatch.concat([fixes, *slow_batches]),
        rejections,
        np.concatenate([newest, np.asarray(slow_newest, dtype=np.float64)]),
        events,
    )


class _FastColumns:
    """Fields of the messages on the fast path, as flat columns."""

    def __init__(self) -> None:
        self.message: list[int] = []
        self.device: list[str] = []
        self.source: list[str] = []
        self.received_at: list[float] = []
        self.count: list[int] = []
        self.ts: list[Any] = []
        self.lon: list[Any] = []
        self.lat: list[Any] = []
        self.acc: list[Any] = []
        self.batt: list[Any] = []

    def add(self, i: int, kind: TopicKind, device: str, payload: bytes, received_at: float,
            limits: Limits) -> bool:
        """Take a message's fields, or say it needs the slow path."""
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if kind is TopicKind.OWNTRACKS:
            if type(doc) is not dict or doc.get("_type") != "location":
                return False
            items: list[Any] = [doc]
            time_key = "tst"
        else:
            items = doc if type(doc) is list else [doc]
            time_key = "ts"
            if not items or len(items) > limits.max_fixes_per_message:
                return False
        try:
            ts = [it[time_key] for it in items]
            lon = [it["lon"] for it in items]
            lat = [it["lat"] for it in items]
            acc = [it.get("acc") for it in items]
            batt = [it.get("batt") for it in items]
        except (KeyError, TypeError, AttributeError):
            return False
        self.message.append(i)
        self.device.append(device)
        self.source.append(_SOURCE[kind])
        self.received_at.append(received_at)
        self.count.append(len(items))
        self.ts += ts
        self.lon += lon
        self.lat += lat
        self.acc += acc
        self.batt += batt
        return True

    def validated(self, limits: Limits) -> tuple[FixBatch, np.ndarray, list[int]]:
        """The fixes of every message whose fixes all pass, the newest fix time of each such
        message, and the messages left for the slow path."""
        if not self.message:
            return FixBatch.empty(), np.zeros(0), []
        count = np.asarray(self.count, dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(count)[:-1]])
        of_fix = np.repeat(np.arange(len(count)), count)
        good = np.ones(len(of_fix), dtype=bool)
        try:
            ts = self._numbers(self.ts, _NUMBERS, good)
            lon = self._numbers(self.lon, _NUMBERS, good)
            lat = self._numbers(self.lat, _NUMBERS, good)
            acc = self._numbers(self.acc, _NUMBERS_OR_NONE, good)
            batt = self._numbers(self.batt, _NUMBERS_OR_NONE, good)
        except OverflowError:  # an integer too large for a float: let the slow path say so
            return FixBatch.empty(), np.zeros(0), list(self.message)
        received_at = np.repeat(np.asarray(self.received_at, dtype=np.float64), count)
        acc = np.where(np.isnan(acc), limits.default_accuracy_m, acc)
        with np.errstate(invalid="ignore"):
            good &= np.isfinite(ts) & np.isfinite(lon) & np.isfinite(lat)
            good &= (lat >= -90.0) & (lat <= 90.0) & (lon >= -180.0) & (lon <= 180.0)
            good &= ts <= received_at + limits.max_future_s
            good &= ts >= received_at - limits.max_age_s
            good &= (acc >= 0.0) & (acc <= limits.max_accuracy_m)
            good &= np.isnan(batt) | ((batt >= 0.0) & (batt <= 100.0))
        message_ok = np.logical_and.reduceat(good, start)
        keep = message_ok[of_fix]
        fixes = FixBatch(
            device_id=np.repeat(np.asarray(self.device, dtype=object), count)[keep],
            ts=ts[keep], lon=lon[keep], lat=lat[keep], accuracy_m=acc[keep],
            battery=batt[keep], received_at=received_at[keep],
            source=np.repeat(np.asarray(self.source, dtype=object), count)[keep],
        )
        newest = np.maximum.reduceat(ts, start)[message_ok]
        bad = [self.message[j] for j in np.flatnonzero(~message_ok)]
        return fixes, newest, bad

    @staticmethod
    def _numbers(values: list[Any], allowed: frozenset[type], good: np.ndarray) -> np.ndarray:
        """``values`` as float64 (None → NaN); entries of any other type are marked not good."""
        if not set(map(type, values)) <= allowed:
            odd = np.fromiter((type(v) not in allowed for v in values), dtype=bool,
                              count=len(values))
            good &= ~odd
            values = [None if o else v for v, o in zip(values, odd, strict=True)]
        return np.asarray(values, dtype=np.float64)
