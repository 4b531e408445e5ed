"""Device security on a real Mosquitto: per-device credentials and an ACL generated from the
registry, so that a device cannot publish as another device; and the engine, behind it,
refusing messages on the topics of devices it does not know.

The clients speak the project's own MQTT codec on raw sockets: MQTT 5 (:mod:`devices.mqtt_wire`,
whose PUBACK carries a reason code) and MQTT 3.1.1 (:mod:`simulators.mqtt_wire`, as most
bracelets and phone apps speak, where a refused PUBLISH is acknowledged and dropped)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import subprocess
import time
from pathlib import Path

import orjson
import psycopg
import pytest

from cordon.services import PrivateMosquitto, free_port
from devices import mqtt_wire as v5
from devices.credentials import (
    acl_file,
    check_password,
    device_password,
    hash_password,
    password_file,
    write_broker_auth,
)
from devices.models import Device, Jurisdiction, Supervisee
from devices.topics import SUBSCRIPTIONS, events_topic, native_topic, owntracks_topic
from simulators import mqtt_wire as v311
from store.broker_auth import sync_broker_auth
from store.database import migrate
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee

SECRET = b"test agency secret, 32 bytes...."
ENGINE = ("engine", "engine-pw-1")
GATEWAY = ("gateway", device_password(SECRET, "gateway"))  # as the engine derives it
NOT_AUTHORISED_5 = 0x87  # MQTT 5 reason code (CONNACK, PUBACK)
NOT_AUTHORISED_311 = 5  # MQTT 3.1.1 CONNACK return code
_ids = itertools.count(1)


# --- a raw MQTT client ------------------------------------------------------------------------

class Client:
    """One MQTT connection: a device or the engine. ``connack`` is the broker's answer (0: in)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: int):
        self.reader, self.writer, self.version = reader, writer, version
        self.packets = v5.PacketReader()
        self.received: list[tuple[str, bytes]] = []  # PUBLISHes delivered to us
        self.others: list[tuple[int, bytes]] = []
        self.closed = False
        self.connack = -1
        self._packet_id = 0

    @classmethod
    async def connect(cls, port: int, user: str | None, password: str | None,
                      version: int = 5) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client_id = f"t-{os.getpid()}-{next(_ids)}"
        writer.write(v5.connect_packet(client_id, user, password, clean_start=True) if version == 5
                     else v311.connect_packet(client_id, user, password))
        client = cls(reader, writer, version)
        body = await client.expect(v5.CONNACK)
        client.connack = body[1]
        return client

    async def _read(self, timeout: float) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(65_536), timeout)
        except TimeoutError:
            return False
        if not data:
            self.closed = True
            return False
        publishes, others = self.packets.feed(data)
        self.others += others
        acks = [packet_id for packet_id, _, _ in publishes if packet_id]
        if acks:
            self.writer.write(v5.puback_packets(acks))
        self.received += [(topic.decode(), payload) for _, topic, payload in publishes]
        return True

    async def expect(self, kind: int, timeout: float = 5.0) -> bytes:
        """The body of the next packet of this kind."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (k, body) in enumerate(self.others):
                if k == kind:
                    del self.others[i]
                    return body
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"no packet 0x{kind:02x} from the broker")
            await self._read(deadline - time.monotonic())

    async def subscribe(self, topics: tuple[str, ...] | list[str]) -> list[int]:
        self.writer.write(v5.subscribe_packet(1, topics))
        return v5.parse_suback(await self.expect(v5.SUBACK))

    async def publish(self, topic: str, payload: bytes) -> int:
        """Publish with QoS 1; the PUBACK's reason code (MQTT 3.1.1 has none: 0)."""
        self._packet_id += 1
        encode = v5.publish_packet if self.version == 5 else v311.publish_packet
        self.writer.write(encode(topic, payload, self._packet_id))
        body = await self.expect(v5.PUBACK)
        assert int.from_bytes(body[:2], "big") == self._packet_id
        return body[2] if len(body) > 2 else 0

    async def wait_for(self, topic: str, payload: bytes, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while (topic, payload) not in self.received:
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"{topic} {payload!r} never delivered: {self.received}")
            await self._read(deadline - time.monotonic())

    async def linger(self, seconds: float) -> None:
        """Keep reading for a while (anything late lands in ``received``)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            await self._read(deadline - time.monotonic())

    async def wait_closed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            await self._read(deadline - time.monotonic())
        return self.closed

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.write(v5.DISCONNECT_PACKET)
            self.writer.close()


async def device(port: int, device_id: str, version: int = 5) -> Client:
    client = await Client.connect(port, device_id, device_password(SECRET, device_id), version)
    assert client.connack == 0, f"{device_id} refused: {client.connack:#x}"
    return client


async def engine(port: int) -> Client:
    client = await Client.connect(port, *ENGINE)
    assert client.connack == 0
    assert await client.subscribe(SUBSCRIPTIONS) == [1, 1, 1]
    return client


def fix(ts: float | None = None) -> bytes:
    return orjson.dumps({"ts": ts or time.time(), "lon": -97.74, "lat": 30.27, "acc": 8})


def owntracks(ts: float | None = None) -> bytes:
    return orjson.dumps({"_type": "location", "lat": 30.27, "lon": -97.74,
                         "tst": int(ts or time.time()), "acc": 10})


def event(ts: float | None = None) -> bytes:
    return orjson.dumps({"ts": ts or time.time(), "event": "heartbeat", "batt": 60})


def write_files(directory: Path, device_ids: list[str], per_device: bool = False):
    return write_broker_auth(directory, device_ids, SECRET, *ENGINE, dict([GATEWAY]),
                             per_device_acl=per_device)


@pytest.fixture(params=[False, True], ids=["acl-patterns", "acl-per-device"])
def per_device(request) -> bool:
    return request.param


@pytest.fixture
def secure_broker(tmp_path: Path, per_device: bool):
    files = write_files(tmp_path / "auth", ["br-a", "br-b", "ph-a"], per_device)
    with PrivateMosquitto(free_port(), tmp_path / "mqtt", password_file=files.passwd,
                          acl_file=files.acl) as broker:
        yield broker


# --- the files --------------------------------------------------------------------------------

def test_password_hashes_are_mosquitto_passwds(tmp_path: Path):
    """Our hash checks a line ``mosquitto_passwd`` wrote, and ours has its exact shape."""
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "br-a", "s3cret"], check=True)
    user, theirs = passwd.read_text().strip().split(":")
    assert user == "br-a" and check_password("s3cret", theirs)
    assert not check_password("s3creT", theirs)
    ours = hash_password("s3cret")
    fields = ours.split("$")
    assert fields[:3] == theirs.split("$")[:3] == ["", "7", "101"]
    assert [len(f) for f in fields] == [len(f) for f in theirs.split("$")]
    assert len(base64.b64decode(fields[3])) == 12 and len(base64.b64decode(fields[4])) == 64
    assert ours != hash_password("s3cret")  # a fresh salt each time


def test_device_passwords_are_derived_and_distinct():
    assert device_password(SECRET, "br-a") == device_password(SECRET, "br-a")
    assert device_password(SECRET, "br-a") != device_password(SECRET, "br-b")
    assert device_password(SECRET, "br-a") != device_password(SECRET[::-1], "br-a")
    assert len(device_password(SECRET, "br-a")) == 43
    with pytest.raises(ValueError, match="at least 16 bytes"):
        device_password(b"short", "br-a")


def test_acl_refuses_names_that_would_widen_a_device_topic():
    for bad in ("+", "#", "a/b", "a:b", "a b", "", "a\nuser engine"):
        with pytest.raises(ValueError, match="cannot be an MQTT user"):
            acl_file([bad], "engine")
        with pytest.raises(ValueError, match="cannot be an MQTT user"):
            password_file([(bad, "pw")])
    with pytest.raises(ValueError, match="used twice"):
        acl_file(["engine"], "engine")
    with pytest.raises(ValueError, match="used twice"):
        acl_file(["br-a"], "engine", ["br-a"])


def test_files_are_rewritten_atomically_and_only_when_they_change(tmp_path: Path):
    directory = tmp_path / "auth"
    first = write_files(directory, ["br-a", "br-b"])
    assert first.changed
    assert (first.passwd.stat().st_mode & 0o777, first.acl.stat().st_mode & 0o777) == (
        0o600, 0o640)
    before = first.passwd.read_text()
    again = write_files(directory, ["br-b", "br-a"])
    assert not again.changed and first.passwd.read_text() == before  # same hashes, same salts
    added = write_files(directory, ["br-a", "br-b", "br-c"])
    assert added.changed
    lines = dict(line.split(":", 1) for line in added.passwd.read_text().splitlines()
                 if not line.startswith("#"))
    old = dict(line.split(":", 1) for line in before.splitlines() if not line.startswith("#"))
    assert {u: lines[u] for u in old} == old  # kept, not hashed again
    assert check_password(device_password(SECRET, "br-c"), lines["br-c"])
    assert added.acl.read_text() == first.acl.read_text()  # devices have their rights by pattern
    assert "user br-c\n" in write_files(directory, ["br-a", "br-b", "br-c"], True).acl.read_text()
    assert sorted(p.name for p in directory.iterdir()) == ["acl", "passwd"]  # no temp files
    # A new engine password: every line is hashed again (the fingerprint changed).
    rotated = write_broker_auth(directory, ["br-a", "br-b", "br-c"], SECRET, "engine", "new",
                                dict([GATEWAY]))
    assert rotated.changed
    lines = dict(line.split(":", 1) for line in rotated.passwd.read_text().splitlines()
                 if not line.startswith("#"))
    assert check_password("new", lines["engine"]) and lines["br-a"] != old["br-a"]


# --- on the broker ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", [5, 4])
async def test_a_device_cannot_publish_as_another_device(secure_broker, version):
    port = secure_broker.port
    eng = await engine(port)
    a = await device(port, "br-a", version)
    try:
        # Its own topics, all three wire formats: delivered to the engine.
        own = [(native_topic("br-a"), fix()), (events_topic("br-a"), event()),
               (owntracks_topic("alice", "br-a"), owntracks())]
        for topic, payload in own:
            assert await a.publish(topic, payload) == 0
        for topic, payload in own:
            await eng.wait_for(topic, payload)

        # Another device's topics (and a topic that is no device's): refused. MQTT 5 says so in
        # the PUBACK; MQTT 3.1.1 cannot, the broker acknowledges and drops.
        forged = [(native_topic("br-b"), fix()), (events_topic("br-b"), event()),
                  (owntracks_topic("alice", "br-b"), owntracks()),
                  (native_topic("br-b", 2), fix()), ("cordon/engine/0/events", b"[]"),
                  ("owntracks/br-a/br-a/extra", owntracks())]
        for topic, payload in forged:
            code = await a.publish(topic, payload)
            assert code == (NOT_AUTHORISED_5 if version == 5 else 0), topic
        control = (native_topic("br-a"), fix(time.time() + 1))
        assert await a.publish(*control) == 0
        await eng.wait_for(*control)  # after every forged message, on the same connection
        await eng.linger(0.3)
        assert [m for m in eng.received if m in forged] == []
        assert len(eng.received) == len(own) + 1
    finally:
        a.close()
        eng.close()


async def test_a_device_reads_nothing_of_the_others(secure_broker):
    port = secure_broker.port
    a, b = await device(port, "br-a"), await device(port, "br-b")
    try:
        await a.subscribe(["#"])  # Mosquitto 2.0 grants it; its ACL filters what it reads
        assert await b.publish(native_topic("br-b"), fix()) == 0
        await a.linger(0.5)
        assert a.received == []
    finally:
        a.close()
        b.close()


async def test_a_gateway_may_publish_for_every_device(secure_broker):
    port = secure_broker.port
    eng = await engine(port)
    gw = await Client.connect(port, *GATEWAY)
    try:
        for topic, payload in [(native_topic("br-b"), fix()), (events_topic("ph-a"), event()),
                               (owntracks_topic("bob", "br-a"), owntracks())]:
            assert await gw.publish(topic, payload) == 0
            await eng.wait_for(topic, payload)
        assert await gw.publish("cordon/engine/0/stats", b"{}") == NOT_AUTHORISED_5
    finally:
        gw.close()
        eng.close()


@pytest.mark.parametrize("version", [5, 4])
async def test_wrong_passwords_and_anonymous_clients_are_refused(secure_broker, version):
    port = secure_broker.port
    refused = NOT_AUTHORISED_5 if version == 5 else NOT_AUTHORISED_311
    attempts = [("br-a", "wrong"), ("br-a", device_password(SECRET, "br-b")),
                ("br-a", None), (None, None), ("br-z", device_password(SECRET, "br-z")),
                ("engine", device_password(SECRET, "engine"))]
    for user, password in attempts:
        client = await Client.connect(port, user, password, version)
        assert client.connack == refused, (user, password)
        assert await client.wait_closed(), (user, password)


async def test_a_device_added_or_removed_takes_effect_at_reload(secure_broker, tmp_path,
                                                                per_device):
    port = secure_broker.port
    c = await Client.connect(port, "br-c", device_password(SECRET, "br-c"))
    assert c.connack == NOT_AUTHORISED_5
    b = await device(port, "br-b")
    eng = await engine(port)
    try:
        # br-c registered, br-b retired.
        assert write_files(tmp_path / "auth", ["br-a", "br-c", "ph-a"], per_device).changed
        secure_broker.reload()
        deadline = time.monotonic() + 5
        while (c := await Client.connect(port, "br-c", device_password(SECRET, "br-c"))
               ).connack != 0:
            assert time.monotonic() < deadline, "br-c still refused after the reload"
            await asyncio.sleep(0.05)
        message = (native_topic("br-c"), fix())
        assert await c.publish(*message) == 0
        await eng.wait_for(*message)
        assert await c.publish(native_topic("br-a"), fix()) == NOT_AUTHORISED_5
        # The retired device is disconnected at the reload, and cannot come back.
        assert await b.wait_closed()
        again = await Client.connect(port, "br-b", device_password(SECRET, "br-b"))
        assert again.connack == NOT_AUTHORISED_5
    finally:
        for client in (b, c, eng):
            client.close()


# --- with the engine --------------------------------------------------------------------------

async def seed(db_url: str) -> None:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("j", "J", "county"), None)
        for sid in ("P-A", "P-B"):
            await upsert_supervisee(conn, Supervisee(sid, sid, "j", ()))
        await upsert_device(conn, Device("br-a", "P-A", "bracelet"))
        await upsert_device(conn, Device("ph-a", "P-A", "phone"))
        await upsert_device(conn, Device("br-b", "P-B", "bracelet"))


async def sync(db_url: str, directory: Path) -> bool:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        return await sync_broker_auth(conn, directory, SECRET, *ENGINE, dict([GATEWAY]))


async def query(db_url: str, sql: str) -> list[tuple]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(sql)
        return await cur.fetchall()


async def test_the_engine_behind_the_acl_stores_only_registered_devices_own_messages(
    db_url, engine_factory, tmp_path
):
    await seed(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        # Registered, but unusable as MQTT users: skipped (and logged), the others still synced.
        await upsert_device(conn, Device("bad id", "P-B", "phone"))
        await upsert_device(conn, Device(ENGINE[0], "P-B", "phone"))
        await conn.commit()
    auth = tmp_path / "auth"
    assert await sync(db_url, auth)
    assert not await sync(db_url, auth)  # nothing changed: no rewrite, no reload needed
    users = [line.split(":")[0] for line in (auth / "passwd").read_text().splitlines()
             if not line.startswith("#")]
    assert users == ["engine", "gateway", "br-a", "br-b", "ph-a"]
    with PrivateMosquitto(free_port(), tmp_path / "secure-mqtt", password_file=auth / "passwd",
                          acl_file=auth / "acl") as broker:
        # The engine logs in as its own user; its subscriptions are granted.
        # The engine keeps the files in step with the registry and reloads the broker itself.
        eng = engine_factory(db_url, f"mqtt://{ENGINE[0]}:{ENGINE[1]}@127.0.0.1:{broker.port}",
                             broker_auth_dir=str(auth), device_secret=SECRET.decode(),
                             broker_relay_users=GATEWAY[0],
                             broker_reload_command=f"kill -HUP {broker.proc.pid}")
        t0 = time.time() - 60
        a = await device(broker.port, "br-a", version=4)  # bracelets speak MQTT 3.1.1
        phone = await device(broker.port, "ph-a", version=4)
        gw = await Client.connect(broker.port, *GATEWAY)
        try:
            # br-a forges a fix of br-b: the broker drops it, it never reaches the engine.
            assert await a.publish(native_topic("br-b"), fix(t0)) == 0
            assert await a.publish(native_topic("br-a"), fix(t0 + 1)) == 0
            assert await a.publish(events_topic("br-a"), event(t0 + 2)) == 0
            assert await phone.publish(owntracks_topic("alice", "ph-a"), owntracks(t0 + 3)) == 0
            # A trusted gateway relays messages of a device nobody registered: the engine
            # quarantines them, whatever the wire format, and stores none of them.
            for topic, payload in [(native_topic("ghost"), fix(t0 + 4)),
                                   (events_topic("ghost"), event(t0 + 5)),
                                   (owntracks_topic("mallory", "ghost"), owntracks(t0 + 6))]:
                assert await gw.publish(topic, payload) == 0

            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                counters = eng.health()["counters"]
                if counters["fixes_stored"] >= 2 and counters["quarantined"] >= 3:
                    break
                await asyncio.sleep(0.1)
            assert (counters["fixes_stored"], counters["quarantined"]) == (2, 3)
            assert counters["messages_received"] == 6  # the forged one never arrived
            assert await query(db_url, "SELECT device_id, source FROM fixes ORDER BY ts") == [
                ("br-a", "native"), ("ph-a", "owntracks")]
            assert await query(db_url, "SELECT device_id, event FROM device_events") == [
                ("br-a", "heartbeat")]
            assert await query(db_url, "SELECT topic, device_id, reason FROM quarantine "
                                       "ORDER BY id") == [
                (native_topic("ghost"), "ghost", "unknown device 'ghost'"),
                (events_topic("ghost"), "ghost", "unknown device 'ghost'"),
                (owntracks_topic("mallory", "ghost"), "ghost", "unknown device 'ghost'")]

            # A device registered while running: once the engine has reloaded the registry (it
            # polls it every second here), it rewrites the credentials and has the broker
            # reread them, and the device's fixes are stored. In that order, the broker never
            # admits a device the engine does not know yet.
            b = await device(broker.port, "br-b", version=4)
            async with await psycopg.AsyncConnection.connect(db_url) as conn:
                await upsert_device(conn, Device("br-c", "P-B", "bracelet"))
                await conn.commit()
            deadline = time.monotonic() + 15
            while (c := await Client.connect(broker.port, "br-c",
                                             device_password(SECRET, "br-c"), 4)).connack:
                assert time.monotonic() < deadline, "br-c still refused: no sync and reload"
                await asyncio.sleep(0.1)
            assert await c.publish(native_topic("br-c"), fix(t0 + 7)) == 0
            c.close()
            deadline = time.monotonic() + 20
            while eng.health()["counters"]["fixes_stored"] < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert await query(db_url, "SELECT device_id FROM fixes ORDER BY ts") == [
                ("br-a",), ("ph-a",), ("br-c",)]
            assert eng.health()["counters"]["quarantined"] == 3
            assert "br-c" in (auth / "passwd").read_text()

            # A device retired from the registry is disconnected, and cannot come back.
            async with await psycopg.AsyncConnection.connect(db_url) as conn:
                await conn.execute("DELETE FROM devices WHERE id = 'br-b'")
                await conn.commit()
            assert await b.wait_closed(timeout=15)
            again = await Client.connect(broker.port, "br-b", device_password(SECRET, "br-b"), 4)
            assert again.connack == NOT_AUTHORISED_311
            b.close()
        finally:
            for client in (a, phone, gw):
                client.close()
            eng.stop()  # before its broker goes


async def test_a_failed_broker_reload_is_retried_until_it_succeeds(db_url, tmp_path):
    from psycopg_pool import AsyncConnectionPool

    from cordon.broker_auth import BrokerAuthKeeper

    await seed(db_url)
    marker = tmp_path / "reloaded"
    keeper = BrokerAuthKeeper(tmp_path / "auth", SECRET, *ENGINE, (GATEWAY[0],),
                              reload_command="echo refused >&2; exit 3")
    async with AsyncConnectionPool(db_url, min_size=1, max_size=1, open=False) as pool:
        assert await keeper.sync(pool)  # the files were written ...
        assert keeper.stale  # ... but the broker did not reread them: due again
        keeper.reload_command = f"touch {marker}"
        assert not await keeper.sync(pool)  # nothing new to write, the reload still owed
        assert marker.exists() and not keeper.stale
        marker.unlink()
        assert not await keeper.sync(pool) and not marker.exists()  # in step: no reload

