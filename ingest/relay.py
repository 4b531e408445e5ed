"""Several engine processes, one API: what the consumer processes tell the API process.

With ``consumers`` > 1 the API process (consumer 0) starts the others; each evaluates its own
partitions of the device topics. Their alert changes and positions must still reach the live
feed, and their counters the health endpoint. They travel over the broker every engine already
talks to, on ``cordon/engine/<consumer>/events`` (alert changes at once, positions coalesced to
the newest per device every ``flush_s``) and ``cordon/engine/<consumer>/stats`` (counters every
second), QoS 0: a lost position is replaced by the next one, and a lost stats message by the
next second's.

The API process also forwards HTTP (OsmAnd) fixes whose supervisee lives in another partition
onto that partition's topic, so every fix of a supervisee is evaluated by one process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import paho.mqtt.client as paho

from alerts.bus import LiveBus
from ingest.stats import IngestStats

log = logging.getLogger(__name__)

EVENTS = "cordon/engine/{consumer}/events"
STATS = "cordon/engine/{consumer}/stats"


def _client(client_id: str, username: str | None, password: str | None) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    if username:
        client.username_pw_set(username, password)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


class RelaySender:
    """In a consumer process: sends its live events and counters to the API process."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 consumer: int, bus: LiveBus, stats: IngestStats, flush_s: float = 0.1):
        self._addr = (host, port)
        self._client = _client(f"cordon-relay-{consumer}", username, password)
        self._events = EVENTS.format(consumer=consumer)
        self._stats_topic = STATS.format(consumer=consumer)
        self._stats = stats
        self._flush_s = flush_s
        self._alerts: list[dict[str, Any]] = []
        self._positions: dict[str, dict[str, Any]] = {}
        bus.add_tap(self._take)

    def _take(self, event: dict[str, Any]) -> None:
        if event.get("type") == "position":
            self._positions[event["device_id"]] = event
        else:
            self._alerts.append(event)

    async def run(self) -> None:
        client = self._client
        client.connect_async(*self._addr, keepalive=30)
        client.loop_start()
        try:
            last_stats = 0.0
            while True:
                await asyncio.sleep(self._flush_s)
                events = self._alerts + list(self._positions.values())
                self._alerts, self._positions = [], {}
                if events and client.is_connected():
                    client.publish(self._events, orjson.dumps(events), qos=0)
                if time.monotonic() - last_stats >= 1.0 and client.is_connected():
                    client.publish(self._stats_topic, orjson.dumps(self._stats.report()), qos=0)
                    last_stats = time.monotonic()
        finally:
            client.disconnect()
            client.loop_stop()


class RelayReceiver:
    """In the API process: feeds the other consumers' events to the live bus and keeps their
    latest counters in ``stats.peers``; forwards HTTP fixes to their partition's topic."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 bus: LiveBus, stats: IngestStats):
        self._addr = (host, port)
        self._client = _client("cordon-relay-api", username, password)
        self._bus = bus
        self._stats = stats
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(EVENTS.format(consumer="+"), 0), (STATS.format(consumer="+"), 0)])

    def _on_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        consumer, kind = message.topic.split("/")[2:4]
        try:
            doc = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            log.warning("relay: unreadable %s from consumer %s", kind, consumer)
            return
        assert self._loop is not None
        if kind == "stats":
            self._loop.call_soon_threadsafe(self._stats.peers.__setitem__, consumer, doc)
        elif kind == "events":
            self._loop.call_soon_threadsafe(self._publish, doc)

    def _publish(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._bus.publish(event)

    async def forward(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> None:
        """Publish with QoS 1 and wait until the broker has it; raise ``TimeoutError`` if it
        does not take it in time."""
        info = self._client.publish(topic, payload, qos=1)
        async with asyncio.timeout(timeout_s):
            while not info.is_published():
                await asyncio.sleep(0.005)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        client = self._client
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect_async(*self._addr, keepalive=30)
        client.loop_start()
        try:
            await asyncio.Event().wait()
        finally:
            client.disconnect()
            client.loop_stop()
