"""The lease keeper of an engine process: which partitions of the device topics it reads.

With ``partition_ownership = "leases"`` the engine processes, on any number of hosts, share the
partitions through leases in PostgreSQL (:mod:`store.leases`) instead of a setting. Each
process runs a :class:`LeaseKeeper`, three loops on its event loop:

- *renewing*, every ``lease_renew_s``: its heartbeat (it is alive) and the renewal of every
  lease it holds. A lease the database refuses to renew has lapsed: its partition is dropped
  at once.
- *watching*: a partition whose lease was last renewed (counting from when the renewal was
  *sent*) ``lease_ttl_s - lease_renew_s`` ago is dropped, renewal or not — a process cut off
  from the database stops reading ``lease_renew_s`` before anyone else could take the lease,
  and its intake checks the same deadline before each batch commits.
- *balancing*, every ``lease_renew_s``: with ``m`` live processes and ``P`` partitions, a fair
  share is ``ceil(P/m)`` (``floor(P/m)`` while another live process holds fewer than that).
  Below its share a process takes free or lapsed partitions; above it, it gives back one
  partition per ``lease_ttl_s`` once the surplus has lasted that long (a process joining or
  leaving does not set partitions flapping).

A partition taken is adopted by the pipeline (its people's live episodes, device clocks and
activity restored from storage) before its MQTT session is read; the broker kept its messages
while nobody read them and hands over what its last reader did not acknowledge, and storage
drops what was stored already. When the engine stops in good order its leases are given back
at once; when it dies they lapse, and the others take the partitions over about
``lease_ttl_s`` later.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from store.leases import acquire, free_partitions, heartbeat, leave, release, renew

log = logging.getLogger(__name__)


class Readers(Protocol):
    """What reads the partitions a keeper holds (see :mod:`cordon.partition_readers`)."""

    async def take(self, partitions: frozenset[int], holds: Callable[[int], bool]) -> None:
        """Adopt ``partitions`` and start reading those that ``holds`` still."""

    async def stop(self, partition: int) -> None:
        """Stop reading ``partition``: return once nothing more of it is read or stored."""

    async def drop(self, partition: int) -> None:
        """:meth:`stop`, then no longer evaluate its people."""


@dataclass(slots=True)
class Holding:
    """One holding of a partition's lease."""

    epoch: int
    read_until: float  # on the keeper's clock: stop reading by then unless renewed


