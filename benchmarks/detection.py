"""Detection benchmark: do Cordon's rules catch every real violation and stay quiet otherwise?

A simulated fleet (:mod:`simulators.fleet`: supervisees who keep their rules, and violators of
every kind, with realistic GPS error, buffered uploads and coverage gaps) is replayed over MQTT
through the real engine — private Mosquitto, private PostgreSQL/TimescaleDB, ``cordon serve`` —
on a simulated clock ``--accel`` times faster than the wall's, which the engine's clock follows
(``CORDON_CLOCK``, see :mod:`ingest.clock`). The alerts it stored are then scored against the
fleet's ground-truth labels (:mod:`benchmarks.detection_scoring`), and so are those of a naive
inside/outside detector run on the same fixes (:mod:`benchmarks.naive_baseline`).

    python -m benchmarks.detection [--supervisees 500] [--days 7] [--accel 600] [--seed 1]

Delays are in simulated seconds, from the labelled start to the instant the engine raised the
alert (its clock); they include the engine's own latency multiplied by ``--accel``. Only alerts
raised within the simulated span are scored: once it ends every device falls silent, and the
engine, whose clock runs on while the last messages drain, rightly reports lost contact for
people the simulation no longer follows. Progress
goes to stderr; the last line on stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.detection_scoring import AlertRecord, score
from benchmarks.naive_baseline import NaiveDetector
from benchmarks.serve import engine_process, health
from cordon.services import PrivateMosquitto, PrivatePostgres, free_port
from simulators.fleet import DEFAULT_START, Fleet, FleetConfig
from simulators.loadgen import publish_load
from store.database import migrate
from store.registry import import_registry

ENGINE_BOOT_S = 20.0
ENCODE_S_PER_MESSAGE = 12e-6


def progress(msg: str) -> None:
    print(f"[detection] {msg}", file=sys.stderr, flush=True)


async def register(db_url: str, registry: dict[str, Any]) -> dict[str, int]:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        return await import_registry(conn, registry)


def stored_alerts(db_url: str) -> list[AlertRecord]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT supervisee_id, kind, extract(epoch FROM started_at)::float8, "
            "extract(epoch FROM raised_at)::float8, extract(epoch FROM ended_at)::float8 "
            "FROM alerts ORDER BY id").fetchall()
    return [AlertRecord(s, k, opened, raised, cleared) for s, k, opened, raised, cleared in rows]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="benchmarks.detection", description=__doc__.split("\n")[0])
    ap.add_argument("--supervisees", type=int, default=500)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--accel", type=float, default=600.0,
                    help="simulated seconds per wall second (600: a week in 17 minutes)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=float, default=DEFAULT_START,
                    help="simulated start, Unix seconds (default: Monday 2026-11-16 00:00 in "
                         "Texas: the same seed and start give the same fleet, labels and "
                         "messages)")
    ap.add_argument("--alerts-out", help="also write the engine's alerts here (JSON Lines)")
    ap.add_argument("--tick", type=float, default=0.05,
                    help="wall seconds between timer checks of the engine")
    args = ap.parse_args(argv)

    sim_start = float(args.start)
    fleet = Fleet(FleetConfig(supervisees=args.supervisees, seed=args.seed, start=sim_start,
                              days=args.days))
    t0 = time.perf_counter()
    messages = list(fleet.messages())
    registry = json.loads(json.dumps(fleet.registry()))  # as `cordon simulate` writes it
    labels = fleet.labels()
    progress(f"{args.supervisees:,} supervisees, {len(registry['devices']):,} devices, "
             f"{len(messages):,} messages, {len(labels):,} labels over {args.days:g} days "
             f"(rendered in {time.perf_counter() - t0:.0f} s)")
    duration = args.days * 86400 / args.accel

    work = Path(tempfile.mkdtemp(prefix="cordon-detection-"))
    work.chmod(0o711)
    with PrivateMosquitto(free_port(), work / "mqtt") as broker, \
            PrivatePostgres(free_port(), work / "pg") as pg:
        counts = asyncio.run(register(pg.url, registry))
        progress("registered " + ", ".join(f"{v:,} {k}" for k, v in counts.items() if v))
        # The engine's clock and the load generator's must agree: both start the simulated
        # span at the same wall instant, far enough ahead for the engine to boot and the
        # generator to encode every message.
        wall_start = time.time() + ENGINE_BOOT_S + len(messages) * ENCODE_S_PER_MESSAGE
        env = {
            "CORDON_DATABASE_URL": pg.url, "CORDON_MQTT_URL": broker.url,
            "CORDON_MQTT_CLIENT_ID": "cordon-detection",
            "CORDON_CLOCK": f"accelerated:{sim_start}@{wall_start}x{args.accel}",
            "CORDON_TIMER_TICK_S": str(args.tick), "CORDON_TIMERS_START_AFTER_S": "0"}
        with engine_process(work, env, lambda h: h["broker"]["connected"]) as (_engine, base):
            progress(f"replaying {args.days:g} simulated days in {duration:,.0f} s "
                     f"({args.accel:g}x)")
            report = asyncio.run(publish_load(
                (((m.deliver_at - sim_start) / args.accel, m.device_id, m.topic, m.payload)
                 for m in messages),
                "127.0.0.1", broker.port, duration + 1.0, target_rate=len(messages) / duration,
                start_at=wall_start, grace_s=60.0, client_prefix="cordon-detection",
                progress=lambda r: progress(
                    f"{r.seconds:6.0f} s  simulated day {r.seconds * args.accel / 86400:4.2f}  "
                    f"sent {r.sent:,} acked {r.acknowledged:,}")))
            if report.late_start_s > 2.0:
                raise RuntimeError(f"the load generator began {report.late_start_s:.1f} s late:"
                                   " the engine's clock would run ahead of the devices'")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                c = health(base)["counters"]
                if c["messages_received"] >= report.acknowledged:
                    break
                time.sleep(0.5)
            time.sleep(2.0)  # a few more timer ticks at the end of the span
            h = health(base)
            alerts = stored_alerts(pg.url)
            if args.alerts_out:
                with open(args.alerts_out, "w") as out, psycopg.connect(pg.url) as conn:
                    for row in conn.execute(
                            "SELECT row_to_json(a) FROM alerts a ORDER BY id").fetchall():
                        out.write(json.dumps(row[0]) + "\n")
                    for row in conn.execute(
                            "SELECT row_to_json(q) FROM (SELECT topic, reason, "
                            "convert_from(payload, 'UTF8') AS payload FROM quarantine LIMIT 20"
                            ") q").fetchall():
                        out.write(json.dumps({"quarantine": row[0]}) + "\n")
    end = fleet.end
    scenarios = fleet.scenarios()
    after_end = sum(a.raised_at > end for a in alerts)
    alerts = [a for a in alerts if a.raised_at <= end]
    cordon = score(labels, alerts, scenarios, fleet.start, end)
    progress(f"engine: {len(alerts):,} alerts; scoring the naive detector on the same fixes")
    naive = NaiveDetector(registry)
    naive.feed_all(messages)
    naive_score = score(labels, naive.alerts(), scenarios, fleet.start, end)
    result = {
        "kinds": {k: {key: v[key] for key in ("precision", "recall", "delay_median_s",
                                               "delay_p99_s", "labels", "alerts", "detected")}
                  for k, v in cordon["kinds"].items()},
        "false_alerts_per_supervisee_day": cordon["false_alerts_per_supervisee_day"],
        "naive_false_alerts_per_supervisee_day": naive_score["false_alerts_per_supervisee_day"],
        "naive_kinds": {k: {key: v[key] for key in ("precision", "recall")}
                        for k, v in naive_score["kinds"].items() if v["alerts"]},
        "unlabelled_alert_kinds": cordon["unlabelled_kinds"],
        "false_alerts": cordon["false_alerts"],
        "supervisees": args.supervisees,
        "compliant_supervisees": cordon["compliant_supervisees"],
        "days": args.days,
        "accel": args.accel,
        "report_interval_s": fleet.config.report_interval_s,
        "messages": len(messages),
        "published": report.acknowledged,
        "late_start_s": round(report.late_start_s, 2),
        "engine_quarantined": h["counters"].get("quarantined"),
        "alerts_raised_after_the_span": after_end,
        "sim_start": sim_start,
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
