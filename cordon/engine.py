"""The engine process: MQTT intake, the pipeline, and the API, on one event loop.

``cordon serve`` runs this against a configured broker and database; ``cordon demo`` runs it
against the private ones it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import numba
import uvicorn
from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from alerts.warmup import warm_up
from api.app import create_app
from api.state import ApiState
from cordon.broker_auth import BrokerAuthKeeper
from cordon.consumers import run_consumers
from cordon.leases import LeaseKeeper
from cordon.partition_readers import PartitionReaders
from cordon.services.ports import require_free
from cordon.settings import Settings, SettingsError, check_partition_ownership
from devices.formats import Limits
from ingest.check_ins import run_check_ins
from ingest.clock import parse_clock
from ingest.commands import DeviceCommands
from ingest.device_gate import DeviceGate
from ingest.http import osmand_router
from ingest.mqtt import MqttConfig, MqttIntake
from ingest.pipeline import Pipeline
from ingest.relay import RelayReceiver, RelaySender
from ingest.stats import IngestStats
from store.colocations import TogetherSettings, colocation_pass, due_passes
from store.database import migrate
from store.fixes import drop_fixes_older_than
from store.kept_days import due_days, keep_day
from store.leave import LeaveLimits
from store.quarantine import drop_quarantine_older_than

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the engine owns shutdown."""

    def capture_signals(self):  # type: ignore[override]
        return contextlib.nullcontext()


