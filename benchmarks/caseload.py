"""Caseload benchmark: how the engine's registry scales with the number of supervisees.

For each size, a private PostgreSQL is filled (binary COPY) with a registry of that many
supervisees — two devices each (a bracelet and a phone, paired), three zones each: the county
line they may not leave (an inclusion polygon shared by everyone in the county, stored once), a
home curfew (an inclusion circle active at night) and an exclusion circle of their own — spread
over a few supervision plans. Then one engine pipeline (:class:`ingest.pipeline.Pipeline`, as
``cordon engine`` builds it, with its registry-refresh loop) starts against it, and measures:

- ``start_s``: the engine's start — registry load and evaluator build;
- ``bytes_per_supervisee``: the resident memory the engine's registry structures added (RSS
  after start minus before, each after a full collection and ``malloc_trim``), per supervisee;
- ``change_apply_ms``: p95 over ``--changes`` single changes, taken in turn — a home zone
  redrawn, a bracelet swapped (the old one retired, a new one enrolled and paired), a plan edited
  — from the commit of the change to the engine holding the registry version it made;
- ``max_commit_gap_ms``: the longest pause between committed batches of a steady single-fix
  load (``--rate`` messages a second, one fix each, in 10 ms batches) while those changes happen;
- ``one_partition``: the start of a second process that holds one partition of
  ``--partitions`` only (its people, their devices and links, the zones they use).

    python -m benchmarks.caseload [--sizes 10000 100000] [--changes 50] [--rate 1000]
                                  [--partitions 4]

Progress goes to stderr; the last line on stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import math
import random
import sys
import time
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from cordon.engine import _settle_heap, refresh_once
from cordon.services import PrivatePostgres, free_port
from cordon.settings import Settings
from devices.formats import Limits
from devices.topics import native_topic
from ingest.pipeline import Pipeline, RawMessage
from ingest.stats import IngestStats
from store.database import migrate

PEOPLE_PER_COUNTY = 5_000
PLANS = 8
CURFEW = {"timezone": "America/Chicago",
          "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                       "start": "22:00", "end": "06:00"}]}


def _log(msg: str) -> None:
    print(f"[caseload] {msg}", file=sys.stderr, flush=True)


def _rss_bytes() -> int:
    """Resident memory, after returning freed heap pages to the system (so that what a load
    read and dropped is not counted as held)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def home_of(i: int) -> tuple[float, float]:
    """Supervisee ``i``'s home: spread over a 10° square, inside its county's box."""
    county = i // PEOPLE_PER_COUNTY
    cx, cy = county % 20, county // 20
    r = random.Random(i)
    return (-100.0 + cx * 0.5 + r.uniform(0.05, 0.45), 30.0 + cy * 0.5 + r.uniform(0.05, 0.45))


def _circle(zid: str, kind: str, lon: float, lat: float, radius: float,
            schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"kind": kind, "name": zid, "radius_m": radius}
    if schedule:
        props["schedule"] = schedule
    return {"type": "Feature", "id": zid, "properties": props,
            "geometry": {"type": "Point", "coordinates": [lon, lat]}}


