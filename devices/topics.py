"""MQTT topics devices publish on, and how a device's identity is read from them.

The identity of a device comes from its topic, which the broker's ACL ties to its credentials —
never from the payload.

- ``owntracks/<user>/<device>``: the OwnTracks phone app. ``<device>`` is the Cordon device id;
  ``<user>`` is the MQTT user the app logs in as.
- ``cordon/devices/<device>/fixes``: Cordon's native format (one fix or a batch).

>>> parse_topic("owntracks/alice/ph-001")
(<TopicKind.OWNTRACKS: 'owntracks'>, 'ph-001')
>>> parse_topic("cordon/devices/br-7/fixes")
(<TopicKind.NATIVE: 'native'>, 'br-7')
>>> parse_topic("weather/today")
(<TopicKind.UNKNOWN: 'unknown'>, None)
"""

from __future__ import annotations

from enum import StrEnum

OWNTRACKS_SUBSCRIPTION = "owntracks/+/+"
NATIVE_SUBSCRIPTION = "cordon/devices/+/fixes"
SUBSCRIPTIONS = (OWNTRACKS_SUBSCRIPTION, NATIVE_SUBSCRIPTION)


class TopicKind(StrEnum):
    OWNTRACKS = "owntracks"
    NATIVE = "native"
    UNKNOWN = "unknown"


def native_topic(device_id: str) -> str:
    return f"cordon/devices/{device_id}/fixes"


def owntracks_topic(user: str, device_id: str) -> str:
    return f"owntracks/{user}/{device_id}"


def parse_topic(topic: str) -> tuple[TopicKind, str | None]:
    """Return the wire format a topic carries and the device id it names."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == "owntracks" and parts[1] and parts[2]:
        return TopicKind.OWNTRACKS, parts[2]
    if len(parts) == 4 and parts[:2] == ["cordon", "devices"] and parts[2] and parts[3] == "fixes":
        return TopicKind.NATIVE, parts[2]
    return TopicKind.UNKNOWN, None