async def run_engine(
    settings: Settings,
    stop: asyncio.Event,
    on_ready: Callable[[], Awaitable[None] | None] | None = None,
    consumer: int = 0,
) -> None:
    """Run until ``stop`` is set (or a part fails, which is raised).

    Consumer 0 migrates the schema, serves the API and starts the other consumers (see
    :mod:`cordon.consumers`); consumer ``i`` > 0 only reads its partitions."""
    if not settings.database_url:
        raise SettingsError("no database configured: set CORDON_DATABASE_URL or database_url")
    # The relay's paho network thread and the event loop share the GIL. When the loop lets go of
    # it (a NumPy call, a socket wait), a busy network thread keeps it for the whole switch
    # interval; at the default 5 ms a batch would pay that many times over.
    sys.setswitchinterval(settings.gil_switch_ms / 1000)
    # The engine's batches are small (a few milliseconds of fixes) and the cores are shared with
    # the broker, the database and the other consumers: waking and spin-waiting a pool of
    # kernel threads for each batch cost three times the work it split (measured with
    # benchmarks.e2e). One process per core is the parallelism.
    if settings.kernel_threads < 0:
        raise SettingsError(f"kernel_threads must be 0 (all cores) or more, not "
                            f"{settings.kernel_threads}")
    numba.set_num_threads(settings.kernel_threads or numba.config.NUMBA_NUM_THREADS)
    for name in ("fix_retention_days", "quarantine_retention_days"):
        days = getattr(settings, name)
        if days is not None and not days > 0:  # a negative age would delete everything
            raise SettingsError(f"{name} must be more than 0 days, or unset to keep "
                                f"everything, not {days}")
    if settings.positioning_orders not in ("required", "off"):
        raise SettingsError(f"positioning_orders must be 'required' or 'off', not "
                            f"{settings.positioning_orders!r}")
    if not settings.positioning_order_max_days > 0:
        raise SettingsError(f"positioning_order_max_days must be more than 0, not "
                            f"{settings.positioning_order_max_days}")
    check_partition_ownership(settings)
    leased = settings.partition_ownership == "leases"
    partitions, consumers = settings.mqtt_partitions, settings.consumers
    if leased:
        # Leases share the partitions among whichever processes are alive, here or on other
        # hosts (``cordon serve --consumer i``, each its own number: its relay's name); more
        # processes than partitions stand by to take one over.
        if consumers < 1:
            raise SettingsError(f"consumers must be 1 or more, not {consumers}")
        if consumer < 0:
            raise SettingsError(f"--consumer must be 0 (the API process) or more, not "
                                f"{consumer}")
    else:
        if partitions < 1 or not 1 <= consumers <= partitions:
            raise SettingsError(
                f"consumers ({consumers}) must be between 1 and mqtt_partitions ({partitions}): "
                "each consumer process reads at least one partition of the device topics")
        if not 0 <= consumer < consumers:
            raise SettingsError(f"consumer {consumer} does not exist: consumers is {consumers}")
    api = consumer == 0
    host, port, username, password = settings.mqtt_parts()
    # With leases, no partition is this process's until its lease keeper takes it (below).
    owned: list[int | None] = ([] if leased
                               else [k for k in range(partitions) if k % consumers == consumer]
                               if partitions > 1 else [None])
    # With partitions, consumer 0 also reads the topics without a prefix: what a misconfigured
    # device sends there is quarantined with the reason, not dropped by the broker unread.
    subscribed = owned + ([None] if partitions > 1 and api else [])

    # Consumer 0 keeps the broker's device credentials in step with the registry, if asked to.
    keeper = BrokerAuthKeeper.from_settings(settings) if api else None
    timescaledb = None
    if api:
        require_free(settings.http_port, "HTTP", "--http-port", settings.http_host)
        schema = await migrate(settings.database_url, settings.fix_chunk_interval)
        timescaledb = schema.timescaledb
        log.info(
            "database schema v%d (%s)",
            schema.version,
            f"TimescaleDB {schema.timescaledb}" if schema.timescaledb else "plain PostgreSQL",
        )
    pool = AsyncConnectionPool(
        settings.database_url, min_size=2, max_size=8, open=False, kwargs={"autocommit": False}
    )
    await pool.open(wait=True, timeout=30)
    try:
        bus = LiveBus()
        stats = IngestStats(database_ok=True)
        receiver = (RelayReceiver(host, port, username, password, bus, stats)
                    if api and (consumers > 1 or leased) else None)
        try:
            clock = parse_clock(settings.clock)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        pipeline = Pipeline(
            pool,
            bus,
            stats,
            Limits(default_accuracy_m=settings.default_accuracy_m),
            confirm_fixes=settings.confirm_fixes,
            confirm_gap_s=settings.confirm_gap_s,
            accuracy_factor=settings.accuracy_factor,
            partitions=partitions,
            owned=frozenset(k for k in owned if k is not None) if partitions > 1 else None,
            forward=receiver.forward if receiver else None,
            clock=clock,
            orders_required=settings.positioning_orders == "required",
        )
        # Compile the geofence kernels now, not on the first batch with the loop blocked.
        log.info("geofence kernels ready in %.1f s", await asyncio.to_thread(warm_up))
        await pipeline.start()
        _settle_heap()
        if keeper is not None:
            # Before the intakes connect: the files may predate registry changes made while
            # the engine was down.
            await keeper.sync(pool)

        def intake(k: int | None, may_store: Callable[[], bool] | None = None) -> MqttIntake:
            return MqttIntake(
                MqttConfig(
                    host=host,
                    port=port,
                    username=username,
                    password=password,
                    # One persistent session per partition, whichever process holds it.
                    client_id=(f"{settings.mqtt_client_id}-p{k}" if k is not None
                               else settings.mqtt_client_id),
                    shared_group=settings.mqtt_shared_group,
                    partition=k,
                    batch_max=settings.batch_max,
                    batch_ms=settings.batch_ms,
                ),
                pipeline,
                stats,
                may_store,
            )

        intakes = [intake(k) for k in subscribed]

        async def refresh_registry() -> None:
            while True:
                await asyncio.sleep(settings.registry_refresh_s)
                try:
                    changed = await refresh_once(pipeline)
                    # The engine knows a new device before the broker admits it.
                    if keeper is not None and (changed or keeper.stale):
                        keeper.stale = True
                        await keeper.sync(pool)
                except Exception:  # noqa: BLE001 — the next round retries
                    log.warning("registry reload failed", exc_info=True)

        essential = [asyncio.create_task(i.run(), name=f"mqtt-intake-{i.config.partition}")
                     for i in intakes]
        async def run_timers() -> None:
            await asyncio.sleep(settings.timers_start_after_s)
            while True:
                try:
                    await pipeline.tick()
                except Exception:  # noqa: BLE001 — the database may be down: the next tick retries
                    log.warning("timer tick failed", exc_info=True)
                await asyncio.sleep(settings.timer_tick_s)

        if leased:
            if not api:
                # A process standing by (no partition yet) has no broker session that could
                # be down; its intakes report their own once it reads.
                stats.broker_connected = True
            readers = PartitionReaders(pipeline, intake)
            lease_keeper = LeaseKeeper(pool, partitions, readers, settings.lease_ttl_s,
                                       settings.lease_renew_s)
            log.info("partitions by lease as %s", lease_keeper.owner)
            essential.append(asyncio.create_task(lease_keeper.run(), name="lease-keeper"))
            essential.append(asyncio.create_task(readers.failure(), name="partition-readers"))
        essential.append(asyncio.create_task(refresh_registry(), name="registry-refresh"))
        essential.append(asyncio.create_task(run_timers(), name="timers"))
        others: list[asyncio.Task] = []
        server = None
        http: asyncio.Task | None = None
        if api:
            server = _api_server(settings, pool, bus, stats, timescaledb, pipeline)
            # Check-ins (信息化核查): the phones' remote commands, the schedules' requests.
            commands = DeviceCommands(host, port, username, password,
                                      f"{settings.mqtt_client_id}-commands", partitions)
            server.config.app.state.check_in_commands = commands
            others.append(asyncio.create_task(commands.run(), name="device-commands"))
            others.append(asyncio.create_task(run_check_ins(
                pool, commands, clock, partitions, (settings.device_secret or "").encode()),
                name="check-ins"))
            http = asyncio.create_task(server.serve(), name="http")
            essential.append(http)
            others.append(asyncio.create_task(_enforce_retention(settings, pool),
                                              name="retention"))
            if settings.colocation_pass != "off":
                others.append(asyncio.create_task(_colocation_passes(settings, pool, clock),
                                                  name="colocation-pass"))
            if settings.day_pass != "off":
                others.append(asyncio.create_task(_day_passes(settings, pool, clock),
                                                  name="day-pass"))
            others.append(asyncio.create_task(_announce(server, on_ready), name="announce"))
            if receiver is not None:
                essential.append(asyncio.create_task(receiver.run(), name="relay-receiver"))
            if consumers > 1:
                essential.append(asyncio.create_task(run_consumers(settings), name="consumers"))
        else:
            sender = RelaySender(host, port, username, password, consumer, bus, stats)
            essential.append(asyncio.create_task(sender.run(), name="relay-sender"))
            if on_ready is not None:
                others.append(asyncio.create_task(_announce(None, on_ready), name="announce"))
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait(
                [stopper, *essential], return_when=asyncio.FIRST_COMPLETED
            )
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()
        finally:
            if server is not None:
                server.should_exit = True
            tasks = [*essential, *others, stopper]
            for t in tasks:
                if t is not http:  # uvicorn stops itself on should_exit, closing connections
                    t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await pool.close()


