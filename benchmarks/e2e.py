"""End-to-end benchmark: devices → Mosquitto → engine → PostgreSQL/TimescaleDB, QoS 1.

Starts a private Mosquitto and a private PostgreSQL with TimescaleDB (durable: fsync on),
registers the devices, runs ``cordon serve`` as its own process, and drives it with the load
generator for ``--seconds`` at ``--rate`` messages a second:

- ``--mode single``: one fix per message, as phones report;
- ``--mode batch``: ``--batch`` fixes per message, as bracelets upload their buffer.

Each fix carries the instant it was published as its fix time, so the engine's commit-lag
histogram (commit time − fix time, read from ``/api/v1/health`` before and after) is the
publish → committed latency. Every published fix is then looked for in the database: ``lost``
is published but not stored, ``duplicated`` stored more than once.

In single mode one device in :data:`PROBE_EVERY` walks in and out of an exclusion zone — three
fixes inside, three outside — so that alerts open and clear all through the run, and an
officer's screen (:class:`benchmarks.live_watch.LiveWatcher`, signed in over the API) holds the
live feed open: ``ws_p50_ms`` / ``ws_p99_ms`` are publish → alert on that WebSocket, from the
instant stamped into the fix that confirmed the change (the third of its three) to the arrival
of the alert event; ``ws_missed`` counts the changes that never arrived.

    python -m benchmarks.e2e [--mode single|batch] [--seconds S] [--rate R]

Progress goes to stderr; the last line on stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

from benchmarks.cpu import tree_cpu_s
from benchmarks.live_watch import LiveWatcher, sign_in_watcher
from benchmarks.serve import engine_process, health
from cordon.services import PrivateMosquitto, PrivatePostgres, free_port
from devices.models import Device, Jurisdiction, Supervisee
from devices.topics import native_topic, partition_of
from ingest.stats import LagHistogram
from simulators.loadgen import publish_load
from store.database import migrate
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee, upsert_zone


def progress(msg: str) -> None:
    print(f"[e2e] {msg}", file=sys.stderr, flush=True)


async def register(db_url: str, devices: int) -> None:
    from bokeh_sampledata.us_counties import records
    from shapely.geometry import Point

    from geofence.zones import Zone

    travis = next(r for r in records(state="TX") if r["name"] == "Travis")["geometry"]
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("tx-travis", "Travis County", "county"),
                                  None)
        await upsert_zone(conn, Zone("county", "Travis County line", "inclusion", "polygon",
                                     travis))
        await upsert_zone(conn, Zone("victim", "Protected residence", "exclusion", "circle",
                                     Point(*ZONE_CENTRE), ZONE_RADIUS_M))
        async with conn.pipeline():  # one round trip per many statements, not per statement
            for i in range(devices):
                sid = f"P-{i:05d}"
                await upsert_supervisee(conn, Supervisee(sid, sid, "tx-travis",
                                                         ("county", "victim")))
                await upsert_device(conn, Device(f"br-{i:05d}", sid, "bracelet"))


PROBE_EVERY = 100  # in single mode, one device in a hundred walks in and out of the zone
ZONE_CENTRE = (-97.70, 30.30)
ZONE_RADIUS_M = 300.0
CONFIRM_FIXES = 3  # the engine's setting, passed to it: the probes' walk is built on it
OUTSIDE = (-97.6935, 30.30)  # ≈ 630 m east of the centre: certainly outside, inside the county


def fix_ts(start: float, i: int, rate: float) -> float:
    """The instant stamped into message ``i`` (to the millisecond, as it is written)."""
    return round(start + i / rate, 3)


def probe_changes(devices: int, start: float, rate: float, sent: int
                  ) -> dict[tuple[str, float], float]:
    """The alert changes the probes' walks make among the first ``sent`` messages: (device,
    fix time of the first fix of the confirming streak — the alert's ``at``) → fix time of the
    fix that confirms it."""
    out: dict[tuple[str, float], float] = {}
    for d in range(0, devices, PROBE_EVERY):
        for k in range(CONFIRM_FIXES - 1, sent, CONFIRM_FIXES):
            i = k * devices + d
            if i >= sent:
                break
            first = i - (CONFIRM_FIXES - 1) * devices
            out[(f"br-{d:05d}", fix_ts(start, first, rate))] = fix_ts(start, i, rate)
    return out


def messages(devices: int, per_message: int, start: float, rate: float, count: int,
             partitions: int = 1):
    """Messages whose fixes are stamped with their planned publish instant."""
    rng = np.random.default_rng(1)
    lon = rng.uniform(-97.85, -97.60, devices)
    lat = rng.uniform(30.20, 30.40, devices)
    # Nobody but the probes starts in the exclusion zone: their alerts are the ones timed.
    near = np.hypot((lon - ZONE_CENTRE[0]) * 96_000, (lat - ZONE_CENTRE[1]) * 111_000) < 1500
    lon[near] += 0.03
    for i in range(count):
        d = i % devices
        device = f"br-{d:05d}"
        due = i / rate
        ts = fix_ts(start, i, rate)
        if per_message == 1:
            x, y = lon[d], lat[d]
            if d % PROBE_EVERY == 0:  # three fixes inside, three outside, and again
                x, y = ZONE_CENTRE if (i // devices // CONFIRM_FIXES) % 2 == 0 else OUTSIDE
            payload = (f'{{"ts":{ts:.3f},"lon":{x:.6f},"lat":{y:.6f},'
                       f'"acc":8.0,"batt":77}}').encode()
        else:
            # A buffered upload: the previous per_message minutes, the newest sent now.
            payload = ("[" + ",".join(
                f'{{"ts":{ts - 60 * k:.3f},"lon":{lon[d]:.6f},"lat":{lat[d]:.6f},"acc":8.0}}'
                for k in range(per_message - 1, -1, -1)) + "]").encode()
        yield due, device, native_topic(device, partition_of(f"P-{d:05d}", partitions)), payload


def ws_figures(expected: dict[tuple[str, float], float],
               received: list[tuple[float, dict]]) -> dict[str, float | int | None]:
    """Publish → screen latencies of the probes' alert changes (ms), and how many never came."""
    lat_ms = []
    for arrived, event in received:
        alert = event["alert"]
        confirmed = expected.get((alert["device_id"], round(float(alert["at"]), 3)))
        if confirmed is not None and event["action"] in ("opened", "cleared"):
            lat_ms.append((arrived - confirmed) * 1000)
    q = (lambda p: round(float(np.percentile(lat_ms, p)), 1)) if lat_ms else (lambda p: None)
    return {"ws_alerts": len(lat_ms), "ws_missed": len(expected) - len(lat_ms),
            "ws_p50_ms": q(50), "ws_p99_ms": q(99)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="benchmarks.e2e", description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["single", "batch"], default="single")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float,
                    help="messages/s offered (default 12,000: above the 10,000 bar, so that the "
                         "figure measures what the system takes, not what it was offered)")
    ap.add_argument("--batch", type=int, default=10, help="fixes per message in batch mode")
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--consumers", type=int, default=2,
                    help="engine processes (default 2, one per core)")
    ap.add_argument("--partitions", type=int,
                    help="partitions of the device topics (default: --consumers)")
    args = ap.parse_args(argv)
    per_message = 1 if args.mode == "single" else args.batch
    partitions = args.partitions or args.consumers
    rate = args.rate or 12_000.0
    count = int(rate * args.seconds)
    if args.mode == "batch":
        # Every fix of a device must be distinct: one upload per device per batch period.
        args.devices = max(args.devices, int(rate * 60 * per_message / 60) + 1)

    work = Path(tempfile.mkdtemp(prefix="cordon-e2e-"))
    work.chmod(0o711)
    with PrivateMosquitto(free_port(), work / "mqtt") as broker, \
            PrivatePostgres(free_port(), work / "pg") as pg:
        progress(f"registering {args.devices:,} devices")
        asyncio.run(register(pg.url, args.devices))
        env = {"CORDON_DATABASE_URL": pg.url, "CORDON_MQTT_URL": broker.url,
               "CORDON_MQTT_CLIENT_ID": "cordon-e2e", "CORDON_CONSUMERS": str(args.consumers),
               "CORDON_MQTT_PARTITIONS": str(partitions),
               "CORDON_CONFIRM_FIXES": str(CONFIRM_FIXES)}
        watcher_login = asyncio.run(sign_in_watcher(pg.url, "tx-travis"))
        with engine_process(work, env, lambda h: h["broker"]["connected"]
                            and h["counters"]["consumers"] == args.consumers) as (engine, base), \
                LiveWatcher(base, *watcher_login, work) as screen:
            before = np.asarray(health(base)["commit_lag_histogram"]["counts"])
            # This run's own processes only: the machine may run other databases and brokers.
            def cpu() -> tuple[float, float, float]:
                return (tree_cpu_s(engine.pid), tree_cpu_s(pg.proc.pid),
                        tree_cpu_s(broker.proc.pid))

            cpu0 = cpu()
            # The load generator encodes every message before the clock starts (≈ 10 µs a
            # message and 4 µs a fix here); fix times are stamped from ``start``, so it must
            # not begin late.
            start = time.time() + 3.0 + count * (15e-6 + 6e-6 * per_message)
            progress(f"publishing {count:,} messages ({count * per_message:,} fixes) at "
                     f"{rate:,.0f}/s, mode {args.mode}")
            report = asyncio.run(publish_load(
                messages(args.devices, per_message, start, rate, count, partitions), "127.0.0.1",
                broker.port, args.seconds, target_rate=rate, connections=args.connections,
                start_at=start, grace_s=30.0,
                progress=lambda r: progress(f"{r.seconds:5.0f} s sent {r.sent:,} acked "
                                            f"{r.acknowledged:,}"),
            ))
            if report.late_start_s > 0.1:
                raise RuntimeError(
                    f"the load generator began {report.late_start_s:.1f} s after the instant "
                    "stamped into the fixes: latencies would be overstated; fewer --seconds")
            expected = report.acknowledged * per_message
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if health(base)["counters"]["fixes_stored"] >= expected:
                    break
                time.sleep(0.5)
            finished = time.time()
            # The last alerts of the run: published by now, on the screen a moment later.
            time.sleep(1.0)
            h = health(base)
            c = h["counters"]
            progress("engine time: " + ", ".join(
                f"{k} {c[k]:.1f} s" for k in ("decode_s", "decide_s", "fold_s", "store_s")))
            engine_cpu, db_cpu, broker_cpu = np.subtract(cpu(), cpu0).tolist()
            lag = LagHistogram(np.asarray(h["commit_lag_histogram"]["counts"]) - before)
            with psycopg.connect(pg.url) as conn:
                total, distinct = conn.execute(
                    "SELECT count(*), count(DISTINCT (device_id, ts)) FROM fixes").fetchone()
    elapsed = finished - start
    ws = ws_figures(probe_changes(args.devices, start, rate, report.sent)
                    if per_message == 1 else {}, screen.alerts())
    if screen.closed_by_server():
        progress(f"the screen's log: {screen.closed_by_server()}")
    stored_messages = total / per_message
    result = {
        "mode": args.mode,
        "msgs_per_s": round(min(stored_messages, report.acknowledged) / elapsed, 1),
        "fixes_per_s": round(min(total, expected) / elapsed, 1),
        "p50_ms": lag.quantile(0.5),
        "p99_ms": lag.quantile(0.99),
        "published": report.acknowledged,
        "published_fixes": expected,
        "stored": int(total),
        "lost": int(max(0, expected - distinct)),
        "duplicated": int(total - distinct),
        "engine_cpu_s": round(engine_cpu, 2),
        "loadgen_cpu_s": round(report.cpu_s, 2),
        "database_cpu_s": round(db_cpu, 2),
        "broker_cpu_s": round(broker_cpu, 2),
        "seconds": round(elapsed, 1),
        "target_rate": rate,
        "consumers": args.consumers,
        "sent_rate": round(report.achieved_rate, 1),
        **ws,
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
