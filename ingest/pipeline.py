"""The path of a batch: decode → validate → evaluate → store (one transaction) → publish.

Nothing is published, and no episode state changes, until the batch's transaction has committed:
a failed batch can be retried whole and is judged exactly as the first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import orjson
from psycopg_pool import AsyncConnectionPool

from alerts.activity import renumbering
from alerts.bus import LiveBus
from alerts.episodes import AlertChange, EpisodeTracker
from alerts.evaluator import Decided, Evaluator
from alerts.plans import DEFAULT_PLAN
from alerts.roster import LinkChange
from devices.batches import DecodedBatch, decode_batch, unknown_device
from devices.fixes import FixBatch, newest_of_each
from devices.formats import Decoded, Limits, Rejection
from devices.tables import on_plans, owners
from devices.topics import native_topic, parse_topic, partition_of, topic_partition
from geofence.assignments import AssignmentSet
from geofence.zonelist import ZoneList
from geofence.zones import Zone
from geofence.zoneset import ZoneSet
from ingest.clock import Clock
from ingest.orders import OrderGate
from ingest.stats import IngestStats
from store.alerts import apply_change, escalate_overdue, live_episodes, supervisee_names
from store.events import insert_events
from store.fixes import (
    copy_buffer,
    device_activity,
    device_clocks,
    insert_copy,
    mark_late,
    restored_activity,
)
from store.quarantine import insert_rejections
from store.registry import Partitions, Registry, load_registry, read_owners, registry_version
from store.registry_changes import (
    ChangedRows,
    evaluated_alike,
    fetch_changed,
    patched,
    plans_evaluated_otherwise,
    prune_changes,
    read_changes,
    watermark,
)

log = logging.getLogger(__name__)
BACKLOG_LIMIT = 500  # messages waiting in the intake beyond which timers wait (see tick)
# The change log keeps an hour (store/registry_changes.py): an engine that has not looked for
# half of that reloads the registry whole rather than trust what is left of it.
CHANGE_LOG_TRUST_S = 1800.0
PRUNE_CHANGES_S = 600.0


class RawMessage(NamedTuple):
    """One message as it came off the wire (a tuple: the intake makes tens of thousands a
    second)."""

    topic: str
    payload: bytes
    received_at: float


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch decoded and decided, waiting for its turn to commit."""

    decoded: DecodedBatch
    n_messages: int
    evaluator: Evaluator  # the one that decided: its assignment numbers are in ``decided``
    decided: Decided
    copy: bytes  # the fixes as a binary COPY stream


@dataclass(frozen=True, slots=True)
class Built:
    """A new registry and what the engine derives from it, ready to swap in."""

    registry: Registry
    evaluator: Evaluator  # its activity still to be moved over from the old one
    numbering: tuple[np.ndarray, np.ndarray]  # (new, old) numbers of the devices kept
    gate: OrderGate | None
    device_partition: dict[str, int | None] | None  # None: as it was
    devices_gone: set[str]
    supervisees_gone: set[str]
    escalation: Escalation  # see Pipeline._escalation_groups
    # Patched from the old evaluator (see Evaluator.patched): its activity is taken over by
    # number, these device numbers cleared (``numbering`` is then unused).
    cleared: np.ndarray | None = None


