"""MQTT topics devices publish on, and how a device's identity is read from them.

The identity of a device comes from its topic, which the broker's ACL ties to its credentials —
never from the payload.

- ``owntracks/<user>/<device>``: the OwnTracks phone app. ``<device>`` is the Cordon device id;
  ``<user>`` is the MQTT user the app logs in as.
- ``cordon/devices/<device>/fixes``: Cordon's native format (one fix or a batch).
- ``cordon/devices/<device>/events``: a device's own events (tamper, power, charger, the link
  to its paired phone, heartbeats without a position; see :mod:`devices.events`).

Partitions. One engine process keeps the episode state of the supervisees it evaluates, so all
the fixes of one supervisee must reach the same process. MQTT shared subscriptions on Mosquitto
hand messages round-robin, with no affinity, so a deployment with several engine processes
splits the topic space instead: with ``P`` partitions, every device of a supervisee publishes
under the prefix ``p<k>/``, ``k = partition_of(supervisee_id, P)``, and partition ``k`` is read
by exactly one MQTT session. With one partition (the default) there is no prefix.

>>> parse_topic("owntracks/alice/ph-001")
(<TopicKind.OWNTRACKS: 'owntracks'>, 'ph-001')
>>> parse_topic("p3/cordon/devices/br-7/fixes")
(<TopicKind.NATIVE: 'native'>, 'br-7')
>>> topic_partition("p3/cordon/devices/br-7/fixes"), topic_partition("owntracks/alice/ph-001")
(3, None)
>>> parse_topic("cordon/devices/br-7/events")
(<TopicKind.EVENTS: 'events'>, 'br-7')
>>> parse_topic("weather/today")
(<TopicKind.UNKNOWN: 'unknown'>, None)
>>> native_topic("br-7", partition_of("P-001", 4))
'p0/cordon/devices/br-7/fixes'
"""

from __future__ import annotations

import functools
import zlib
from enum import StrEnum

OWNTRACKS_SUBSCRIPTION = "owntracks/+/+"
NATIVE_SUBSCRIPTION = "cordon/devices/+/fixes"
EVENTS_SUBSCRIPTION = "cordon/devices/+/events"
SUBSCRIPTIONS = (OWNTRACKS_SUBSCRIPTION, NATIVE_SUBSCRIPTION, EVENTS_SUBSCRIPTION)


class TopicKind(StrEnum):
    OWNTRACKS = "owntracks"
    NATIVE = "native"
    EVENTS = "events"
    UNKNOWN = "unknown"


def partition_of(supervisee_id: str, partitions: int) -> int | None:
    """The partition whose engine process evaluates this supervisee (None: not partitioned)."""
    if partitions <= 1:
        return None
    return zlib.crc32(supervisee_id.encode()) % partitions


def _prefix(partition: int | None) -> str:
    return "" if partition is None else f"p{partition}/"


def subscriptions(partition: int | None = None) -> tuple[str, ...]:
    """The topic filters of one partition (or of the whole space)."""
    return tuple(_prefix(partition) + s for s in SUBSCRIPTIONS)


def native_topic(device_id: str, partition: int | None = None) -> str:
    return f"{_prefix(partition)}cordon/devices/{device_id}/fixes"


def events_topic(device_id: str, partition: int | None = None) -> str:
    return f"{_prefix(partition)}cordon/devices/{device_id}/events"


def owntracks_topic(user: str, device_id: str, partition: int | None = None) -> str:
    return f"{_prefix(partition)}owntracks/{user}/{device_id}"


def topic_partition(topic: str) -> int | None:
    """The partition a topic's prefix names, or None when it has none."""
    head, _, _ = topic.partition("/")
    if len(head) > 1 and head[0] == "p" and head[1:].isdigit():
        return int(head[1:])
    return None


@functools.lru_cache(maxsize=1 << 17)  # a device's topic repeats with every message it sends
def parse_topic(topic: str) -> tuple[TopicKind, str | None]:
    """Return the wire format a topic carries and the device id it names."""
    parts = topic.split("/")
    if parts and len(parts[0]) > 1 and parts[0][0] == "p" and parts[0][1:].isdigit():
        parts = parts[1:]
    if len(parts) == 3 and parts[0] == "owntracks" and parts[1] and parts[2]:
        return TopicKind.OWNTRACKS, parts[2]
    if len(parts) == 4 and parts[:2] == ["cordon", "devices"] and parts[2]:
        if parts[3] == "fixes":
            return TopicKind.NATIVE, parts[2]
        if parts[3] == "events":
            return TopicKind.EVENTS, parts[2]
    return TopicKind.UNKNOWN, None
