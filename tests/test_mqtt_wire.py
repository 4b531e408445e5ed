"""The intake's MQTT 5 codec: packets split at any byte, long lengths, properties, QoS 0."""

from __future__ import annotations

import random
import struct

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices import mqtt_wire as wire


def _paho_publish(topic: str, payload: bytes, packet_id: int, qos: int) -> bytes:
    """A PUBLISH with properties, packed by a real client library (length prefix included)."""
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = 3600
    props.UserProperty = [("device-model", "ankle-7")]
    props.ContentType = "application/json"
    encoded = props.pack()
    header = wire.string(topic) + (struct.pack("!H", packet_id) if qos else b"") + encoded
    body = header + payload
    return bytes([wire.PUBLISH | (qos << 1)]) + wire.remaining_length(len(body)) + body


def test_stream_split_at_every_byte_gives_the_same_packets():
    rng = random.Random(5)
    expected = []
    stream = b""
    for i in range(300):
        qos = rng.choice([0, 1, 1, 1])
        topic = f"p{i % 4}/cordon/devices/dev-{i}/fixes"
        # Some payloads are long enough to need a 2- and 3-byte remaining length.
        payload = bytes(rng.randrange(256) for _ in range(rng.choice([10, 90, 200, 20_000])))
        packet_id = (i % 65_535) + 1 if qos else 0
        if i % 3 == 0:
            stream += _paho_publish(topic, payload, packet_id, qos)
        else:
            stream += wire.publish_packet(topic, payload, packet_id, qos)
        expected.append((packet_id, topic.encode(), payload))
        if i % 50 == 0:
            stream += bytes([wire.PINGRESP, 0])
    stream += bytes([wire.CONNACK, 3, 1, 0, 0])

    for trial in range(5):
        reader = wire.PacketReader()
        got, others = [], []
        pos = 0
        while pos < len(stream):
            step = rng.choice([1, 2, 3, 7, 100, 4096, 65_536]) if trial else 1
            publishes, rest = reader.feed(stream[pos:pos + step])
            got += publishes
            others += rest
            pos += step
        assert got == expected
        assert [kind for kind, _ in others] == [wire.PINGRESP] * 6 + [wire.CONNACK]
        connack = wire.parse_connack(others[-1][1])
        assert connack.session_present and not connack.refused


def test_pubacks_are_one_buffer_of_four_byte_packets():
    ids = [1, 255, 256, 65_535]
    assert wire.puback_packets(ids) == b"".join(
        bytes([wire.PUBACK, 2]) + struct.pack("!H", i) for i in ids)


def test_connect_carries_session_expiry_and_receive_maximum():
    packet = wire.connect_packet("engine-p3", "u", "pw", keepalive_s=30, session_expiry_s=604_800,
                                 receive_maximum=20_000)
    reader = wire.PacketReader()
    _, others = reader.feed(packet)
    ((kind, body),) = others
    assert kind == wire.CONNECT
    assert body[:7] == wire.string("MQTT") + bytes([5])
    flags = body[7]
    assert flags & 0x80 and flags & 0x40 and not flags & 0x02  # user, password, no clean start
    props = body[11:11 + body[10]]
    assert props == bytes([0x11]) + struct.pack("!I", 604_800) + bytes([0x21]) + struct.pack(
        "!H", 20_000)
    with pytest.raises(ValueError):
        wire.connect_packet("x", receive_maximum=70_000)


def test_suback_reason_codes():
    assert wire.parse_suback(struct.pack("!H", 1) + b"\x00" + bytes([1, 0x87])) == [1, 0x87]


def test_malformed_publish_is_a_protocol_error():
    # A PUBLISH whose property length runs past its end.
    body = wire.string("t") + struct.pack("!H", 1) + bytes([50]) + b"x"
    packet = bytes([wire.PUBLISH | 2]) + wire.remaining_length(len(body)) + body
    with pytest.raises(wire.ProtocolError):
        wire.PacketReader().feed(packet)