def _api_server(settings: Settings, pool: AsyncConnectionPool, bus: LiveBus,
                stats: IngestStats, timescaledb: str | None, pipeline: Pipeline) -> uvicorn.Server:
    app = create_app(ApiState(pool, bus, stats, timescaledb, settings.map_tile_url,
                              accuracy_factor=settings.accuracy_factor,
                              confirm_fixes=settings.confirm_fixes,
                              confirm_gap_s=settings.confirm_gap_s,
                              positioning_order_max_days=settings.positioning_order_max_days,
                              heard_without_order=pipeline.heard_without_order,
                              leave_limits=LeaveLimits(
                                  settings.leave_township_max_days,
                                  settings.leave_county_max_days, settings.permit_max_days,
                                  settings.leave_travel_hours),
                              clock=pipeline.clock))
    try:
        gate = DeviceGate.from_secret(settings.device_secret, stats,
                                      settings.osmand_rate_per_address,
                                      settings.osmand_rate_per_device)
    except ValueError as exc:  # a rate of 0 or less
        raise SettingsError(f"osmand_rate_per_address / osmand_rate_per_device: {exc}") from None
    app.include_router(osmand_router(pipeline, gate))
    return _EmbeddedServer(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            timeout_graceful_shutdown=5,
        )
    )


