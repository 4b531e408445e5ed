"""The engine process: MQTT intake, the pipeline, and the API, on one event loop.

``cordon serve`` runs this against a configured broker and database; ``cordon demo`` runs it
against the private ones it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import uvicorn
from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from api.app import create_app
from api.state import ApiState
from cordon.services.ports import require_free
from cordon.settings import Settings, SettingsError
from devices.formats import Limits
from ingest.http import osmand_router
from ingest.mqtt import MqttConfig, MqttIntake
from ingest.pipeline import Pipeline
from ingest.stats import IngestStats
from store.database import migrate
from store.fixes import drop_fixes_older_than

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the engine owns shutdown."""

    def capture_signals(self):  # type: ignore[override]
        return contextlib.nullcontext()


async def run_engine(
    settings: Settings,
    stop: asyncio.Event,
    on_ready: Callable[[], Awaitable[None] | None] | None = None,
) -> None:
    """Run until ``stop`` is set (or a part fails, which is raised)."""
    if not settings.database_url:
        raise SettingsError("no database configured: set CORDON_DATABASE_URL or database_url")
    host, port, username, password = settings.mqtt_parts()
    require_free(settings.http_port, "HTTP", "--http-port", settings.http_host)

    schema = await migrate(settings.database_url, settings.fix_chunk_interval)
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
        pipeline = Pipeline(
            pool,
            bus,
            stats,
            Limits(default_accuracy_m=settings.default_accuracy_m),
            confirm_fixes=settings.confirm_fixes,
        )
        await pipeline.start()
        intake = MqttIntake(
            MqttConfig(
                host=host,
                port=port,
                username=username,
                password=password,
                client_id=settings.mqtt_client_id,
                shared_group=settings.mqtt_shared_group,
                batch_max=settings.batch_max,
                batch_ms=settings.batch_ms,
            ),
            pipeline,
            stats,
        )
        app = create_app(
            ApiState(pool, bus, stats, schema.timescaledb, settings.map_tile_url)
        )
        app.include_router(osmand_router(pipeline))
        server = _EmbeddedServer(
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

        async def refresh_registry() -> None:
            while True:
                await asyncio.sleep(settings.registry_refresh_s)
                try:
                    await pipeline.refresh_registry()
                except Exception:  # noqa: BLE001 — the next round retries
                    log.warning("registry reload failed", exc_info=True)

        async def enforce_retention() -> None:
            while settings.fix_retention_days:
                try:
                    async with pool.connection() as conn:
                        dropped = await drop_fixes_older_than(conn, settings.fix_retention_days)
                    if dropped:
                        log.info("retention: dropped %d chunks/rows of fixes older than %g days",
                                 dropped, settings.fix_retention_days)
                except Exception:  # noqa: BLE001 — the next round retries
                    log.warning("retention run failed", exc_info=True)
                await asyncio.sleep(3600)

        async def announce() -> None:
            while not server.started:
                await asyncio.sleep(0.02)
            if on_ready is not None:
                result = on_ready()
                if asyncio.iscoroutine(result):
                    await result

        tasks = [
            asyncio.create_task(intake.run(), name="mqtt-intake"),
            asyncio.create_task(server.serve(), name="http"),
            asyncio.create_task(refresh_registry(), name="registry-refresh"),
            asyncio.create_task(announce(), name="announce"),
            asyncio.create_task(enforce_retention(), name="retention"),
        ]
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait(
                [stopper, *tasks[:3]], return_when=asyncio.FIRST_COMPLETED
            )
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()
        finally:
            server.should_exit = True
            for t in (tasks[0], *tasks[2:], stopper):
                t.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
    finally:
        await pool.close()
