"""``cordon demo``: the whole system on one machine with nothing configured.

Starts a private Mosquitto and a private PostgreSQL (with TimescaleDB when installed) from the
system's binaries, loads the demo jurisdiction, runs the engine and API, and drives a simulated
fleet over MQTT. The embedded broker admits only registered devices, each on its own topics,
with credentials the engine keeps in step with the registry; the fleet publishes as a relay
user. Ctrl-C stops everything, in order, and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.auth import hash_password
from cordon.broker_auth import BrokerAuthKeeper
from cordon.demo_data import DemoWorld, build_demo_world
from cordon.engine import run_engine
from cordon.services import PrivateMosquitto, PrivatePostgres, free_port, require_free
from cordon.settings import Settings
from devices.credentials import ACL_NAME, PASSWD_NAME, device_password
from simulators.demo_fleet import FleetStats, run_fleet
from store.accounts import grant, upsert_user
from store.database import migrate
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee, upsert_zone

log = logging.getLogger(__name__)


async def load_world(database_url: str, world: DemoWorld) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        for j, boundary in world.jurisdictions:
            await upsert_jurisdiction(conn, j, boundary)
        for z in world.zones:
            await upsert_zone(conn, z)
        for s in world.supervisees:
            await upsert_supervisee(conn, s)
        for d in world.devices:
            await upsert_device(conn, d)


DEMO_USER = "demo"
DEMO_FLEET_USER = "demo-fleet"  # the simulated fleet's MQTT relay user


async def demo_account(database_url: str, world: DemoWorld) -> str:
    """(Re)make the demo account — admin of the demo's top jurisdiction — with a fresh random
    password, and return the password."""
    password = secrets.token_urlsafe(12)
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        user_id = await upsert_user(conn, DEMO_USER, hash_password(password), "Demo admin")
        for j, _boundary in world.jurisdictions:
            if j.parent_id is None:
                await grant(conn, user_id, j.id, "admin")
    return password


async def run_demo(
    settings: Settings,
    stop: asyncio.Event,
    mqtt_port: int | None = None,
    db_port: int | None = None,
    supervisees: int = 300,
    interval_s: float = 5.0,
    data_dir: Path | None = None,
) -> None:
    require_free(settings.http_port, "HTTP", "--http-port", settings.http_host)
    if mqtt_port is not None:
        require_free(mqtt_port, "MQTT", "--mqtt-port")
    if db_port is not None:
        require_free(db_port, "PostgreSQL", "--db-port")

    workdir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="cordon-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o711)  # the database may run as the postgres user: let it reach its folder
    broker = pg = None
    fleet_user = fleet_password = None
    try:
        if settings.database_url is None:
            pg = PrivatePostgres(db_port or free_port(), workdir / "postgres")
            await asyncio.to_thread(pg.start)
            settings = replace(settings, database_url=pg.url)
            ts = "with TimescaleDB" if pg.timescaledb else "without TimescaleDB"
            print(f"  private PostgreSQL    {pg.url} ({ts})", flush=True)

        await migrate(settings.database_url, settings.fix_chunk_interval)
        world = build_demo_world(supervisees)
        await load_world(settings.database_url, world)
        password = await demo_account(settings.database_url, world)

        if settings.mqtt_url is None:
            # The embedded broker admits only the registry's devices, each on its own topics
            # (cordon.broker_auth); the simulated fleet publishes for them as a relay user.
            port = mqtt_port or free_port()
            settings = replace(
                settings,
                mqtt_url=f"mqtt://engine:{secrets.token_urlsafe(24)}@127.0.0.1:{port}",
                device_secret=settings.device_secret or secrets.token_urlsafe(32),
                broker_auth_dir=str(workdir / "mqtt-auth"),
                broker_relay_users=DEMO_FLEET_USER,
            )
            keeper = BrokerAuthKeeper.from_settings(settings)
            assert keeper is not None
            async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=1,
                                           open=False) as auth_pool:
                await keeper.sync(auth_pool)
            broker = PrivateMosquitto(port, workdir / "mqtt",
                                      password_file=keeper.directory / PASSWD_NAME,
                                      acl_file=keeper.directory / ACL_NAME)
            await asyncio.to_thread(broker.start)
            settings = replace(settings, broker_reload_command=f"kill -HUP {broker.proc.pid}")
            fleet_user = DEMO_FLEET_USER
            fleet_password = device_password(keeper.secret, DEMO_FLEET_USER)
            print(f"  embedded MQTT broker  {broker.url} (device credentials: "
                  f"{keeper.directory})", flush=True)
        print(
            f"  demo jurisdiction     {len(world.jurisdictions) - 1} Texas counties, "
            f"{len(world.zones)} zones, {len(world.supervisees)} supervisees "
            f"({sum(f.target is not None for f in world.fleet)} scripted violators)",
            flush=True,
        )

        host, port, *_ = settings.mqtt_parts()
        fleet_stats = FleetStats()

        def ready() -> None:
            base = f"http://{settings.http_host}:{settings.http_port}"
            print(f"\nCordon demo is running.\n  live map   {base}/\n  sign in    "
                  f"{DEMO_USER} / {password}\n  health     {base}/api/v1/health\n  API docs   "
                  f"{base}/docs\nPress Ctrl-C to stop.", flush=True)

        async with asyncio.TaskGroup() as tg:
            engine = tg.create_task(run_engine(settings, stop, on_ready=ready))
            fleet = tg.create_task(
                run_fleet(world.fleet, host, port, interval_s, stop, stats=fleet_stats,
                          username=fleet_user, password=fleet_password)
            )
            engine.add_done_callback(lambda _t: stop.set())
            fleet.add_done_callback(lambda _t: stop.set())
        print(f"\nstopping: the fleet published {fleet_stats.published} messages", flush=True)
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.stop)
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        if data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