async def refresh_once(pipeline: Pipeline) -> bool:
    """One round of the registry refresh: the changes applied, then the heap settled (see
    :func:`_settle_heap`). Says whether anything changed. (The caseload benchmark runs it.)"""
    changed = await pipeline.refresh_registry()
    if changed:
        _settle_heap(whole=False)
    return changed


def _settle_heap(whole: bool = True) -> None:
    """Move what the engine holds for good (the registry, the compiled zones, the episode
    states) out of reach of Python's cyclic garbage collector. A full collection walks every
    object in the heap: with the registry of 10,000 supervisees it paused the event loop for
    150–400 ms now and then (measured in the e2e benchmark), and every alert committed in that
    moment reached the officers' screens late. What is frozen is still freed by reference
    counting when dropped, but a cycle among it never would be: so at the start the heap is
    thawed and collected once, then frozen (``whole``). After a registry change only the young
    objects are collected before freezing: the registry and the evaluator hold no cycles (an
    evaluator dropped leaves nothing for the collector), so the old ones went by reference
    counting, and thawing the whole heap would pause the event loop for a walk over every
    supervisee's objects (seconds at 100,000) at every officer's edit."""
    if whole:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()


async def _enforce_retention(settings: Settings, pool: AsyncConnectionPool) -> None:
    """Drop fixes and quarantined input past their retention, hourly (each only if set)."""
    jobs = [(what, days, drop) for what, days, drop in (
        ("chunks/rows of fixes", settings.fix_retention_days, drop_fixes_older_than),
        ("quarantined rows", settings.quarantine_retention_days, drop_quarantine_older_than),
    ) if days]
    while jobs:
        for what, days, drop in jobs:
            try:
                async with pool.connection() as conn:
                    dropped = await drop(conn, days)
                if dropped:
                    log.info("retention: dropped %d %s older than %g days", dropped, what, days)
            except Exception:  # noqa: BLE001 — the next round retries
                log.warning("retention run (%s) failed", what, exc_info=True)
        await asyncio.sleep(3600)


async def _colocation_passes(settings: Settings, pool: AsyncConnectionPool,
                             clock: Callable[[], float]) -> None:
    """The nightly co-location pass (:mod:`store.colocations`): each local day's, once the day
    has been over ``colocation_delay_h``, checked every ten minutes on the engine's clock."""
    together = TogetherSettings(radius_m=settings.colocation_radius_m,
                                min_s=settings.colocation_min_minutes * 60.0,
                                piece_people=settings.colocation_piece_people)
    delay = timedelta(hours=settings.colocation_delay_h)
    while True:
        try:
            async with pool.connection() as conn:
                due = await due_passes(conn, datetime.fromtimestamp(clock(), UTC), delay)
            for day, zone in due:
                async with pool.connection() as conn:
                    done = await colocation_pass(conn, day, zone, together, now=clock())
                log.info("co-location pass %s %s: %d people, %d fixes, %d meetings in %.1f s",
                         day, zone, done.people, done.fixes, done.meetings, done.seconds)
        except Exception:  # noqa: BLE001 — the next round retries
            log.warning("co-location pass failed", exc_info=True)
        await asyncio.sleep(600)


async def _day_passes(settings: Settings, pool: AsyncConnectionPool,
                      clock: Callable[[], float]) -> None:
    """The nightly day pass (:mod:`store.kept_days`): each UTC day once it has been over
    ``day_pass_delay_h``, checked every ten minutes on the engine's clock."""
    delay = timedelta(hours=settings.day_pass_delay_h)
    while True:
        try:
            async with pool.connection() as conn:
                due = await due_days(conn, datetime.fromtimestamp(clock(), UTC), delay)
            for day in due:
                async with pool.connection() as conn:
                    done = await keep_day(conn, day)
                log.info("day pass %s: %d devices, %d fixes in %.1f s", day, done.devices,
                         done.fixes, done.seconds)
        except Exception:  # noqa: BLE001 — the next round retries
            log.warning("day pass failed", exc_info=True)
        await asyncio.sleep(600)


async def _announce(server: uvicorn.Server | None,
                    on_ready: Callable[[], Awaitable[None] | None] | None) -> None:
    while server is not None and not server.started:
        await asyncio.sleep(0.02)
    if on_ready is not None:
        result = on_ready()
        if asyncio.iscoroutine(result):
            await result
