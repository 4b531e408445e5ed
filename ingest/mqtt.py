"""The MQTT intake: subscribe, gather messages into batches, hand them to the pipeline.

Messages are read into a bounded queue; when the pipeline falls behind (say the database is
down and a batch keeps failing), the queue fills and reading stops, so memory stays bounded.
A failed batch is retried whole, with backoff, until it is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiomqtt
import psycopg

from devices.topics import SUBSCRIPTIONS
from ingest.pipeline import Pipeline, RawMessage
from ingest.stats import IngestStats

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = "cordon-engine"
    shared_group: str | None = None  # subscribe as $share/<group>/... when several engines run
    batch_max: int = 2000
    batch_ms: float = 20.0
    queue_max: int = 50_000


class MqttIntake:
    def __init__(self, config: MqttConfig, pipeline: Pipeline, stats: IngestStats):
        self.config = config
        self.pipeline = pipeline
        self.stats = stats
        self.queue: asyncio.Queue[RawMessage] = asyncio.Queue(maxsize=config.queue_max)

    async def run(self) -> None:
        """Run until cancelled: read from the broker (reconnecting) and process batches."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._read_forever())
            tg.create_task(self._process_forever())

    async def _read_forever(self) -> None:
        cfg = self.config
        backoff = 0.5
        while True:
            try:
                async with aiomqtt.Client(
                    cfg.host,
                    cfg.port,
                    identifier=cfg.client_id,
                    username=cfg.username,
                    password=cfg.password,
                    protocol=aiomqtt.ProtocolVersion.V5,
                ) as client:
                    for topic in SUBSCRIPTIONS:
                        if cfg.shared_group:
                            topic = f"$share/{cfg.shared_group}/{topic}"
                        await client.subscribe(topic, qos=1)
                    self.stats.broker_connected = True
                    self.stats.broker_error = None
                    log.info("connected to MQTT broker %s:%s", cfg.host, cfg.port)
                    backoff = 0.5
                    async for message in client.messages:
                        payload = message.payload
                        if isinstance(payload, str):
                            payload = payload.encode()
                        elif not isinstance(payload, bytes | bytearray):
                            payload = b"" if payload is None else str(payload).encode()
                        await self.queue.put(
                            RawMessage(message.topic.value, bytes(payload), time.time())
                        )
            except aiomqtt.MqttError as exc:
                self.stats.broker_connected = False
                self.stats.broker_error = str(exc)
                log.warning("MQTT broker %s:%s: %s; retrying in %.1f s", cfg.host, cfg.port,
                            exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _process_forever(self) -> None:
        cfg = self.config
        while True:
            batch = [await self.queue.get()]
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that races with the result, and the intake would then never stop.
            try:
                async with asyncio.timeout(cfg.batch_ms / 1000):
                    while len(batch) < cfg.batch_max:
                        batch.append(await self.queue.get())
            except TimeoutError:
                pass
            await self._process_until_stored(batch)

    async def _process_until_stored(self, batch: list[RawMessage]) -> None:
        backoff = 0.2
        while True:
            try:
                await self.pipeline.process(batch)
                self.stats.database_ok = True
                self.stats.database_error = None
                return
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
                    return
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
