"""The ``cordon`` command.

    cordon demo     the whole system on this machine, nothing configured
    cordon serve    the production engine against a configured broker and database
    cordon migrate  bring the database schema up to date and exit
    cordon simulate drive a simulated fleet into a broker (load or accelerated time)
    cordon bench    run a benchmark: cordon bench kernel|e2e|detection|history|console|caseload|wall
                    [its options]
    cordon user add, cordon broker-auth, cordon device-password
                    accounts and device credentials (see cordon/admin.py)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from cordon.services import PortInUse
from cordon.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cordon", description="Real-time GPS supervision engine.")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the live demo on embedded defaults")
    demo.add_argument("--http-port", type=int, default=8080, help="API and map (default 8080)")
    demo.add_argument("--mqtt-port", type=int, help="embedded broker port (default: a free one)")
    demo.add_argument("--db-port", type=int, help="private PostgreSQL port (default: a free one)")
    demo.add_argument("--supervisees", type=int, default=300, help="simulated people (300)")
    demo.add_argument("--interval", type=float, default=5.0, help="seconds between fixes (5)")
    demo.add_argument("--data-dir", type=Path, help="keep the demo's broker and database here")

    serve = sub.add_parser("serve", help="run the engine against a configured broker and database")
    serve.add_argument("--http-port", type=int, help="overrides CORDON_HTTP_PORT")
    serve.add_argument("--consumer", type=int, default=0,
                       help="which engine process this is (0, the default, serves the API and "
                            "starts the others; see the consumers setting)")

    sub.add_parser("migrate", help="apply database migrations and exit")

    from simulators.run import add_arguments as simulate_arguments

    simulate = sub.add_parser("simulate", help="drive a simulated fleet into a broker")
    simulate_arguments(simulate)

    bench = sub.add_parser("bench", help="run a benchmark (python -m benchmarks.NAME)")
    bench.add_argument("name", choices=["kernel", "e2e", "detection", "history",
                                               "console", "caseload", "wall"],
                       help="which benchmark")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="the benchmark's own options")
    from cordon.admin import add_arguments as admin_arguments

    admin_arguments(sub)
    for sp in (demo, serve, sub.choices["migrate"]):  # bench passes its options through
        sp.add_argument("--config", type=Path, help="TOML settings file (or CORDON_CONFIG)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        from simulators.run import run

        run(args)
        return 0
    if args.command == "bench":
        import importlib

        importlib.import_module(f"benchmarks.{args.name}").main(args.args)
        return 0
    try:
        settings = load_settings(args.config, http_port=getattr(args, "http_port", None))
    except SettingsError as exc:
        print(f"cordon: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "demo":
        from cordon.demo import run_demo

        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
        print("Starting the Cordon demo…", flush=True)
        return _run(lambda stop: run_demo(
            settings, stop, args.mqtt_port, args.db_port, args.supervisees, args.interval,
            args.data_dir,
        ))
    if args.command == "serve":
        from cordon.engine import run_engine

        return _run(lambda stop: run_engine(settings, stop, consumer=args.consumer))
    if args.command in ("user", "broker-auth", "device-password"):
        from cordon.admin import run as run_admin

        return run_admin(args, settings)
    if args.command == "migrate":
        from store.database import migrate

        if not settings.database_url:
            print("cordon: set CORDON_DATABASE_URL (or database_url in --config)", file=sys.stderr)
            return 2
        info = asyncio.run(migrate(settings.database_url, settings.fix_chunk_interval))
        print(f"schema at version {info.version}; TimescaleDB: {info.timescaledb or 'absent'}")
        return 0
    return 2


def _run(job: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``job`` until it ends or SIGINT/SIGTERM asks it to stop."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        await job(stop)

    try:
        asyncio.run(runner())
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 — reported, then a status
        leaf = _leaf(exc)
        if isinstance(leaf, KeyboardInterrupt):
            return 130
        if isinstance(leaf, PortInUse | SettingsError | RuntimeError | OSError):
            print(f"cordon: {leaf}", file=sys.stderr)
            return 2 if isinstance(leaf, PortInUse | SettingsError) else 1
        raise
    return 0


def _dump_tasks() -> None:
    """SIGUSR1: print where every task is waiting (for an operator chasing a hang)."""
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}", file=sys.stderr)
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups from task groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


__all__ = ["Settings", "main"]
