"""The few MQTT 3.1.1 packets a load generator needs, encoded ahead of time.

A Python MQTT client spends tens of microseconds per message; at 20,000 QoS 1 messages a second
on two shared cores that alone would make the load generator the bottleneck it must never be.
So the load generator writes pre-encoded PUBLISH packets straight to the socket and only parses
what comes back (CONNACK, PUBACK). Devices and the engine use real MQTT clients; this module is
for load only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def connect_packet(
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    keepalive: int = 60,
    clean_session: bool = True,
) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
    return bytes([CONNECT]) + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int = 0, qos: int = 1) -> bytes:
    """A PUBLISH packet; ``packet_id`` is required (1..65535) for QoS 1 and 2."""
    header = _string(topic) + (struct.pack("!H", packet_id) if qos else b"")
    body_len = len(header) + len(payload)
    return bytes([PUBLISH | (qos << 1)]) + _remaining_length(body_len) + header + payload


DISCONNECT_PACKET = bytes([DISCONNECT, 0])
PINGREQ_PACKET = bytes([PINGREQ, 0])


class PacketReader:
    """Splits a byte stream from the broker into (packet type, body) pairs."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        while pos + 2 <= n:
            length = 0
            mult = 1
            i = pos + 1
            while True:
                if i >= n:
                    del buf[:pos]
                    return
                byte = buf[i]
                length += (byte & 0x7F) * mult
                mult *= 128
                i += 1
                if not byte & 0x80:
                    break
            if i + length > n:
                break
            yield buf[pos] & 0xF0, bytes(buf[i:i + length])
            pos = i + length
        del buf[:pos]
