"""Device events: what a bracelet says about itself, besides where it is.

A device publishes its events on ``cordon/devices/<id>/events``, one JSON object a message::

    {"ts": 1763740800.5, "event": "strap_tamper", "batt": 71}
    {"ts": 1763741000, "event": "lost_link", "batt": 70, "peer": "ph-0001"}
    {"ts": "2026-11-21T12:00:00Z", "event": "heartbeat", "batt": 64}

``ts`` is RFC 3339 or Unix seconds, ``batt`` (%) optional, ``peer`` the paired device of a link
event. The kinds:

==========================  =======================================================
``strap_tamper``            the strap is cut or opened; ``strap_restored`` when refitted
``case_open``               the case is opened; ``case_closed``
``charger_connected``       on the charger; ``charger_disconnected``
``low_battery``             the level fell through the device's own threshold
``power_off``               the battery is flat: the last message before silence; ``power_on``
``lost_link``               the Bluetooth link to the paired phone is lost; ``link_restored``
``heartbeat``               alive, but no position (no GPS fix: indoors, shielded)
==========================  =======================================================

Events carry no position. An unknown kind is refused with its reason, never dropped silently.

>>> from devices.formats import Limits
>>> e = decode_event("br-1", b'{"ts":100,"event":"lost_link","peer":"ph-1"}', 101.0, Limits())
>>> e.event, e.peer, e.battery != e.battery
('lost_link', 'ph-1', True)
>>> decode_event("br-1", b'{"ts":100,"event":"exploded"}', 101.0, Limits())
Traceback (most recent call last):
...
devices.events.InvalidEvent: unknown event 'exploded' (one of strap_tamper, ...)
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from devices.formats import Limits, event_fields

EVENT_KINDS = (
    "strap_tamper", "strap_restored", "case_open", "case_closed", "charger_connected",
    "charger_disconnected", "low_battery", "power_off", "power_on", "lost_link",
    "link_restored", "heartbeat",
)


class InvalidEvent(ValueError):
    """An event message that cannot be used; the message says why."""


class DeviceEvent(NamedTuple):
    device_id: str
    ts: float
    event: str
    battery: float  # NaN: not reported
    peer: str | None
    received_at: float


def decode_event(device_id: str, payload: bytes, received_at: float,
                 limits: Limits) -> DeviceEvent:
    """One event message, validated; raises :class:`InvalidEvent`."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidEvent("event is not a JSON object")
    kind = doc.get("event")
    if kind not in EVENT_KINDS:
        raise InvalidEvent(f"unknown event {kind!r} (one of {EVENT_KINDS[0]}, ...)")
    try:
        ts, battery = event_fields(doc, received_at, limits)
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from None
    peer = doc.get("peer")
    if peer is not None and not isinstance(peer, str):
        raise InvalidEvent(f"peer is not a device id: {peer!r}")
    return DeviceEvent(device_id, ts, kind, battery, peer, received_at)

