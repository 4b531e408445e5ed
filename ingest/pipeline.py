"""The path of a batch: decode → validate → evaluate → store (one transaction) → publish.

Nothing is published, and no episode state changes, until the batch's transaction has committed:
a failed batch can be retried whole and is judged exactly as the first time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from alerts.episodes import AlertChange, EpisodeTracker
from alerts.evaluator import Evaluator
from devices.fixes import Fix
from devices.formats import Decoded, Limits, Rejection, decode_message
from devices.topics import parse_topic
from ingest.stats import IngestStats
from store.alerts import apply_change, live_episodes
from store.fixes import device_clocks, insert_fixes
from store.quarantine import insert_rejections
from store.registry import Registry, load_registry, registry_version

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    payload: bytes
    received_at: float


class Pipeline:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        bus: LiveBus,
        stats: IngestStats,
        limits: Limits,
        confirm_fixes: int = 2,
        registry_min_reload_s: float = 2.0,
    ):
        self.pool = pool
        self.bus = bus
        self.stats = stats
        self.limits = limits
        self.tracker = EpisodeTracker(confirm_fixes)
        self.registry = Registry()
        self.registry_version = -1
        self.evaluator = Evaluator({}, {}, [])
        self._registry_loaded_at = 0.0
        self._registry_min_reload_s = registry_min_reload_s
        self._commit_lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the registry and rebuild live episodes from storage."""
        await self.reload_registry()
        async with self.pool.connection() as conn:
            for key, alert_id in await live_episodes(conn):
                self.tracker.restore_open(key, alert_id)
            # A redelivered fix is then recognised as already evaluated.
            self.tracker.clocks.update(await device_clocks(conn))
        log.info("restored %d live alert episodes, %d device clocks",
                 self.tracker.open_count(), len(self.tracker.clocks))

    async def reload_registry(self) -> None:
        async with self.pool.connection() as conn:
            version = await registry_version(conn)
            registry = await load_registry(conn)
        self.registry_version = version
        self.evaluator = Evaluator(registry.devices, registry.supervisees, registry.zones)
        self.registry = registry
        self._registry_loaded_at = time.monotonic()

    async def process(self, messages: Sequence[RawMessage]) -> None:
        """Handle one batch of MQTT messages. Raises on database failure; then retry the same
        batch."""
        if any(not self._known(m.topic) for m in messages):
            await self._reload_if_stale()  # a device registered since the last load
        batch = Decoded()
        newest: list[float] = []
        for m in messages:
            decoded = decode_message(m.topic, m.payload, m.received_at, self.limits)
            if self._admit(decoded, batch):
                newest.append(max(f.ts for f in decoded.fixes))
        await self.commit(batch, len(messages), newest)

    async def process_decoded(self, decoded: Decoded) -> Decoded:
        """Handle fixes decoded elsewhere (the HTTP intake): same checks, same path. Returns what
        was accepted and refused."""
        if decoded.fixes and not self.evaluator.knows(decoded.fixes[0].device_id):
            await self._reload_if_stale()
        batch = Decoded()
        newest = [max(f.ts for f in decoded.fixes)] if self._admit(decoded, batch) else []
        await self.commit(batch, 1, newest)
        return batch

    def _admit(self, decoded: Decoded, batch: Decoded) -> bool:
        """Move decoded fixes into the batch, or all of a message's fixes to the quarantine when
        its device is not registered. Say whether any fix was admitted."""
        batch.rejections.extend(decoded.rejections)
        if decoded.fixes and not self.evaluator.knows(decoded.fixes[0].device_id):
            first = decoded.fixes[0]
            topic = decoded.topic or "unknown"
            batch.rejections.append(Rejection(
                topic, decoded.payload, f"unknown device {first.device_id!r}", first.device_id,
                first.received_at,
            ))
            return False
        batch.fixes.extend(decoded.fixes)
        return bool(decoded.fixes)

    async def refresh_registry(self) -> bool:
        """Reload the registry if it changed since the last load; say whether it did."""
        async with self.pool.connection() as conn:
            version = await registry_version(conn)
        if version == self.registry_version:
            return False
        await self.reload_registry()
        return True

    async def _reload_if_stale(self) -> None:
        if time.monotonic() - self._registry_loaded_at > self._registry_min_reload_s:
            await self.reload_registry()

    async def commit(self, batch: Decoded, n_messages: int, newest: Sequence[float]) -> None:
        """Evaluate, store in one transaction, then publish. One batch at a time: episodes are
        staged from the state the previous batch committed. ``newest`` holds the newest fix time
        of each message, for the commit-lag histogram (for a buffered upload, its newest fix is
        about when it was sent)."""
        t0 = time.perf_counter()
        fixes, rejections = batch.fixes, batch.rejections
        async with self._commit_lock:
            staging = self.tracker.stage()
            changes = self.evaluator.evaluate(fixes, staging)
            async with self.pool.connection() as conn, conn.transaction():
                stored = await insert_fixes(conn, fixes)
                await insert_rejections(conn, rejections)
                for change in changes:
                    staging.set_alert_id(change, await apply_change(conn, change))
            self.tracker.commit(staging)
        committed = time.time()

        s = self.stats
        if newest:
            s.commit_lag.add((committed - np.asarray(newest, dtype=np.float64)) * 1000)
        s.batches += 1
        s.messages_received += n_messages
        s.fixes_received += len(fixes)
        s.fixes_stored += stored
        s.fixes_duplicate += len(fixes) - stored
        s.quarantined += len(rejections)
        s.devices_seen.update(f.device_id for f in fixes)
        s.alerts_opened += sum(c.action == "opened" for c in changes)
        s.alerts_cleared += sum(c.action == "cleared" for c in changes)
        s.last_batch_ms = (time.perf_counter() - t0) * 1000
        self._publish(fixes, changes)

    async def quarantine(self, messages: Sequence[RawMessage], reason: str) -> None:
        """Put whole messages in the quarantine (when a batch cannot be processed at all)."""
        rejections = [
            Rejection(m.topic, m.payload, reason, parse_topic(m.topic)[1], m.received_at)
            for m in messages
        ]
        async with self.pool.connection() as conn, conn.transaction():
            await insert_rejections(conn, rejections)
        self.stats.messages_received += len(messages)
        self.stats.quarantined += len(rejections)

    def _known(self, topic: str) -> bool:
        _, device_id = parse_topic(topic)
        return device_id is None or self.evaluator.knows(device_id)

    def _publish(self, fixes: Sequence[Fix], changes: Sequence[AlertChange]) -> None:
        for change in changes:
            self.bus.publish(alert_event(change, self.registry))
        latest: dict[str, Fix] = {}
        for f in fixes:
            if f.device_id not in latest or f.ts > latest[f.device_id].ts:
                latest[f.device_id] = f
        for f in latest.values():
            self.bus.publish(
                {
                    "type": "position",
                    "device_id": f.device_id,
                    "supervisee_id": self.evaluator.supervisee_of(f.device_id),
                    "ts": f.ts,
                    "lon": f.lon,
                    "lat": f.lat,
                    "accuracy_m": f.accuracy_m,
                    "sent_at": time.time(),
                }
            )


def alert_event(change: AlertChange, registry: Registry) -> dict[str, Any]:
    zone_names = {z.id: z.name for z in registry.zones}
    return {
        "type": "alert",
        "action": change.action,
        "alert": {
            "id": change.alert_id,
            "kind": change.key.kind,
            "severity": change.severity,
            "status": "open" if change.action == "opened" else "cleared",
            "supervisee_id": change.key.supervisee_id,
            "device_id": change.device_id,
            "subject": change.key.subject,
            "subject_name": zone_names.get(change.key.subject, change.key.subject),
            "at": change.at,
            "lon": change.lon,
            "lat": change.lat,
        },
    }