def new_owner() -> str:
    """A name for this engine process's leases, unique to this start of it (a process started
    again has lost its state, and must not take its old leases for its own)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    def __init__(self, pool: AsyncConnectionPool, partitions: int, readers: Readers,
                 ttl_s: float, renew_s: float, owner: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.pool = pool
        self.partitions = partitions
        self.readers = readers
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.owner = owner or new_owner()
        self.held: dict[int, Holding] = {}
        # Live processes (this one included) and how many partitions each holds.
        self.members: dict[str, int] = {self.owner: 0}
        self._clock = clock
        self._beating = asyncio.Event()  # the first heartbeat is in
        self._surplus_since: float | None = None
        self._given_back_at = -math.inf
        self._offset = zlib.crc32(self.owner.encode()) % partitions
        self._dropping: set[asyncio.Task[None]] = set()

    def holds(self, partition: int) -> bool:
        """Whether this process may still read ``partition`` (its lease cannot have lapsed).
        Once it may not, the partition is dropped for good: a renewal arriving late does not
        bring it back (an intake that left a batch unstored must reconnect for the broker to
        send it again)."""
        h = self.held.get(partition)
        if h is not None and self._clock() >= h.read_until:
            self._lose(partition, "its lease was not renewed in time")
            return False
        return h is not None

    def share(self) -> int:
        """How many partitions this process should hold now."""
        m = max(1, len(self.members))
        low = self.partitions // m
        starving = any(n < low for owner, n in self.members.items() if owner != self.owner)
        return low if starving else -(-self.partitions // m)

    async def run(self) -> None:
        """Keep leases until cancelled; then stop reading and give them all back."""
        try:
            async with asyncio.TaskGroup() as group:
                # A renewal stuck longer than a lease is worthless (the watch has dropped them).
                group.create_task(self._every(self._renew_once, "lease renewal", self.ttl_s))
                group.create_task(self._watch())
                group.create_task(self._balance())
        finally:
            await self._leave()

    # --- the loops -----------------------------------------------------------------------------

    async def _every(self, step: Callable[[], Coroutine[Any, Any, None]], what: str,
                     timeout_s: float | None = None) -> None:
        while True:
            started = self._clock()
            try:
                async with asyncio.timeout(timeout_s):
                    await step()
            except Exception:  # noqa: BLE001 — the database may be away: the next round retries
                log.warning("%s failed", what, exc_info=True)
            await asyncio.sleep(max(0.0, self.renew_s - (self._clock() - started)))

    async def _renew_once(self) -> None:
        held = dict(self.held)
        sent = self._clock()
        async with self.pool.connection() as conn:
            # The heartbeat first: it lapses before the leases do, so that when a dead
            # process's leases lapse the others no longer count it among the living.
            async with conn.transaction():
                self.members = await heartbeat(conn, self.owner, socket.gethostname(),
                                               os.getpid(), self.ttl_s)
            self.members[self.owner] = len(self.held)
            self._beating.set()
            if not held:
                return
            async with conn.transaction():
                renewed = await renew(conn, self.owner, held, self.ttl_s)
        for k, h in held.items():
            if self.held.get(k) is not h:
                continue  # dropped (or dropped and taken again) meanwhile
            if k in renewed:
                h.read_until = max(h.read_until, sent + self.ttl_s - self.renew_s)
            else:
                self._lose(k, "its lease could not be renewed (it lapsed)")

    async def _watch(self) -> None:
        while True:
            now = self._clock()
            for k, h in list(self.held.items()):
                if now >= h.read_until:
                    self._lose(k, "its lease was not renewed in time")
            await asyncio.sleep(self.renew_s / 4)

    async def _balance(self) -> None:
        await self._beating.wait()
        await self._every(self._balance_once, "partition balancing")

    async def _balance_once(self) -> None:
        share = self.share()
        if len(self.held) < share:
            self._surplus_since = None
            await self._take(share - len(self.held))
        elif len(self.held) > share:
            now = self._clock()
            if self._surplus_since is None:
                self._surplus_since = now
            elif (now - self._surplus_since >= self.ttl_s
                  and now - self._given_back_at >= self.ttl_s):
                await self._give_back(max(self.held, key=self._preference))
                self._given_back_at = now
        else:
            self._surplus_since = None

    # --- the steps -----------------------------------------------------------------------------

    def _preference(self, partition: int) -> int:
        """Each process prefers other partitions first (by its name), so that processes
        starting together seldom race for the same ones."""
        return (partition - self._offset) % self.partitions

    async def _take(self, n: int) -> None:
        async with self.pool.connection() as conn:
            async with conn.transaction():
                free = await free_partitions(conn, self.partitions)
            wanted = sorted((k for k in free if k not in self.held), key=self._preference)[:n]
            if not wanted:
                return
            sent = self._clock()
            async with conn.transaction():
                won = await acquire(conn, self.owner, wanted, self.ttl_s)
        if not won:
            return
        for k, epoch in won.items():
            self.held[k] = Holding(epoch, sent + self.ttl_s - self.renew_s)
            log.info("partition %d taken (lease epoch %d)", k, epoch)
        try:
            await self.readers.take(frozenset(won), self.holds)
        except BaseException:
            # Not adopted (the database went away meanwhile, or the engine stops): not read
            # either. Their leases lapse, and they are taken again then, here or elsewhere.
            for k in won:
                self._lose(k, "it could not be adopted")
            raise

    async def _give_back(self, partition: int) -> None:
        """Stop reading a partition, then free its lease for another process at once."""
        self.held.pop(partition, None)
        await self.readers.drop(partition)
        async with self.pool.connection() as conn, conn.transaction():
            await release(conn, self.owner, [partition])
        log.info("partition %d given back (fair share %d of %d partitions, %d processes)",
                 partition, self.share(), self.partitions, len(self.members))

    def _lose(self, partition: int, why: str) -> None:
        """Drop a partition whose lease may lapse: its reading stops in the next step of the
        event loop (not behind an adoption under way)."""
        if self.held.pop(partition, None) is None:
            return
        log.warning("partition %d dropped: %s", partition, why)
        task = asyncio.create_task(self.readers.drop(partition), name=f"drop-partition-{partition}")
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _leave(self) -> None:
        """Stop reading every partition, then give every lease back (best effort: what is not
        given back lapses)."""
        for task in list(self._dropping):
            task.cancel()
        self.held = {}
        for k in range(self.partitions):  # every one: a reading started as its take was cut
            await self.readers.stop(k)
        try:
            async with asyncio.timeout(5):
                async with self.pool.connection() as conn, conn.transaction():
                    given = await leave(conn, self.owner)
            log.info("leases given back: %s", sorted(given))
        except Exception:  # noqa: BLE001 — they lapse in lease_ttl_s instead
            log.warning("could not give the leases back; they lapse in %.0f s", self.ttl_s,
                        exc_info=True)