def _county(k: int) -> dict[str, Any]:
    cx, cy = k % 20, k // 20
    x0, y0 = -100.0 + cx * 0.5, 30.0 + cy * 0.5
    # A county line with some detail (the real ones have hundreds of vertices).
    ring = [[x0 + 0.5 * t / 40, y0] for t in range(40)] + \
           [[x0 + 0.5, y0 + 0.5 * t / 40] for t in range(40)] + \
           [[x0 + 0.5 - 0.5 * t / 40, y0 + 0.5] for t in range(40)] + \
           [[x0, y0 + 0.5 - 0.5 * t / 40] for t in range(40)]
    ring.append(ring[0])
    return {"type": "Feature", "id": f"county-{k}",
            "properties": {"kind": "inclusion", "name": f"County {k}"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


async def populate(url: str, n: int) -> None:
    """A registry of ``n`` supervisees, copied in table by table."""
    counties = max(1, math.ceil(n / PEOPLE_PER_COUNTY))
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.cursor() as cur:
            await cur.execute("INSERT INTO jurisdictions (id, name, kind, timezone) "
                              "VALUES ('prov', 'Province', 'province', 'America/Chicago')")
            async with cur.copy("COPY jurisdictions (id, parent_id, name, kind, timezone) "
                                "FROM STDIN") as cp:
                for k in range(counties):
                    await cp.write_row((f"c{k}", "prov", f"County {k}", "county",
                                        "America/Chicago"))
            async with cur.copy("COPY supervision_plans (id, name, settings) FROM STDIN") as cp:
                for p in range(PLANS):
                    await cp.write_row((f"plan-{p}", f"Plan {p}",
                                        Jsonb({"report_interval_s": 60.0 + p})))
            async with cur.copy("COPY zones (id, name, kind, jurisdiction_id, feature) "
                                "FROM STDIN") as cp:
                for k in range(counties):
                    await cp.write_row((f"county-{k}", f"County {k}", "inclusion", f"c{k}",
                                        Jsonb(_county(k))))
                for i in range(n):
                    lon, lat = home_of(i)
                    k = i // PEOPLE_PER_COUNTY
                    await cp.write_row((f"home-{i}", f"home-{i}", "inclusion", f"c{k}", Jsonb(
                        _circle(f"home-{i}", "inclusion", lon, lat, 150.0, CURFEW))))
                    await cp.write_row((f"excl-{i}", f"excl-{i}", "exclusion", f"c{k}", Jsonb(
                        _circle(f"excl-{i}", "exclusion", lon + 0.03, lat + 0.02, 300.0))))
            async with cur.copy("COPY supervisees (id, name, jurisdiction_id, plan_id, "
                                "home_zone_id) FROM STDIN") as cp:
                for i in range(n):
                    await cp.write_row((f"s{i}", f"Person {i}", f"c{i // PEOPLE_PER_COUNTY}",
                                        f"plan-{i % PLANS}", f"home-{i}"))
            async with cur.copy("COPY supervisee_zones (supervisee_id, zone_id) FROM STDIN") as cp:
                for i in range(n):
                    for z in (f"county-{i // PEOPLE_PER_COUNTY}", f"home-{i}", f"excl-{i}"):
                        await cp.write_row((f"s{i}", z))
            async with cur.copy("COPY devices (id, supervisee_id, kind) FROM STDIN") as cp:
                for i in range(n):
                    await cp.write_row((f"br-{i}", f"s{i}", "bracelet"))
                    await cp.write_row((f"ph-{i}", f"s{i}", "phone"))
            async with cur.copy("COPY pairings (supervisee_id, bracelet_id, phone_id) "
                                "FROM STDIN") as cp:
                for i in range(n):
                    await cp.write_row((f"s{i}", f"br-{i}", f"ph-{i}"))
        await conn.commit()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("VACUUM ANALYZE")


class Change:
    """The single registry changes, in turn: a zone redrawn, a bracelet swapped, a plan
    edited."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.rng = random.Random(seed)
        self.swapped = 0

    async def make(self, conn: psycopg.AsyncConnection, k: int) -> str:
        # Supervisees in the upper half: the steady load comes from the lower half's phones.
        i = self.rng.randrange(self.n // 2, self.n)
        async with conn.transaction():
            if k % 3 == 0:
                lon, lat = home_of(i)
                lon += self.rng.uniform(-0.001, 0.001)
                await conn.execute(
                    "UPDATE zones SET feature = %s WHERE id = %s",
                    (Jsonb(_circle(f"home-{i}", "inclusion", lon, lat, 150.0, CURFEW)),
                     f"home-{i}"))
                return "zone"
            if k % 3 == 1:
                cur = await conn.execute(
                    "SELECT bracelet_id FROM pairings WHERE supervisee_id = %s", (f"s{i}",))
                old = (await cur.fetchone())[0]
                self.swapped += 1
                new = f"br-{i}-x{self.swapped}"
                await conn.execute("UPDATE devices SET retired_at = now() WHERE id = %s", (old,))
                await conn.execute("INSERT INTO devices (id, supervisee_id, kind) "
                                   "VALUES (%s, %s, 'bracelet')", (new, f"s{i}"))
                await conn.execute("UPDATE pairings SET bracelet_id = %s WHERE bracelet_id = %s",
                                   (new, old))
                return "device"
            plan = f"plan-{self.rng.randrange(PLANS)}"
            await conn.execute(
                "UPDATE supervision_plans SET settings = jsonb_set(settings, "
                "'{escalate_after_s}', to_jsonb(%s::float8)) WHERE id = %s",
                (float(self.rng.randrange(600, 3600)), plan))
            return "plan"


async def steady_load(pipeline: Pipeline, n: int, rate: float, commits: list[float],
                      stop: asyncio.Event) -> None:
    """Single-fix messages from the phones of the lower half, in 10 ms batches."""
    per_batch = max(1, round(rate / 100))
    rng = random.Random(7)
    half = max(1, n // 2)
    next_at = time.perf_counter()
    while not stop.is_set():
        now = time.time()
        messages = []
        for j in range(per_batch):
            i = rng.randrange(half)
            lon, lat = home_of(i)
            payload = orjson.dumps({"ts": now - 1 + j * 1e-4, "lon": lon, "lat": lat,
                                    "acc": 10.0})
            messages.append(RawMessage(native_topic(f"ph-{i}"), payload, now))
        await pipeline.process(messages)
        commits.append(time.perf_counter())
        next_at += 0.01
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


async def refresher(pipeline: Pipeline, every_s: float, stop: asyncio.Event) -> None:
    """The engine's registry-refresh loop (cordon/engine.py)."""
    while not stop.is_set():
        await asyncio.sleep(every_s)
        await refresh_once(pipeline)


async def version_of(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("SELECT last_value + (CASE WHEN is_called THEN 1 ELSE 0 END) "
                             "FROM registry_version")
    return (await cur.fetchone())[0]


def _p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)] if s else math.nan


async def measure(url: str, n: int, changes: int, rate: float) -> dict[str, Any]:
    settings = Settings()
    async with AsyncConnectionPool(url, min_size=2, max_size=4, open=False) as pool:
        await pool.wait()
        pipeline = Pipeline(pool, LiveBus(), IngestStats(), Limits())
        before = _rss_bytes()
        t0 = time.perf_counter()
        await pipeline.start()
        start_s = time.perf_counter() - t0
        held = _rss_bytes() - before
        _settle_heap()  # as the engine does once started
        _log(f"{n}: started in {start_s:.1f} s, {held / n:.0f} B per supervisee")

        stop = asyncio.Event()
        commits: list[float] = []
        tasks = [asyncio.create_task(steady_load(pipeline, n, rate, commits, stop)),
                 asyncio.create_task(refresher(pipeline, settings.registry_refresh_s, stop))]
        await asyncio.sleep(1.0)  # the load settles
        window_start = time.perf_counter()
        applied: list[float] = []
        kinds: dict[str, list[float]] = {}
        maker = Change(n, seed=n)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for k in range(changes):
                kind = await maker.make(conn, k)
                committed = time.perf_counter()
                version = await version_of(conn)
                while pipeline.registry_version < version:
                    if any(t.done() for t in tasks):
                        raise RuntimeError("the load or the refresher stopped") from (
                            next(t for t in tasks if t.done()).exception())
                    await asyncio.sleep(0.005)
                ms = (time.perf_counter() - committed) * 1000
                applied.append(ms)
                kinds.setdefault(kind, []).append(ms)
                _log(f"{n}: change {k + 1}/{changes} ({kind}) applied in {ms:.0f} ms")
                await asyncio.sleep(random.Random(k).uniform(0.1, 0.4))
        window_end = time.perf_counter()
        stop.set()
        await asyncio.gather(*tasks)
        during = [t for t in commits if window_start <= t <= window_end]
        gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
        return {
            "supervisees": n,
            "start_s": round(start_s, 2),
            "bytes_per_supervisee": round(held / n),
            "change_apply_ms": round(_p95(applied), 1),
            "change_apply_ms_by_kind": {k: round(_p95(v), 1) for k, v in kinds.items()},
            "changes": len(applied),
            "max_commit_gap_ms": round(max(gaps, default=math.nan) * 1000, 1),
            "batches_during_changes": len(during),
            "fixes_stored": pipeline.stats.fixes_stored,
            "quarantined": pipeline.stats.quarantined,
        }


async def measure_held(url: str, n: int, partitions: int) -> dict[str, Any]:
    """The start of a process holding one partition of ``partitions``: its share of the people
    (see :class:`store.registry.Partitions`), and what it costs."""
    async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
        await pool.wait()
        pipeline = Pipeline(pool, LiveBus(), IngestStats(), Limits(), partitions=partitions,
                            owned=frozenset({0}))
        before = _rss_bytes()
        t0 = time.perf_counter()
        await pipeline.start()
        start_s = time.perf_counter() - t0
        held = len(pipeline.registry.supervisees)
        grown = _rss_bytes() - before
        _log(f"{n}: one partition of {partitions} ({held} people) started in {start_s:.1f} s")
        return {"partitions": partitions, "supervisees_held": held, "start_s": round(start_s, 2),
                "bytes_per_supervisee_held": round(grown / max(1, held))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.caseload", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--changes", type=int, nargs="+", default=[50],
                    help="changes per size (one number for all, or one per size)")
    ap.add_argument("--rate", type=float, default=1000.0,
                    help="single-fix messages a second during the changes")
    ap.add_argument("--partitions", type=int, default=4,
                    help="also start a process holding one partition of this many (1: don't)")
    args = ap.parse_args(argv)
    changes = args.changes * len(args.sizes) if len(args.changes) == 1 else args.changes
    result: dict[str, Any] = {"benchmark": "caseload", "rate": args.rate, "sizes": {}}
    for n, c in zip(args.sizes, changes, strict=True):
        with PrivatePostgres(free_port(), durable=False) as pg:
            asyncio.run(migrate(pg.url))
            t0 = time.perf_counter()
            asyncio.run(populate(pg.url, n))
            _log(f"{n}: registry stored in {time.perf_counter() - t0:.1f} s")
            result["sizes"][str(n)] = asyncio.run(measure(pg.url, n, c, args.rate))
            gc.collect()
            if args.partitions > 1:
                result["sizes"][str(n)]["one_partition"] = asyncio.run(
                    measure_held(pg.url, n, args.partitions))
            _log(json.dumps(result["sizes"][str(n)]))
        gc.collect()
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
