"""``cordon simulate``: drive a simulated fleet into a broker, as its devices would.

Two ways to run:

- **load** (``--rate R``): the fleet's messages in simulated-time order, published at R messages
  a second (ramped over ``--ramp``) for ``--duration`` seconds — simulated time is ignored;
- **accelerated** (default): messages published when they fall due on a simulated clock that runs
  ``--accel`` times faster than the wall clock, for ``--days`` simulated days.

Either way the labels file (JSONL: supervisee, kind, start, end) holds the ground truth of every
scripted violation, and ``--registry FILE`` writes what to register in Cordon (jurisdictions,
zones, supervisees, devices). A progress line goes to stderr each second; the final report is
the last line on stdout, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import unquote, urlsplit

from simulators.loadgen import LoadReport, accelerated, at_rate, publish_load

DEVICES_PER_PERSON = 1.7  # bracelet and/or phone, plus victims' devices (measured: 839 / 500)
MESSAGES_PER_PERSON_DAY = 1900  # measured: 193k messages for 100 supervisees over a day


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", help="broker URL (mqtt://...)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--devices", type=int,
                     help="about this many devices (supervisees carry ~1.7 each; default 1000)")
    who.add_argument("--supervisees", type=int, help="this many supervisees")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", type=float, help="load mode: messages per second")
    p.add_argument("--duration", type=float, help="seconds to run (load mode: required)")
    p.add_argument("--ramp", type=float, default=0.0, help="load mode: seconds to reach --rate")
    p.add_argument("--accel", type=float, default=60.0,
                   help="accelerated mode: simulated seconds per wall second (60)")
    p.add_argument("--days", type=float, default=1.0, help="simulated days (accelerated mode)")
    p.add_argument("--start", type=float,
                   help="simulated start, Unix seconds (default: the simulated span ends now, "
                        "so no fix lies in the future)")
    p.add_argument("--qos", type=int, choices=[0, 1], default=1)
    p.add_argument("--connections", type=int, default=4, help="MQTT connections (4)")
    p.add_argument("--labels", help="write the ground-truth labels here (JSONL)")
    p.add_argument("--registry", help="write what to register in Cordon here (JSON)")


def broker(url: str) -> tuple[str, int, str | None, str | None]:
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "tcp"):
        raise SystemExit(f"cordon simulate: --mqtt {url!r} must look like mqtt://host:port")
    return (u.hostname or "127.0.0.1", u.port or 1883,
            unquote(u.username) if u.username else None,
            unquote(u.password) if u.password else None)


def _progress(report: LoadReport) -> None:
    print(f"[simulate] {report.seconds:6.1f} s  sent {report.sent:>9,}  acked "
          f"{report.acknowledged:>9,}  {report.achieved_rate:>9,.0f} msg/s",
          file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    from simulators.fleet import Fleet, FleetConfig, write_labels

    host, port, username, password = broker(args.mqtt)
    if args.rate is not None and (args.duration is None or args.rate <= 0):
        raise SystemExit("cordon simulate: load mode needs a positive --rate and a --duration")
    supervisees = args.supervisees or max(1, round((args.devices or 1000) / DEVICES_PER_PERSON))
    if args.rate is not None:
        # Enough simulated time for the run: a supervisee sends ~MESSAGES_PER_PERSON_DAY a day.
        needed = args.rate * args.duration
        days = max(1.0 / 24, 1.5 * needed / (supervisees * MESSAGES_PER_PERSON_DAY))
    else:
        days = args.days
    start = args.start if args.start is not None else float(int(time.time() - days * 86400))
    t0 = time.perf_counter()
    fleet = Fleet(FleetConfig(supervisees=supervisees, seed=args.seed, start=start, days=days))
    devices = len(fleet.registry()["devices"])
    print(f"[simulate] {supervisees:,} supervisees with {devices:,} devices over {days:.2f} "
          f"simulated days, built in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr, flush=True)
    if args.labels:
        write_labels(args.labels, fleet.labels())
    if args.registry:
        with open(args.registry, "w") as f:
            json.dump(fleet.registry(), f)

    stream = ((m.device_id, m.topic, m.payload) for m in fleet.messages())
    if args.rate is not None:
        scheduled = at_rate(stream, args.rate, args.ramp)
        duration = args.duration
    else:
        scheduled = accelerated(
            ((m.deliver_at, m.device_id, m.topic, m.payload) for m in fleet.messages()),
            start, args.accel,
        )
        duration = args.duration if args.duration is not None else days * 86400 / args.accel
    try:
        report = asyncio.run(publish_load(
            scheduled, host, port, duration, target_rate=args.rate or 0.0, qos=args.qos,
            connections=args.connections, username=username, password=password,
            client_prefix=f"cordon-sim-{args.seed}", progress=_progress,
        ))
    except OSError as exc:
        raise SystemExit(f"cordon simulate: cannot reach the MQTT broker at {host}:{port} "
                         f"({exc.strerror or exc})") from None
    result = report.as_dict() | {"mode": "load" if args.rate is not None else "accelerated"}
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cordon simulate", description=__doc__.split("\n")[0])
    add_arguments(p)
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
