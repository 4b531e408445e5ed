"""What simulated devices put on the wire, byte for byte.

Fixes (the formats Cordon decodes, see :mod:`devices.formats`):

- **native** on ``cordon/devices/<id>/fixes`` — one fix, or an array of them (a buffered upload)::

    {"ts":1763740800.123,"lon":-97.7412345,"lat":30.2712345,"acc":8.5,"batt":64}

- **OwnTracks** on ``owntracks/<user>/<id>`` — the app's ``location`` message as it publishes it
  (``acc``, ``alt``, ``vac``, ``vel`` whole numbers; ``vel`` in km/h; ``bs`` 1 unplugged,
  2 charging, 3 full; ``conn`` ``w`` Wi-Fi, ``m`` mobile, ``o`` offline — a fix queued while
  offline is sent later and says so)::

    {"_type":"location","acc":12,"alt":180,"batt":80,"bs":1,"conn":"m","created_at":1763740800,
     "lat":30.2712345,"lon":-97.7412345,"m":2,"tid":"01","tst":1763740800,"vac":18,"vel":54}

Device events (Cordon native, bracelets only) on ``cordon/devices/<id>/events``, one JSON object
per message; ``ts`` is Unix seconds, ``batt`` the level at that instant::

    {"ts":1763740800.5,"event":"strap_tamper","batt":71}
    {"ts":1763741000.0,"event":"lost_link","batt":70,"peer":"ph-0001"}

``event`` is one of :data:`EVENTS`: ``strap_tamper`` / ``strap_restored`` (the strap is cut /
refitted), ``case_open`` / ``case_closed``, ``charger_connected`` / ``charger_disconnected``,
``low_battery`` (falling through 15 %), ``power_off`` (the battery is flat; last message before
silence) / ``power_on``, ``lost_link`` / ``link_restored`` (the Bluetooth link to the paired
phone, field ``peer``, is lost beyond ~30 m / comes back).

Cordon reads them as :mod:`devices.events` describes.

OsmAnd / Traccar Client (HTTP) renders a fix as a query string, see :func:`osmand_query`; the
device's password (the one it has on MQTT) rides along as ``key``.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlencode

import orjson

from devices.credentials import device_password
from devices.topics import TopicKind, events_topic, parse_topic

EVENTS = ("strap_tamper", "strap_restored", "case_open", "case_closed", "charger_connected",
          "charger_disconnected", "low_battery", "power_off", "power_on", "lost_link",
          "link_restored")
EVENTS_SUFFIX = "events"
NATIVE_FIX = b'{"ts":%r,"lon":%r,"lat":%r,"acc":%r,"batt":%d}'
OWNTRACKS_FIX = (b'{"_type":"location","acc":%d,"alt":%d,"batt":%d,"bs":%d,"conn":"%s",'
                 b'"created_at":%d,"lat":%r,"lon":%r,"m":2,"tid":"%s","tst":%d,"vac":%d,'
                 b'"vel":%d}')


class SimMessage(NamedTuple):
    """One MQTT publish: when the device sends it (simulated Unix seconds), who, where, what."""

    deliver_at: float
    device_id: str
    topic: str
    payload: bytes


def event_topic(device_id: str) -> str:
    return events_topic(device_id)


def is_event_topic(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) == 4 and parts[:2] == ["cordon", "devices"] and parts[3] == EVENTS_SUFFIX


def native_fixes(ts: list[float], lon: list[float], lat: list[float], acc: list[float],
                 batt: list[int]) -> list[bytes]:
    """One JSON object per fix (values already rounded as they should appear)."""
    return [NATIVE_FIX % row for row in zip(ts, lon, lat, acc, batt, strict=True)]


def native_batch(fixes: list[bytes]) -> bytes:
    return b"[" + b",".join(fixes) + b"]"


def owntracks_locations(tid: bytes, tst: list[int], lon: list[float], lat: list[float],
                        acc: list[int], alt: list[int], batt: list[int], bs: list[int],
                        conn: list[bytes], vac: list[int], vel: list[int]) -> list[bytes]:
    return [
        OWNTRACKS_FIX % (a, al, b, s, c, t, y, x, tid, t, va, ve)
        for t, x, y, a, al, b, s, c, va, ve in zip(
            tst, lon, lat, acc, alt, batt, bs, conn, vac, vel, strict=True)
    ]


def event_payload(ts: float, event: str, batt: int, **extra: Any) -> bytes:
    return orjson.dumps({"ts": round(ts, 3), "event": event, "batt": batt, **extra})


def osmand_query(device_id: str, ts: float, lon: float, lat: float, acc: float | None = None,
                 batt: float | None = None, key: str | None = None) -> str:
    """A fix as the OsmAnd protocol (Traccar Client) sends it over HTTP, as a query string:
    ``id=<device>&timestamp=<unix>&lat=..&lon=..&accuracy=..&batt=..``, then ``&key=<device
    password>`` when given (Traccar Client keeps the query of its server URL, and Cordon
    refuses a report without the password).

    >>> osmand_query("br-0001", 1763740800.0, -97.7412345, 30.2712345, 8.5, 64, key="pw")
    'id=br-0001&timestamp=1763740800&lat=30.2712345&lon=-97.7412345&accuracy=8.5&batt=64&key=pw'
    """
    params: list[tuple[str, str]] = [
        ("id", device_id), ("timestamp", _number(ts)), ("lat", repr(lat)), ("lon", repr(lon))]
    if acc is not None:
        params.append(("accuracy", _number(acc)))
    if batt is not None:
        params.append(("batt", _number(batt)))
    if key is not None:
        params.append(("key", key))
    return urlencode(params)


def osmand_queries(message: SimMessage, secret: bytes | None = None) -> list[str]:
    """The OsmAnd rendering of every fix a simulated fix message carries (none for events),
    with the device's password derived from ``secret`` when given."""
    kind, device_id = parse_topic(message.topic)
    if kind not in (TopicKind.OWNTRACKS, TopicKind.NATIVE) or device_id is None:
        return []
    doc = orjson.loads(message.payload)
    items = doc if isinstance(doc, list) else [doc]
    key = "tst" if kind is TopicKind.OWNTRACKS else "ts"
    password = device_password(secret, device_id) if secret is not None else None
    return [osmand_query(device_id, it[key], it["lon"], it["lat"], it.get("acc"), it.get("batt"),
                         password) for it in items]


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
