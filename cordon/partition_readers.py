"""The MQTT intakes of the partitions an engine process holds by lease (see
:mod:`cordon.leases`): one per partition, started once the pipeline has adopted the partition,
stopped before its lease could lapse.

Each partition is read through one persistent MQTT session named after it (the engine's
``mqtt_client_id`` and ``-p<k>``), whichever process reads it: the broker keeps the session's
messages while nobody reads it and redelivers the unacknowledged ones to the next reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ingest.mqtt import MqttIntake
from ingest.pipeline import Pipeline

log = logging.getLogger(__name__)


class PartitionReaders:
    def __init__(self, pipeline: Pipeline,
                 intake_for: Callable[[int, Callable[[], bool]], MqttIntake]):
        """``intake_for(k, may_store)``: the intake of partition ``k``, storing a batch only
        while ``may_store()``."""
        self.pipeline = pipeline
        self._intake_for = intake_for
        self._reading: dict[int, asyncio.Task[None]] = {}
        # One adoption at a time: each sets the pipeline's partitions from the one before.
        self._adopting = asyncio.Lock()
        self._failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    @property
    def reading(self) -> frozenset[int]:
        return frozenset(self._reading)

    async def take(self, partitions: frozenset[int], holds: Callable[[int], bool]) -> None:
        """Adopt ``partitions`` (restore their people's state: see
        :meth:`ingest.pipeline.Pipeline.adopt`), then read each that ``holds`` still."""
        async with self._adopting:
            await self.pipeline.adopt(self._owned() | partitions)
            for k in sorted(partitions):
                if holds(k) and k not in self._reading:
                    self._start(k, holds)
            lost = partitions - self._reading.keys()
            if lost:  # their leases went while they were being adopted
                await self.pipeline.adopt(self._owned() - lost)

    async def stop(self, partition: int) -> None:
        """Stop reading ``partition``: once this returns nothing more of it is read, stored or
        acknowledged (a batch under way is cancelled, and redelivered to the next reader)."""
        task = self._reading.pop(partition, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            log.info("partition %d no longer read", partition)

    async def drop(self, partition: int) -> None:
        """:meth:`stop`, then leave the partition's people to whoever takes it."""
        await self.stop(partition)
        async with self._adopting:
            if partition in self._owned() and partition not in self._reading:
                await self.pipeline.adopt(self._owned() - {partition})

    async def failure(self) -> None:
        """Wait until an intake fails, and raise its error (the engine stops on it)."""
        raise await self._failed

    def _owned(self) -> frozenset[int]:
        return self.pipeline.owned or frozenset()

    def _start(self, k: int, holds: Callable[[int], bool]) -> None:
        intake = self._intake_for(k, lambda: holds(k))
        task = asyncio.create_task(intake.run(), name=f"mqtt-intake-{k}")
        task.add_done_callback(self._ended)
        self._reading[k] = task
        log.info("partition %d read", k)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._failed.done():
            self._failed.set_result(task.exception())  # type: ignore[arg-type]
