"""The MQTT intake: a persistent MQTT 5 session, QoS 1, acknowledged only once stored.

The intake speaks MQTT 5 itself (:mod:`devices.mqtt_wire`) on an asyncio connection: each read
from the socket is split into PUBLISH packets at once, and the messages wait in an inbox; the
processing loop takes them in batches, hands each batch to the :class:`~ingest.pipeline.Pipeline`,
and only after the batch's transaction has committed sends their PUBACKs, as one write (manual
acknowledgement). A crash therefore means redelivery, never loss, and storage is idempotent, so
a redelivery stores nothing twice.

Backpressure comes from the protocol: the session's Receive Maximum caps how many unacknowledged
messages the broker may send us. While the database is down no batch commits, nothing is
acknowledged, the cap is reached and the broker holds further messages in the session — memory
stays bounded and nothing is dropped. (Should a broker ignore the cap, the intake stops reading
the socket at twice it.) When the database returns, the stuck batch commits and the flow resumes.

A PUBACK is only sent on the connection that received the message: after a reconnect, the
broker redelivers what was not acknowledged, and acknowledging an old packet id on the new
connection could acknowledge a different message.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg

from devices import mqtt_wire as wire
from devices.topics import subscriptions
from ingest.pipeline import Pipeline, RawMessage
from ingest.stats import IngestStats

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = "cordon-engine"
    shared_group: str | None = None  # subscribe as $share/<group>/... (see DESIGN: affinity)
    partition: int | None = None  # read only this partition of the topic space (devices.topics)
    batch_max: int = 2000
    batch_ms: float = 20.0
    receive_maximum: int = 20_000  # unacknowledged messages the broker may send us
    session_expiry_s: int = 7 * 86400  # how long the broker keeps our session while we are away
    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 10.0


class BrokerRefused(Exception):
    """The broker refused the connection or a subscription (bad credentials, ACL, ...)."""


class _Connection(asyncio.Protocol):
    """One TCP connection to the broker. Its messages go to the intake's inbox tagged with the
    connection, so their PUBACKs can only ever go back the way they came."""

    def __init__(self, intake: MqttIntake):
        loop = asyncio.get_running_loop()
        self.intake = intake
        self.reader = wire.PacketReader()
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[wire.Connack] = loop.create_future()
        self.suback: asyncio.Future[list[int]] = loop.create_future()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.last_heard = time.monotonic()
        self.paused = False

    @property
    def open(self) -> bool:
        return not self.lost.done()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.last_heard = time.monotonic()
        try:
            publishes, others = self.reader.feed(data)
        except wire.ProtocolError as exc:
            log.error("MQTT broker sent a malformed packet (%s); reconnecting", exc)
            assert self.transport is not None
            self.transport.abort()
            return
        if publishes:
            self.intake._received(self, publishes)
        for kind, body in others:
            if kind == wire.CONNACK and not self.connack.done():
                self.connack.set_result(wire.parse_connack(body))
            elif kind == wire.SUBACK and not self.suback.done():
                self.suback.set_result(wire.parse_suback(body))
            elif kind == wire.DISCONNECT:
                log.warning("MQTT broker is disconnecting us (reason 0x%02x)",
                            wire.disconnect_reason(body))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        for waiter in (self.connack, self.suback):
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection to the MQTT broker lost"))

    def acknowledge(self, packet_ids: list[int]) -> None:
        if packet_ids and self.open and self.transport is not None:
            self.transport.write(wire.puback_packets(packet_ids))


class MqttIntake:
    def __init__(self, config: MqttConfig, pipeline: Pipeline, stats: IngestStats,
                 may_store: Callable[[], bool] | None = None):
        """``may_store``: asked just before each batch commits; False leaves the batch
        unstored and unacknowledged, for the broker to hand to whoever holds the session next
        (a partition held by lease, cordon/leases.py: the lease may be about to lapse)."""
        self.config = config
        self.pipeline = pipeline
        self._backlog = lambda: len(self._inbox)
        pipeline.backlogs.append(self._backlog)
        self.stats = stats
        self.may_store = may_store
        self._inbox: collections.deque[tuple[_Connection, int, RawMessage]] = collections.deque()
        self._wake = asyncio.Event()
        self._connection: _Connection | None = None

    # --- the connection ----------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled: keep a session with the broker and process what it sends."""
        processing = asyncio.create_task(self._process_forever(), name="mqtt-processing")
        try:
            await self._connect_forever()
        finally:
            # Cancelled (the engine stops, or the partition was given back): nothing more is
            # read, stored or acknowledged once this returns. What was not acknowledged the
            # broker keeps in the session for the next connection with this client id.
            processing.cancel()
            await asyncio.gather(processing, return_exceptions=True)
            if self._backlog in self.pipeline.backlogs:
                self.pipeline.backlogs.remove(self._backlog)
            self._inbox.clear()

    async def _connect_forever(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_min_s
        while True:
            try:
                await self._session()
                delay = cfg.reconnect_min_s  # it was up: the next failure starts over
            except (OSError, wire.ProtocolError, BrokerRefused, TimeoutError) as exc:
                self._set_broker(False, str(exc) or type(exc).__name__)
                log.warning("MQTT broker %s:%s: %s; reconnecting in %.0f s", cfg.host, cfg.port,
                            self.stats.broker_error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cfg.reconnect_max_s)

    async def _session(self) -> None:
        """One connection, from CONNECT until it is lost. Raises if it never got going."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(10):
            transport, conn = await loop.create_connection(
                lambda: _Connection(self), cfg.host, cfg.port)
        try:
            transport.write(wire.connect_packet(
                cfg.client_id, cfg.username, cfg.password, keepalive_s=cfg.keepalive_s,
                clean_start=False, session_expiry_s=cfg.session_expiry_s,
                receive_maximum=cfg.receive_maximum))
            async with asyncio.timeout(10):
                connack = await conn.connack
            if connack.refused:
                raise BrokerRefused(f"connection refused (reason 0x{connack.reason_code:02x})")
            topics = [self._topic(t) for t in subscriptions(cfg.partition)]
            transport.write(wire.subscribe_packet(1, topics))
            async with asyncio.timeout(10):
                granted = await conn.suback
            refused = [t for t, code in zip(topics, granted, strict=False) if code >= 0x80]
            if refused:
                raise BrokerRefused(f"subscription refused: {', '.join(refused)}")
            self._connection = conn
            self._set_broker(True, None)
            log.info("connected to MQTT broker %s:%s as %s (session %s)", cfg.host, cfg.port,
                     cfg.client_id, "resumed" if connack.session_present else "new")
            await self._keep_alive(conn)
            self._set_broker(False, "connection lost")
            log.warning("MQTT broker %s:%s: connection lost; reconnecting", cfg.host, cfg.port)
        finally:
            if conn.open:
                if self._connection is conn and not transport.is_closing():
                    transport.write(wire.DISCONNECT_PACKET)  # the session stays on the broker
                transport.close()

    async def _keep_alive(self, conn: _Connection) -> None:
        """Ping at half the keep-alive; give the broker up when it has been silent for one and a
        half (a broker that vanished without closing the socket)."""
        period = self.config.keepalive_s / 2
        while conn.open:
            try:
                async with asyncio.timeout(period):
                    await asyncio.shield(conn.lost)
                return
            except TimeoutError:
                pass
            if time.monotonic() - conn.last_heard > 1.5 * self.config.keepalive_s:
                log.warning("MQTT broker silent for %.0f s; dropping the connection",
                            time.monotonic() - conn.last_heard)
                assert conn.transport is not None
                conn.transport.abort()
                return
            assert conn.transport is not None
            conn.transport.write(wire.PINGREQ_PACKET)

    def _received(self, conn: _Connection, publishes: list[tuple[int, bytes, bytes]]) -> None:
        """Called from the connection for each read: the messages go to the inbox."""
        now = self.pipeline.clock()
        inbox = self._inbox
        was_empty = not inbox
        inbox.extend([(conn, packet_id, RawMessage(topic.decode("utf-8", "replace"), payload, now))
                      for packet_id, topic, payload in publishes])
        if was_empty:
            self._wake.set()
        if len(inbox) > 2 * self.config.receive_maximum and not conn.paused:
            assert conn.transport is not None
            conn.transport.pause_reading()  # the broker overran our Receive Maximum
            conn.paused = True

    def _set_broker(self, connected: bool, error: str | None) -> None:
        self.stats.broker_connected = connected
        self.stats.broker_error = error

    def _topic(self, topic: str) -> str:
        group = self.config.shared_group
        return f"$share/{group}/{topic}" if group else topic

    # --- processing ----------------------------------------------------------------------------

    async def _process_forever(self) -> None:
        """Take batches from the inbox. Two are in hand at a time: while one commits (waiting
        on the database), the next is decoded and decided. Commits stay in arrival order."""
        cfg = self.config
        previous: asyncio.Task[None] | None = None
        in_hand: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not self._inbox:
                    self._wake.clear()
                    if not self._inbox:
                        await self._wake.wait()
                if len(self._inbox) < cfg.batch_max:
                    await asyncio.sleep(cfg.batch_ms / 1000)  # let a batch gather
                batch = [self._inbox.popleft()
                         for _ in range(min(cfg.batch_max, len(self._inbox)))]
                task = asyncio.create_task(self._handle(batch, previous), name="mqtt-batch")
                in_hand.add(task)
                task.add_done_callback(in_hand.discard)
                if previous is not None:
                    await previous
                previous = task
        finally:
            # Both batches in hand, and only then return: a batch of a partition given back
            # must not commit after its reading stopped.
            for task in in_hand:
                task.cancel()
            await asyncio.gather(*in_hand, return_exceptions=True)

    async def _handle(
        self, batch: list[tuple[_Connection, int, RawMessage]], previous: asyncio.Task[None] | None
    ) -> None:
        messages = [raw for _, _, raw in batch]
        prepared = await self._until_stored(messages, lambda: self.pipeline.prepare(messages))
        if previous is not None:
            await previous  # its transaction commits first
        if self.may_store is not None and not self.may_store():
            return  # neither stored nor acknowledged: the broker redelivers it
        if prepared is not None:
            await self._until_stored(messages, lambda: self.pipeline.commit(prepared))
        self._acknowledge(batch)

    def _acknowledge(self, batch: list[tuple[_Connection, int, RawMessage]]) -> None:
        """PUBACK the batch's QoS 1 messages, on the connections they came by (all one, unless
        the broker reconnected meanwhile: then the old connection's are redelivered anyway)."""
        conn = batch[0][0]
        if conn is batch[-1][0]:
            conn.acknowledge([packet_id for _, packet_id, _ in batch if packet_id])
        else:
            by_connection: dict[_Connection, list[int]] = {}
            for conn, packet_id, _ in batch:
                if packet_id:
                    by_connection.setdefault(conn, []).append(packet_id)
            for conn, ids in by_connection.items():
                conn.acknowledge(ids)
        current = self._connection
        if (current is not None and current.paused
                and len(self._inbox) <= self.config.receive_maximum):
            current.paused = False
            if current.open and current.transport is not None:
                current.transport.resume_reading()

    async def _until_stored(
        self, batch: list[RawMessage], step: Callable[[], Awaitable[T]]
    ) -> T | None:
        """Run a step of the pipeline until the database lets it through. A step that fails
        for any other reason puts the batch in the quarantine instead, and returns None."""
        backoff = 0.2
        while True:
            try:
                result = await step()
                self.stats.database_ok = True
                self.stats.database_error = None
                return result
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.stats.database_ok = False
                self.stats.database_error = str(exc).strip().splitlines()[0]
                log.warning("database unavailable (%s); retrying batch in %.1f s",
                            self.stats.database_error, backoff)
            except Exception as exc:
                # A bug must neither kill the intake nor lose the batch silently: its messages
                # go to the quarantine with the error, and the log has the traceback.
                log.exception("batch of %d messages failed; quarantining it", len(batch))
                try:
                    await self.pipeline.quarantine(batch, f"internal error: {exc!r}")
                    return None
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