class Pipeline:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        bus: LiveBus,
        stats: IngestStats,
        limits: Limits,
        confirm_fixes: int = 3,
        confirm_gap_s: float = 180.0,
        accuracy_factor: float = 1.5,
        registry_min_reload_s: float = 2.0,
        partitions: int = 1,
        owned: frozenset[int] | None = None,
        forward: Callable[[str, bytes], Awaitable[None]] | None = None,
        clock: Clock = time.time,
        orders_required: bool = False,
    ):
        """``partitions``: of the device topics (see :mod:`devices.topics`); ``owned``: the
        ones this process evaluates (None: all); ``forward``: publishes an HTTP fix of a
        supervisee in a partition owned elsewhere onto its topic; ``orders_required``: keep a
        bracelet's fixes only under a positioning order of its wearer (see
        :mod:`ingest.orders`)."""
        self.pool = pool
        self.partitions = partitions
        self.owned = owned
        self.forward = forward
        self.clock = clock
        self._device_partition: dict[str, int | None] = {}
        # Devices of people another process holds (asked of the database when one is heard
        # here): their partition. Forgotten at every registry change.
        self._elsewhere: dict[str, int] = {}
        self.bus = bus
        self.stats = stats
        self.limits = limits
        self.tracker = EpisodeTracker(confirm_fixes, confirm_gap_s)
        self.accuracy_factor = accuracy_factor
        # Messages received but not yet processed, per intake. While there is a backlog the
        # clock's rules wait: a silence is only a silence once what the devices sent is in.
        self.backlogs: list[Callable[[], int]] = []
        self.registry = Registry()
        self.registry_version = -1
        self.evaluator = Evaluator({}, {}, [])
        self._escalation: Escalation = ([(DEFAULT_PLAN.escalate_after_s, (), True)], None)
        self._registry_loaded_at = 0.0
        self._watermark: int | None = None  # of the change log (store/registry_changes.py)
        # How the registry was last brought up to date: "whole" (loaded whole), "patched"
        # (the evaluator patched for what changed), "rebuilt" (the evaluator built again),
        # "kept" (nothing it reads changed), "unchanged".
        self.last_reload = "unchanged"
        self._reload_lock = asyncio.Lock()
        self._pruned_at = 0.0
        self._looked_at = 0.0  # when the registry was last found up to date
        self._registry_min_reload_s = registry_min_reload_s
        self._commit_lock = asyncio.Lock()
        self.orders_required = orders_required
        self.gate = OrderGate()
        # Gated devices still sending without an order in force: when each was last heard
        # (receive time). Nothing else of their fixes is kept.
        self.heard_without_order: dict[str, float] = {}

    async def start(self) -> None:
        """Load the registry and rebuild live episodes from storage."""
        await self.reload_registry()
        async with self.pool.connection() as conn:
            for key, alert_id in await live_episodes(conn):
                self.tracker.restore_open(key, alert_id)
            # A redelivered fix is then recognised as already evaluated.
            self.tracker.clocks.update(await device_clocks(conn))
            # What each device did last: the timers (lost contact, curfew starts) go on from
            # there.
            activity = await device_activity(conn)
        self.evaluator.activity = restored_activity(self.evaluator.activity, activity,
                                                     self.accuracy_factor,
                                                     self.evaluator.roster.device_no)
        log.info("restored %d live alert episodes, %d device clocks",
                 self.tracker.open_count(), len(self.tracker.clocks))

    async def reload_registry(self) -> None:
        """Bring the registry up to date: by the piece (only the rows the change log names,
        and what depends on them) once it has been loaded whole, whole at the start or when
        the log cannot say what changed. The new evaluator is built in a worker thread while
        batches go on being decided and stored, then swapped in at once."""
        async with self._reload_lock:
            held = self.held()
            async with self.pool.connection() as conn:
                version = await registry_version(conn)
                mark = self._watermark
                same_people = alike = False
                rows = None
                whole = (mark is None or time.monotonic() - self._looked_at > CHANGE_LOG_TRUST_S
                         or held != self.registry.held)  # partitions taken or given up
                if whole:
                    mark = await watermark(conn)
                    with _collector_paused():
                        registry = await load_registry(conn, held)
                else:
                    changes, mark = await read_changes(conn, mark)
                    if changes.everything:
                        with _collector_paused():
                            registry = await load_registry(conn, held)
                    elif not changes:
                        registry = self.registry
                    else:
                        rows = await fetch_changed(conn, self.registry, changes)
                        registry = await asyncio.to_thread(patched, self.registry, rows)
                        # Who is assigned which zones changed only if a zone or a person did.
                        same_people = not rows.supervisee_ids
                        alike = evaluated_alike(self.registry, registry, rows)
                if time.monotonic() - self._pruned_at > PRUNE_CHANGES_S:
                    await prune_changes(conn)
                    self._pruned_at = time.monotonic()
            if registry is not self.registry or whole:
                old = self.evaluator
                with _collector_paused():
                    built = await asyncio.to_thread(self._build, registry, old, self.registry,
                                                    same_people, alike, rows)
                    retired = [old, self.registry]
                    self._install(built, old)
                    self.last_reload = ("whole" if whole else "kept" if alike else
                                        "patched" if built.cleared is not None else "rebuilt")
                    # What only the old registry and evaluator held (hundreds of thousands of
                    # objects at 100,000 people) is freed in a worker thread, which lets the
                    # event loop in between, rather than in one step of it. (A batch decided
                    # by the old evaluator and not yet folded frees it later, on the loop.)
                    del built, old
                    await asyncio.to_thread(retired.clear)
            else:
                self.last_reload = "unchanged"
            self.registry_version = version
            self._watermark = mark
            self._registry_loaded_at = self._looked_at = time.monotonic()

    def held(self) -> Partitions | None:
        """The partitions whose people this process's registry holds (None: everyone)."""
        if self.partitions <= 1 or self.owned is None or len(self.owned) >= self.partitions:
            return None  # (all of them: read whole, not narrowed to everyone's ids)
        return Partitions(self.partitions, frozenset(self.owned))

    def _build(self, registry: Registry, old: Evaluator, old_registry: Registry,
               same_people: bool = False, alike: bool = False,
               rows: ChangedRows | None = None) -> Built:
        """Everything a new registry needs, computed off the event loop from values nothing
        mutates (the activity is not read here: batches go on recording it). The compiled
        zones are taken over when no zone changed (the patched registry then holds the very
        same list), and the assignments too when no one's zones changed either. ``alike``:
        nothing the evaluator reads changed (see :func:`store.registry_changes.evaluated_alike`):
        the old one is kept."""
        escalation = escalation_groups(registry)
        if alike:
            none = np.zeros(0, dtype=np.int64)
            return Built(registry, old, (none, none), None, None, set(), set(), escalation)
        if rows is not None:
            patch = self._patched(registry, old, old_registry, rows, escalation)
            if patch is not None:
                return patch
        zoneset, assignments = compiled_again(registry, old, old_registry, same_people)
        if zoneset is None and len(registry.zone_index) == len(registry.zones):
            zoneset = ZoneSet(registry.zones, registry.zone_index)  # (one index, shared)
        evaluator = Evaluator(
            registry.devices, registry.supervisees, registry.zones, plans=registry.plans,
            pairings=registry.pairings, orders=registry.orders,
            positioning=registry.positioning, suppressions=registry.suppressions,
            # Each request is decided by the one process evaluating its person's partition.
            check_ins=[c for c in registry.check_ins if self.owned is None
                       or partition_of(c.supervisee_id, self.partitions) in self.owned],
            accuracy_factor=self.accuracy_factor, zoneset=zoneset, assignments=assignments)
        return Built(
            registry, evaluator,
            renumbering(old.activity.device_ids, evaluator.roster.device_ids),
            OrderGate.from_registry(registry.devices, registry.positioning)
            if self.orders_required else None,
            {d: partition_of(sid, self.partitions) if sid else None
             for d, sid, _kind in owners(registry.devices)} if self.partitions > 1 else {},
            old_registry.devices.keys() - registry.devices.keys(),
            old_registry.supervisees.keys() - registry.supervisees.keys(), escalation)

    def _patched(self, registry: Registry, old: Evaluator, old_registry: Registry,
                 rows: ChangedRows, escalation: Escalation
                 ) -> Built | None:
        """The old evaluator patched for the rows that changed (see
        :meth:`~alerts.evaluator.Evaluator.patched`), or None when the change is too wide
        for that to pay — a zone other than a circle redrawn, a zone dropped, a plan that a
        quarter of the people are on — and everything is built again."""
        roster = old.roster
        if roster.dead_assignments > len(roster.key_of_assignment) // 4:
            return None  # patched often enough that a fifth of what it holds is dead
        compiled = patched_zones(roster.zoneset, old_registry.zones, registry.zones,
                                 rows.zone_ids, registry.zone_index)
        if compiled is None:
            return None
        zoneset, redrawn = compiled
        people = set(rows.supervisee_ids)
        plans = plans_evaluated_otherwise(old_registry, registry, rows.changes.plans)
        if plans:
            people |= on_plans(registry.supervisees, plans)
        if len(people) > max(1_000, len(registry.supervisees) // 4):
            return None
        # Who is assigned a zone redrawn: their assignments are made again (its kind or
        # schedule may have changed; a home redrawn moves the home the gathering rule knows).
        asg = old.roster.assignments
        regrouped = {asg.subject_of(i) for i in np.flatnonzero(
            np.isin(asg.zone, redrawn)).tolist()} if redrawn else set()
        check_ins = [c for c in registry.check_ins if self.owned is None
                     or partition_of(c.supervisee_id, self.partitions) in self.owned]
        links = LinkChange(frozenset(rows.link_ids), frozenset(rows.device_ids), rows.pairings,
                           rows.positioning, registry.orders, check_ins)
        evaluator, change = old.patched(
            registry.devices, registry.supervisees, registry.plans, registry.suppressions,
            zoneset, people, set(rows.device_ids), regrouped, links)
        evaluator.accuracy_factor = self.accuracy_factor
        partition: dict[str, int | None] | None = None
        if self.partitions > 1:
            partition = dict(self._device_partition)
            for d in rows.device_ids:
                device = registry.devices.get(d)
                if device is None:
                    partition.pop(d, None)
                else:
                    partition[d] = (partition_of(device.supervisee_id, self.partitions)
                                    if device.supervisee_id else None)
        none = np.zeros(0, dtype=np.int64)
        return Built(
            registry, evaluator, (none, none),
            OrderGate.from_registry(registry.devices, registry.positioning)
            if self.orders_required else None, partition,
            {d for d in rows.device_ids
             if d in old_registry.devices and d not in registry.devices},
            {s for s in rows.supervisee_ids
             if s in old_registry.supervisees and s not in registry.supervisees},
            escalation, change.cleared)

    def _install(self, built: Built, old: Evaluator) -> None:
        """Swap the new registry in, in one step of the event loop: a batch decided by the old
        evaluator is folded by it and recorded by device id (see :meth:`commit`)."""
        evaluator = built.evaluator
        if evaluator is not self.evaluator:
            device_ids = evaluator.roster.device_ids
            activity = self.evaluator.activity
            if self.evaluator is not old or activity is not old.activity:
                evaluator.activity = activity.renumbered(device_ids)
            elif built.cleared is not None:
                evaluator.activity = activity.patched(device_ids, built.cleared)
            else:
                evaluator.activity = activity.moved(device_ids, built.numbering,
                                                    evaluator.activity)
            evaluator.last_tick = self.evaluator.last_tick
            self.evaluator = evaluator
        if built.gate is not None:
            self.gate = built.gate
        if built.device_partition is not None:
            self._device_partition = built.device_partition
        self._escalation = built.escalation
        self._elsewhere = {}
        self.tracker.forget(built.devices_gone, built.supervisees_gone)
        self.registry = built.registry

    async def process(self, messages: Sequence[RawMessage]) -> None:
        """Handle one batch of MQTT messages. Raises on database failure; then retry the same
        batch."""
        await self.commit(await self.prepare(messages))

    async def prepare(self, messages: Sequence[RawMessage]) -> Prepared:
        """The work on a batch that needs no episode state and no database: decode, validate,
        geofence decisions, the COPY stream. It may run while an earlier batch commits."""
        unknown = {d for d in map(self._unknown_device, messages) if d is not None}
        if unknown and not await self._held_elsewhere(unknown):
            await self._reload_if_stale()  # a device registered since the last load
        t0 = time.perf_counter()
        misrouted: list[Rejection] = []
        if self.partitions > 1:
            messages, misrouted = self._split_misrouted(messages)
        decoded = decode_batch(messages, self.limits, self.evaluator.knows)
        decoded.rejections.extend(misrouted)
        decoded.fixes = self._under_order(decoded.fixes)
        self.stats.decode_s += time.perf_counter() - t0
        return self._prepared(decoded, len(messages))

    def _split_misrouted(
        self, messages: Sequence[RawMessage]
    ) -> tuple[list[RawMessage], list[Rejection]]:
        """Refuse messages of registered devices on another partition's topic: evaluating them
        here would split a supervisee's episodes between two processes."""
        routed, misrouted = [], []
        for m in messages:
            device = parse_topic(m.topic)[1]
            want = (self._device_partition.get(device, self._elsewhere.get(device))
                    if device is not None else None)
            got = topic_partition(m.topic)
            if want is None or want == got:
                routed.append(m)
            else:
                where = "without a prefix" if got is None else f"under p{got}/"
                misrouted.append(Rejection(
                    m.topic, m.payload,
                    f"device {device!r} belongs to partition {want}: it must publish under "
                    f"the topic prefix p{want}/, not {where}", device, m.received_at))
        return routed, misrouted

    def _prepared(self, decoded: DecodedBatch, n_messages: int) -> Prepared:
        t0 = time.perf_counter()
        evaluator = self.evaluator
        prepared = Prepared(decoded, n_messages, evaluator,
                            evaluator.decide(decoded.fixes, decoded.events),
                            copy_buffer(decoded.fixes) if len(decoded.fixes) else b"")
        self.stats.decide_s += time.perf_counter() - t0
        return prepared

    async def process_decoded(self, decoded: Decoded) -> Decoded:
        """Handle fixes decoded elsewhere (the HTTP intake): same checks, same path. Returns what
        was accepted and refused."""
        device = decoded.fixes[0].device_id if decoded.fixes else None
        if (device is not None and not self.evaluator.knows(device)
                and not await self._held_elsewhere({device})):
            await self._reload_if_stale()
        accepted = Decoded(topic=decoded.topic, payload=decoded.payload,
                           rejections=list(decoded.rejections))
        if (device is not None and not self.evaluator.knows(device)
                and device not in self._elsewhere):
            accepted.rejections.append(unknown_device(decoded))
        else:
            accepted.fixes = list(decoded.fixes)
        partition = (self._device_partition.get(device, self._elsewhere.get(device))
                     if accepted.fixes and device is not None else None)
        if partition is not None and self.owned is not None and partition not in self.owned:
            await self._forward(accepted, partition)
            accepted.fixes = []
        fixes = self._under_order(FixBatch.from_fixes(accepted.fixes))
        newest = np.asarray([fixes.ts.max()] if len(fixes) else [], dtype=np.float64)
        await self.commit(self._prepared(DecodedBatch(fixes, accepted.rejections, newest), 1))
        return accepted

    def _under_order(self, fixes: FixBatch) -> FixBatch:
        """The fixes with a legal basis: those of gated bracelets outside every order in force
        are counted, their devices' last-heard times kept, and nothing else of them."""
        gate = self.gate
        if not gate.active or not len(fixes):
            return fixes
        covered = gate.covered(fixes.device_id, fixes.ts)
        if covered.all():
            return fixes
        dropped = np.flatnonzero(~covered)
        self.stats.fixes_without_order += len(dropped)
        heard = self.heard_without_order
        for d, t in zip(fixes.device_id[dropped].tolist(),
                        fixes.received_at[dropped].tolist(), strict=True):
            if t > heard.get(d, -math.inf):
                heard[d] = t
        return fixes.take(covered)

    async def _forward(self, accepted: Decoded, partition: int) -> None:
        """Hand HTTP fixes to the process that owns their partition, as a native upload."""
        if self.forward is None:
            raise RuntimeError("no forwarder for fixes of other partitions")
        fixes = accepted.fixes
        payload = orjson.dumps([
            {"ts": f.ts, "lon": f.lon, "lat": f.lat, "acc": f.accuracy_m,
             **({} if math.isnan(f.battery) else {"batt": f.battery})} for f in fixes])
        await self.forward(native_topic(fixes[0].device_id, partition), payload)

    async def refresh_registry(self) -> bool:
        """Bring the registry up to date if it changed since the last look (one cheap read
        when it did not); say whether it did."""
        async with self.pool.connection() as conn:
            version = await registry_version(conn)
        if version == self.registry_version:
            self._looked_at = time.monotonic()  # nothing written since: the log holds it all
            return False
        await self.reload_registry()
        return True

    async def _reload_if_stale(self) -> None:
        if time.monotonic() - self._registry_loaded_at > self._registry_min_reload_s:
            await self.reload_registry()

    async def commit(self, prepared: Prepared) -> None:
        """Fold, store in one transaction, then publish. One batch at a time: episodes are
        staged from the state the previous batch committed. The newest fix time of each message
        feeds the commit-lag histogram (for a buffered upload, its newest fix is about when it
        was sent)."""
        t0 = time.perf_counter()
        batch, n_messages = prepared.decoded, prepared.n_messages
        fixes, rejections = batch.fixes, batch.rejections
        async with self._commit_lock:
            staging = self.tracker.stage()
            changes = prepared.evaluator.fold(prepared.decided, staging)
            reloaded = prepared.evaluator is not self.evaluator  # since the batch was decided
            if reloaded:
                self.evaluator.forget_live()
            t1 = time.perf_counter()
            async with self.pool.connection() as conn, conn.transaction():
                stored = await insert_copy(conn, prepared.copy) if prepared.copy else 0
                if len(fixes):  # fixes of a day already over: what was kept of it is stale
                    await mark_late(conn, fixes, self.clock())
                await insert_rejections(conn, rejections)
                if batch.events:
                    await insert_events(conn, batch.events)
                now = self.clock()
                for change in changes:
                    staging.set_alert_id(change, await apply_change(conn, change, now))
                names = await supervisee_names(conn, (c.key.supervisee_id for c in changes))
            self.tracker.commit(staging)
            # The batch is stored: nothing from here on may raise, or it would be quarantined
            # as well. (``record`` goes by device id when the numbering changed since.)
            self.evaluator.record(prepared.decided)
            if reloaded:
                self._forget_unregistered(batch)
        committed = self.clock()
        self.stats.fold_s += t1 - t0
        self.stats.store_s += time.perf_counter() - t1

        s = self.stats
        if len(batch.newest):
            s.commit_lag.add((committed - batch.newest) * 1000)
        s.batches += 1
        s.messages_received += n_messages
        s.events_received += len(batch.events)
        s.fixes_received += len(fixes)
        s.fixes_stored += stored
        s.fixes_duplicate += len(fixes) - stored
        s.quarantined += len(rejections)
        s.devices_seen.update(fixes.device_id.tolist())
        s.alerts_opened += sum(c.action == "opened" for c in changes)
        s.alerts_cleared += sum(c.action == "cleared" for c in changes)
        s.last_batch_ms = (time.perf_counter() - t0) * 1000
        self._publish(fixes, changes, prepared.evaluator, names)

    def _forget_unregistered(self, batch: DecodedBatch) -> None:
        """The evaluator of the registry before a reload folded ``batch``: what it staged about
        devices the reload removed is forgotten (the reload forgot the rest)."""
        devices = set(batch.fixes.device_id.tolist()) | {e.device_id for e in batch.events}
        self.tracker.forget({d for d in devices if not self.evaluator.knows(d)}, set())

    async def tick(self) -> None:
        """Run the clock's rules (lost contact, device off, no fix, curfew starts) and escalate
        alerts nobody acknowledged in time; store and publish what changed."""
        if sum(backlog() for backlog in self.backlogs) > BACKLOG_LIMIT:
            return
        async with self._commit_lock:
            now = self.clock()
            staging = self.tracker.stage()
            changes = self.evaluator.tick(now, staging)
            escalated: list[dict[str, Any]] = []
            async with self.pool.connection() as conn, conn.transaction():
                for change in changes:
                    staging.set_alert_id(change, await apply_change(conn, change, now))
                names = await supervisee_names(conn, (c.key.supervisee_id for c in changes))
                groups, people = self._escalation
                for after_s, plans, others in groups:
                    escalated += await escalate_overdue(conn, now, after_s, plans, others, people)
            self.tracker.commit(staging)
            self.tracker.prune(now)
        self.stats.alerts_opened += sum(c.action == "opened" for c in changes)
        self.stats.alerts_cleared += sum(c.action == "cleared" for c in changes)
        for change in changes:
            self.bus.publish(alert_event(change, names, self.registry, self.evaluator.zoneset))
        for alert in escalated:
            self.bus.publish({"type": "alert", "action": "escalated", "alert": alert})

    def _escalation_groups(self) -> list[EscalationGroup]:
        """(escalate_after_s, plans, others) per distinct setting, worked out with each
        registry (see :func:`escalation_groups`)."""
        return self._escalation[0]

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

    async def adopt(self, owned: frozenset[int]) -> None:
        """Evaluate the partitions ``owned`` from now on (``partition_ownership = "leases"``:
        cordon/leases.py takes and gives back partitions while the engine runs). Call it before
        reading a partition newly owned: what this process may still hold of its people, from
        an earlier holding, is forgotten, and what their last holder left in storage is
        restored, as :meth:`start` does for everyone — the live episodes (so an open alert is
        not opened twice), the device clocks (so a fix the broker redelivers is recognised as
        evaluated) and the devices' activity (so the timers go on from where they were).
        Partitions given back (their reading stopped first) take everything of their people
        with them, open episodes too: the timers must not clear an alert that another process
        now carries on."""
        before = self.owned or frozenset()
        new, gone = owned - before, before - owned
        gone_people, gone_devices = self._people_of(gone)
        self.owned = owned
        await self.reload_registry()  # the registry follows ``owned``
        if gone:
            # Under the commit lock: a timer tick under way finishes first (it began while
            # these people were still held here).
            async with self._commit_lock:
                self._forget_people(gone_people, gone_devices)
        if not new:
            return
        people, devices = self._people_of(new)
        async with self.pool.connection() as conn:
            episodes = [(key, alert_id) for key, alert_id in await live_episodes(conn)
                        if partition_of(key.supervisee_id, self.partitions) in new]
            clocks = await device_clocks(conn, devices=sorted(devices))
            activity = await device_activity(conn, devices=sorted(devices))
        # Under the commit lock: a timer tick stages episodes of everyone and commits them
        # after its own writes; it must not put back what is forgotten here.
        async with self._commit_lock:
            self._forget_people(people, devices)
            for key, alert_id in episodes:
                self.tracker.restore_open(key, alert_id)
            self.tracker.clocks.update(clocks)
            self.evaluator.activity = restored_activity(self.evaluator.activity, activity,
                                                         self.accuracy_factor)
        log.info("partitions %s adopted: %d supervisees, %d live alert episodes, %d device "
                 "clocks restored", sorted(new), len(people), len(episodes), len(clocks))

    def _people_of(self, partitions: frozenset[int]) -> tuple[set[str], set[str]]:
        """The supervisees of ``partitions`` this process knows of (in its registry, or with
        an episode), and their devices."""
        if not partitions:
            return set(), set()
        of = self.partitions
        people = {sid for sid in self.registry.supervisees if partition_of(sid, of) in partitions}
        people |= {key.supervisee_id for key in self.tracker.states
                   if partition_of(key.supervisee_id, of) in partitions}
        devices = {d for d, sid, _kind in owners(self.registry.devices) if sid in people}
        return people, devices

    def _forget_people(self, people: set[str], devices: set[str]) -> None:
        """Forget every episode (open ones too: their alert may have been cleared since by
        another process), device clock, link state and activity of ``people`` and their
        ``devices`` — what an earlier holding of their partition left in this process."""
        tracker = self.tracker
        for key, st in list(tracker.states.items()):
            if st.open and key.supervisee_id in people:
                tracker.states[key] = replace(st, open=False)  # so that forget drops it
        tracker.forget(devices, people)
        activity = self.evaluator.activity
        kept = np.asarray([i for i, d in enumerate(activity.device_ids) if d not in devices],
                          dtype=np.int64)
        if len(kept) < len(activity.device_ids):
            self.evaluator.activity = activity.moved(activity.device_ids, (kept, kept))

    def _unknown_device(self, message: RawMessage) -> str | None:
        """The device of a message if the registry here does not hold it."""
        device_id = parse_topic(message.topic)[1]
        return None if device_id is None or self.evaluator.knows(device_id) else device_id

    async def _held_elsewhere(self, devices: set[str]) -> bool:
        """Whether all these devices, unknown here, belong to people of partitions this
        process does not hold (learning their partitions, see :meth:`_split_misrouted` and
        :meth:`process_decoded`). One small read, and only for devices not asked about since
        the last registry change."""
        if self.held() is None:
            return False
        ask = devices - self._elsewhere.keys()
        if ask:
            async with self.pool.connection() as conn:
                owners = await read_owners(conn, ask)
            for d, sid in owners.items():
                k = partition_of(sid, self.partitions)
                if k is not None and k not in (self.owned or ()):
                    self._elsewhere[d] = k
        return devices <= self._elsewhere.keys()

    def _publish(self, fixes: FixBatch, changes: Sequence[AlertChange],
                 decider: Evaluator, names: Mapping[str, str]) -> None:
        """``decider``: the evaluator that decided the batch, which knows each of its devices
        (the current one may not: a reload may have removed one since); ``names``: the
        names of the people of ``changes``."""
        for change in changes:
            self.bus.publish(alert_event(change, names, self.registry, decider.zoneset))
        if not len(fixes):
            return
        # The newest fix of each device in the batch.
        newest = newest_of_each(decider.device_numbers(fixes.device_id), fixes.ts)
        sent_at = time.time()
        supervisees = self.registry.supervisees
        evaluator = self.evaluator
        for i in newest.tolist():
            device = fixes.device_id[i]
            if not evaluator.knows(device):
                continue  # removed since: the registry no longer says whose it is
            sid = evaluator.supervisee_of(device)
            self.bus.publish(
                {
                    "type": "position",
                    "device_id": device,
                    "supervisee_id": sid,
                    # Who may see it (see api/routes/live.py); None: no supervisee's device.
                    "jurisdiction_id": supervisees[sid].jurisdiction_id
                    if sid in supervisees else None,
                    "ts": float(fixes.ts[i]),
                    "lon": float(fixes.lon[i]),
                    "lat": float(fixes.lat[i]),
                    "accuracy_m": float(fixes.accuracy_m[i]),
                    "sent_at": sent_at,
                }
            )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic garbage collection while a new registry is loaded or built. Either makes
    millions of objects and no cyclic garbage (a registry and an evaluator hold no cycles);
    each full collection it set off walked them all while holding the interpreter's lock,
    pausing the event loop for 40–220 ms at a time (measured at 100,000 supervisees). Where
    the engine keeps its heap frozen (cordon/engine.py) the new objects are frozen with it, so
    that the collector never walks them at all."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count():
            gc.freeze()
        if enabled:
            gc.enable()


def compiled_again(registry: Registry, old: Evaluator, old_registry: Registry,
                   same_people: bool) -> tuple[ZoneSet | None, AssignmentSet | None]:
    """What of the old evaluator's compiled zones and assignments the new registry can
    keep (None: compile anew): all of them when no zone changed (the patched registry then
    holds the very same list); a copy with some circles redrawn in place; the assignments
    too when no one's zones, and no schedule, changed."""
    zoneset, before = old.roster.zoneset, old_registry.zones
    if not before or len(zoneset.zones) != len(before) or len(registry.zones) != len(before):
        return None, None
    same_schedules = True
    if registry.zones is not before:
        redrawn = {i: registry.zones[i] for i in registry.zones.differing(before).tolist()}
        new = zoneset.with_circles(redrawn, zones=registry.zones)
        if new is None:
            return None, None
        zoneset = new
        same_schedules = all(before.schedules[i] == z.schedule for i, z in redrawn.items())
    # (Not those of a roster patched since it was built: they hold dead assignments.)
    assignments = (old.roster.assignments.on(zoneset) if same_people and same_schedules
                   and not old.roster.dead_assignments else None)
    return zoneset, assignments


def patched_zones(zoneset: ZoneSet, before: ZoneList, after: ZoneList,
                  changed: set[str], index: dict[str, int]) -> tuple[ZoneSet, list[int]] | None:
    """The compiled zones of ``after``, the zones of a registry patched from one with
    ``before`` (compiled as ``zoneset``), where the zones ``changed`` were read again
    (:func:`store.registry_changes.patched` keeps places and adds last), and the numbers
    of those redrawn: ``zoneset`` itself when none changed, a copy with circles redrawn or
    added (:meth:`~geofence.zoneset.ZoneSet.with_circles`); None when a zone was dropped
    or one not a circle changed: then compile anew."""
    n = len(before)
    if len(zoneset.zones) != n or len(after) < n:
        return None
    redrawn: dict[int, Zone] = {}
    for zid in changed:
        i = zoneset.index.get(zid)
        if i is None:
            continue
        if after.ids[i] != zid:
            return None  # dropped: the zones after it moved up
        if after[i] != before[i]:
            redrawn[i] = after[i]
    if not redrawn and len(after) == n:
        return zoneset, []
    new = zoneset.with_circles(redrawn, after[n:], index, after)
    return (new, sorted(redrawn)) if new is not None else None


# (escalate_after_s, plans, others): the alerts of people on those plans escalate after that
# long — or, with ``others``, of everyone on none of them (see store.alerts.escalate_overdue).
EscalationGroup = tuple[float, tuple[str, ...], bool]
# The groups, and the people whose alerts this process escalates (None: everyone's).
Escalation = tuple[list[EscalationGroup], list[str] | None]


def escalation_groups(registry: Registry) -> Escalation:
    """When the alerts of whom escalate: a group per distinct setting of the plans, the
    default plan's taking everyone on another plan (or on none, or on one that does not
    parse). Worked out from the plans alone, so a registry change costs it nothing; the people
    are named only when the registry holds some partitions (their alerts are this process's
    to escalate)."""
    default = DEFAULT_PLAN.escalate_after_s
    by_after: dict[float, list[str]] = {}
    for pid, plan in sorted(registry.plans.items()):
        if plan.escalate_after_s != default:
            by_after.setdefault(plan.escalate_after_s, []).append(pid)
    special = tuple(sorted(pid for pids in by_after.values() for pid in pids))
    groups: list[EscalationGroup] = [(default, special, True)] + [
        (after_s, tuple(pids), False) for after_s, pids in sorted(by_after.items())]
    return groups, (list(registry.supervisees) if registry.held is not None else None)


def alert_event(change: AlertChange, names: Mapping[str, str], registry: Registry,
                zones: ZoneSet) -> dict[str, Any]:
    """An alert change as the live feeds send it; ``names``: its person's, read from the
    database with the change (see :func:`store.alerts.supervisee_names`); ``zones``: the
    evaluator's, which names the zone an episode is about (looked up by id: a province has
    millions of zones)."""
    n = zones.index.get(change.key.subject)
    person = registry.supervisees.get(change.key.supervisee_id)
    return {
        "type": "alert",
        "action": change.action,
        "alert": {
            "id": change.alert_id,
            "kind": change.key.kind,
            "severity": change.severity,
            "status": "open" if change.action == "opened" else "cleared",
            "supervisee_id": change.key.supervisee_id,
            "supervisee_name": names.get(change.key.supervisee_id),
            "jurisdiction_id": person.jurisdiction_id if person else None,
            "device_id": change.device_id,
            "subject": change.key.subject,
            "subject_name": zones.zones.names[n] if n is not None else change.key.subject,
            "at": change.at,
            "lon": change.lon,
            "lat": change.lat,
        },
    }
