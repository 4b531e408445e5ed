"""The few MQTT 3.1.1 packets a load generator sends, encoded ahead of time.

A Python MQTT client spends tens of microseconds per message; at 20,000 QoS 1 messages a second
on two shared cores that alone would make the load generator the bottleneck it must never be.
So the load generator writes pre-encoded PUBLISH packets straight to the socket and only parses
what comes back (CONNACK, PUBACK) with the intake's reader. It speaks MQTT 3.1.1, as most
bracelets and phone apps do; the engine's intake speaks MQTT 5 (:mod:`devices.mqtt_wire`).
"""

from __future__ import annotations

import struct

from devices.mqtt_wire import (
    CONNACK,
    CONNECT,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    PUBACK,
    PUBLISH,
    PacketReader,
    connect_payload,
    remaining_length,
    string,
)

__all__ = ["CONNACK", "DISCONNECT_PACKET", "PINGREQ_PACKET", "PUBACK", "PacketReader",
           "connect_packet", "publish_packet"]


def connect_packet(
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    keepalive: int = 60,
    clean_session: bool = True,
) -> bytes:
    flags, payload = connect_payload(client_id, username, password, clean_session)
    body = string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
    return bytes([CONNECT]) + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int = 0, qos: int = 1) -> bytes:
    """A PUBLISH packet; ``packet_id`` is required (1..65535) for QoS 1 and 2."""
    header = string(topic) + (struct.pack("!H", packet_id) if qos else b"")
    body_len = len(header) + len(payload)
    return bytes([PUBLISH | (qos << 1)]) + remaining_length(body_len) + header + payload
