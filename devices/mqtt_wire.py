"""The MQTT 5 packets a subscriber needs, encoded and decoded without a client library.

The engine's intake (:mod:`ingest.mqtt`) reads tens of thousands of QoS 1 PUBLISH packets a
second on a core it shares with the broker and the database. A general client (paho-mqtt, under
aiomqtt) spends tens of microseconds on each one — a property object per packet, a callback, one
socket write per acknowledgement — and on this hardware that alone caps a process at a few
thousand messages a second. The subscriber's side of MQTT 5 (OASIS standard, 2019) is small:
CONNECT, SUBSCRIBE, PINGREQ and PUBACK out; CONNACK, SUBACK, PUBLISH, PINGRESP and DISCONNECT in.
This module encodes the first and splits a byte stream into the second, a whole buffer at a time;
acknowledgements for a batch are one write. It lives with the devices' formats because the load
generator, which speaks for devices, uses the same packets.

Example:

    >>> packet = publish_packet("cordon/devices/d1/fixes", b"{}", packet_id=7)
    >>> reader = PacketReader()
    >>> publishes, others = reader.feed(packet)
    >>> publishes
    [(7, b'cordon/devices/d1/fixes', b'{}')]
    >>> puback_packets([7, 8]).hex()
    '4002000740020008'
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x80
SUBACK = 0x90
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0

# Property identifiers (MQTT 5, section 2.2.2.2).
SESSION_EXPIRY_INTERVAL = 0x11
RECEIVE_MAXIMUM = 0x21

PINGREQ_PACKET = bytes([PINGREQ, 0])
DISCONNECT_PACKET = bytes([DISCONNECT, 0])  # normal disconnection, no properties


class ProtocolError(Exception):
    """The broker sent something this subscriber cannot read: the connection must be dropped."""


def remaining_length(n: int) -> bytes:
    """The variable byte integer of MQTT (section 1.5.5)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s: str | bytes) -> bytes:
    """A UTF-8 string (or binary data) with its two-byte length."""
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + remaining_length(len(body)) + body


def connect_payload(
    client_id: str, username: str | None, password: str | None, clean: bool
) -> tuple[int, bytes]:
    """The CONNECT flags and payload (client id and credentials): the same in MQTT 3.1.1
    and 5."""
    flags = 0x02 if clean else 0
    payload = string(client_id)
    if username is not None:
        flags |= 0x80
        payload += string(username)
        if password is not None:
            flags |= 0x40
            payload += string(password)
    return flags, payload


def connect_packet(
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    keepalive_s: int = 30,
    clean_start: bool = False,
    session_expiry_s: int = 0,
    receive_maximum: int = 65_535,
) -> bytes:
    """CONNECT with the two properties a durable subscriber needs: how long the broker keeps
    the session while we are away, and how many unacknowledged messages it may send us."""
    if not 1 <= receive_maximum <= 65_535:
        raise ValueError(f"receive_maximum must be 1..65535, not {receive_maximum}")
    flags, payload = connect_payload(client_id, username, password, clean_start)
    props = (bytes([SESSION_EXPIRY_INTERVAL]) + struct.pack("!I", session_expiry_s)
             + bytes([RECEIVE_MAXIMUM]) + struct.pack("!H", receive_maximum))
    body = (string("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
            + remaining_length(len(props)) + props + payload)
    return _packet(CONNECT, body)


def subscribe_packet(packet_id: int, topics: Iterable[str], qos: int = 1) -> bytes:
    body = struct.pack("!H", packet_id) + b"\x00"  # no properties
    for topic in topics:
        body += string(topic) + bytes([qos])
    return _packet(SUBSCRIBE | 0x02, body)


def publish_packet(topic: str, payload: bytes, packet_id: int = 0, qos: int = 1) -> bytes:
    """A PUBLISH without properties (for tests and tools; the intake only receives them)."""
    header = string(topic) + (struct.pack("!H", packet_id) if qos else b"") + b"\x00"
    return _packet(PUBLISH | (qos << 1), header + payload)


def puback_packets(packet_ids: Sequence[int] | np.ndarray) -> bytes:
    """PUBACKs (success, no reason code: section 3.4.2.1) for many packet ids, as one buffer."""
    ids = np.asarray(packet_ids, dtype=np.uint16)
    out = np.empty((len(ids), 4), dtype=np.uint8)
    out[:, 0] = PUBACK
    out[:, 1] = 2
    out[:, 2] = ids >> 8
    out[:, 3] = ids & 0xFF
    return out.tobytes()


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool
    reason_code: int  # 0 success; >= 0x80 refused (section 3.2.2.2)

    @property
    def refused(self) -> bool:
        return self.reason_code >= 0x80


def parse_connack(body: bytes) -> Connack:
    if len(body) < 2:
        raise ProtocolError("CONNACK too short")
    return Connack(bool(body[0] & 0x01), body[1])


def parse_suback(body: bytes) -> list[int]:
    """The reason code of each topic filter (0–2: granted QoS; >= 0x80: refused)."""
    if len(body) < 3:
        raise ProtocolError("SUBACK too short")
    props_len, i = _varint(body, 2)
    return list(body[i + props_len:])


def disconnect_reason(body: bytes) -> int:
    return body[0] if body else 0


def _varint(buf: bytes | bytearray, i: int) -> tuple[int, int]:
    """A variable byte integer at ``i``: (value, index after it)."""
    value = 0
    shift = 0
    while True:
        if i >= len(buf) or shift > 21:
            raise ProtocolError("malformed variable byte integer")
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7


class PacketReader:
    """Splits the broker's byte stream into packets, as many as a buffer holds at once.

    PUBLISH packets come back as (packet id, topic, payload) — packet id 0 for QoS 0 — because
    they are nearly all the traffic; anything else as (packet type, body).
    """

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> tuple[list[tuple[int, bytes, bytes]], list[tuple[int, bytes]]]:
        buf = self._rest + data if self._rest else data
        n = len(buf)
        pos = 0
        publishes: list[tuple[int, bytes, bytes]] = []
        others: list[tuple[int, bytes]] = []
        append = publishes.append
        while pos + 2 <= n:
            first = buf[pos]
            length = buf[pos + 1]
            start = pos + 2
            if length & 0x80:  # a longer length: rarer, done the general way
                try:
                    length, start = _varint(buf, pos + 1)
                except ProtocolError:
                    if n - pos > 5:
                        raise
                    break  # the length itself is not complete yet
            end = start + length
            if end > n:
                break
            if first & 0xF0 == PUBLISH:
                topic_end = start + 2 + ((buf[start] << 8) | buf[start + 1])
                if first & 0x06:
                    packet_id = (buf[topic_end] << 8) | buf[topic_end + 1]
                    props = topic_end + 2
                else:
                    packet_id = 0
                    props = topic_end
                if props >= end:
                    raise ProtocolError("PUBLISH without its property length")
                props_len = buf[props]
                if props_len & 0x80:
                    props_len, payload = _varint(buf, props)
                else:
                    payload = props + 1
                payload += props_len
                if payload > end:
                    raise ProtocolError("PUBLISH properties overrun the packet")
                append((packet_id, buf[start + 2:topic_end], buf[payload:end]))
            else:
                others.append((first & 0xF0, buf[start:end]))
            pos = end
        self._rest = buf[pos:]
        return publishes, others
