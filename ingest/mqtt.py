"""The MQTT intake: a persistent MQTT 5 session, QoS 1, acknowledged only once stored.

Messages arrive on paho-mqtt's network thread and wait in an inbox; the event loop takes them in
batches, hands each batch to the :class:`~ingest.pipeline.Pipeline`, and only after the batch's
transaction has committed sends their PUBACKs (manual acknowledgement). A crash therefore means
redelivery, never loss, and storage is idempotent, so a redelivery stores nothing twice.

Backpressure comes from the protocol: the session's Receive Maximum caps how many unacknowledged
messages the broker may send us. While the database is down no batch commits, nothing is
acknowledged, the cap is reached and the broker holds further messages in the session — memory
stays bounded and nothing is dropped. When the database returns, the stuck batch commits and the
flow resumes.

A PUBACK is only sent on the connection that received the message: after a reconnect, the
broker redelivers what was not acknowledged, and acknowledging an old packet id on the new
connection could acknowledge a different message.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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
    batch_ms: float = 5.0
    receive_maximum: int = 20_000  # unacknowledged messages the broker may send us
    session_expiry_s: int = 7 * 86400  # how long the broker keeps our session while we are away
    keepalive_s: int = 30


class MqttIntake:
    def __init__(self, config: MqttConfig, pipeline: Pipeline, stats: IngestStats):
        self.config = config
        self.pipeline = pipeline
        self.stats = stats
        self._inbox: collections.deque[tuple[int, int, RawMessage]] = collections.deque()
        self._generation = 0  # bumped on every (re)connection
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._client: paho.Client | None = None

    # --- paho's network thread -------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._set_broker(False, f"connection refused: {reason_code}")
            return
        with self._lock:
            self._generation += 1
        topics = [(self._topic(t), paho.SubscribeOptions(qos=1))
                  for t in subscriptions(self.config.partition)]
        client.subscribe(topics)
        self._set_broker(True, None)
        log.info("connected to MQTT broker %s:%s (session %s)", self.config.host,
                 self.config.port, "resumed" if flags.session_present else "new")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._set_broker(False, f"disconnected: {reason_code}")
        log.warning("MQTT broker %s:%s: disconnected (%s); reconnecting", self.config.host,
                    self.config.port, reason_code)

    def _on_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        raw = RawMessage(message.topic, message.payload, time.time())
        self._inbox.append((self._generation, message.mid if message.qos else 0, raw))
        if len(self._inbox) == 1 and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _set_broker(self, connected: bool, error: str | None) -> None:
        self.stats.broker_connected = connected
        self.stats.broker_error = error

    def _topic(self, topic: str) -> str:
        group = self.config.shared_group
        return f"$share/{group}/{topic}" if group else topic

    # --- the event loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled."""
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.session_expiry_s
        props.ReceiveMaximum = cfg.receive_maximum
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False,
                             properties=props)
        self._client = client
        client.loop_start()
        try:
            await self._process_forever()
        finally:
            client.disconnect()
            client.loop_stop()

    async def _process_forever(self) -> None:
        """Take batches from the inbox. Two are in hand at a time: while one commits (waiting
        on the database), the next is decoded and decided. Commits stay in arrival order."""
        cfg = self.config
        previous: asyncio.Task[None] | None = None
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
                if previous is not None:
                    await previous
                previous = task
        finally:
            if previous is not None:
                previous.cancel()

    async def _handle(
        self, batch: list[tuple[int, int, RawMessage]], previous: asyncio.Task[None] | None
    ) -> None:
        messages = [raw for _, _, raw in batch]
        prepared = await self._until_stored(messages, lambda: self.pipeline.prepare(messages))
        if previous is not None:
            await previous  # its transaction commits first
        if prepared is not None:
            await self._until_stored(messages, lambda: self.pipeline.commit(prepared))
        self._acknowledge(batch)

    def _acknowledge(self, batch: list[tuple[int, int, RawMessage]]) -> None:
        client = self._client
        assert client is not None
        current = self._generation
        for generation, mid, _ in batch:
            if mid and generation == current:
                client.ack(mid, 1)

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
