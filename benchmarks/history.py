"""History benchmark: "who was near this point", one person's month as GeoJSON, and stops found
against true paths, over a hypertable of fixes rendered from the simulated fleet.

The fleet (:mod:`simulators.fleet`) gives each device a true path and a receiver; its fixes are
rendered here straight to arrays — every ``interval`` on the device's phase, with the fleet's GPS
model (:func:`simulators.gps.observe`: honest noise, indoor drift, Wi-Fi and cell fallbacks,
multipath, cold starts) and the devices' off periods (flat batteries, silences) as real gaps —
and copied in with the engine's own binary COPY stream (:func:`store.fixes.copy_buffer`, which
computes each fix's H3 cell), day by day so the hypertable fills in time order as it would live.

Measured, each over ``--queries`` random queries (p50/p95 in ms):

- ``near_24h`` / ``near_7d`` / ``near_30d``: who was within ``--radius`` m of a point someone truly
  was (a device's true position at a random instant), over a window around that instant, as the
  route answers it: the cover cells, one row of arrays per device from the cell index, the
  distances, then everyone's coverage gaps from the kept days (``…_without_gaps``: the people
  alone; ``…_gaps_every_fix``: the same gaps from every fix time, the way before kept days, and
  ``…_gaps_differing``: searches whose two answers differ); the first ``--check`` of each are
  compared with the reference answer (every candidate fix as a row, exact geodesic distances,
  gaps by ``lag()`` in SQL) and ``…_mismatches`` counts differences;
- ``day_pass_1d_s``: the nightly day pass (:mod:`store.kept_days`: each device's coverage runs
  and track thinned in time, kept) over every whole day, from nothing kept, median seconds a
  day — run before the queries, as in service;
- ``with_person_1d``: who was within 50 m of a random supervisee for 20 minutes in a row over a
  random 24 h window (:func:`store.colocations.together_with`); the first ``--check`` compared
  with that person's meetings among every pair of everyone over the window
  (``with_person_1d_mismatches``);
- ``colocation_all_1d_s``: the nightly pass over everyone for a whole local day (read every fix
  of the day, place, join, keep the meetings), median of ``--colocation-days`` days;
- ``track_30d_geojson``: one supervisee's 30 days thinned in time to 5,000 points and serialised
  as the track route does (from the kept days, :mod:`store.kept_tracks`);
  ``track_30d_every_fix``: the same person read fix by fix and thinned whole, the way before;
- ``insert_overhead_pct``: COPY of the same fixes in engine-sized batches (2,000) into a fresh
  hypertable with and without the cell (its computation, the column, its B-tree), interleaved;
- stops against the truth for ``--stop-people`` supervisees: a true stay (from the people's legs,
  at least 5 minutes, within the data) is *observable* when the person's fixes cover at least 4
  minutes of it; recall = observable stays matched by a found stop overlapping it in time within
  250 m; precision = found stops overlapping some true stay within 250 m; start/end errors over
  matched stays not cut by the window, and the same for a naive speed-threshold detector.

    python -m benchmarks.history [--fixes 40000000] [--days 30] [--queries 100] [--seed 1]
        [--reuse DIR] [--queries-only]

``--reuse DIR`` keeps the loaded database in DIR and queries it again in later runs without
loading (~6 minutes for 40M fixes); pending migrations are applied to it first.

Progress goes to stderr; the last line on stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg

from api.routes.tracks import _geojson
from cordon.services import PrivatePostgres, free_port
from devices.fixes import FixBatch
from history.cells import disk_cover
from history.near import nearby
from history.stops import StopSettings, speed_stops, stops
from history.together import colocations
from simulators.fleet import Fleet, FleetConfig
from simulators.gps import observe
from simulators.intervals import member
from simulators.reporting import COLD_START_S, DeviceSim
from store.colocations import TogetherSettings, colocation_pass, place_people, together_with
from store.coverage import coverage_gaps
from store.database import migrate
from store.fixes import _COPY_COLUMNS, COPY_COLUMNS_WITHOUT_CELL, copy_buffer
from store.history import coverage_gaps as gaps_from_every_fix
from store.history import device_fixes, near_candidates, near_summary
from store.kept_days import keep_day
from store.kept_tracks import thinned_in_time
from store.registry import import_registry
from store.tracks import supervisee_tracks, thinned

DEVICES_PER_SUPERVISEE = 1.64  # bracelets, phones, victims' phones (896 for 545 in the fleet)
MATCH_M = 250.0


def progress(msg: str) -> None:
    print(f"[history] {msg}", file=sys.stderr, flush=True)


def render(dev: DeviceSim, lo: float, hi: float, interval: float, seed: int, day: int
           ) -> tuple[np.ndarray, ...]:
    """(ts, lon, lat, acc, battery) of the fixes ``dev`` takes in ``[lo, hi)``."""
    rng = np.random.default_rng((seed, 0xB15, dev.index, day))
    base0 = lo - ((lo - dev.phase_s) % interval)
    ts = np.arange(base0, hi, interval) + rng.uniform(0.0, 1.5, 1)[0]
    ts = ts[(ts >= lo) & (ts < hi)]
    ts = ts[member(ts, dev.off) < 0]
    if not len(ts):
        return (np.zeros(0),) * 5
    tlon, tlat = dev.path.at(ts)
    cold = np.zeros(len(ts), dtype=bool)
    for r in dev.resumes:
        cold |= (ts >= r) & (ts < r + COLD_START_S)
    lon, lat, acc = observe(dev.receiver, ts, tlon, tlat, dev.path.mode_at(ts), cold, rng)
    batt = np.clip(np.floor(dev.battery.level_at(ts)), 0, 100)
    return np.round(ts, 3), np.round(lon, 7), np.round(lat, 7), np.round(acc, 1), batt


def batch_of(parts: list[tuple[str, str, tuple[np.ndarray, ...]]]) -> FixBatch:
    n = [len(p[2][0]) for p in parts]
    ts = np.concatenate([p[2][0] for p in parts])
    return FixBatch(
        device_id=np.repeat(np.array([p[0] for p in parts], dtype=object), n),
        ts=ts, lon=np.concatenate([p[2][1] for p in parts]),
        lat=np.concatenate([p[2][2] for p in parts]),
        accuracy_m=np.concatenate([p[2][3] for p in parts]),
        battery=np.concatenate([p[2][4] for p in parts]), received_at=ts + 1.0,
        source=np.repeat(np.array([p[1] for p in parts], dtype=object), n))


async def copy_in(conn: psycopg.AsyncConnection, buf: bytes, columns: str) -> None:
    async with conn.cursor() as cur, cur.copy(
            f"COPY fixes ({columns}) FROM STDIN (FORMAT BINARY)") as cp:
        await cp.write(buf)


def day_batches(fleet: Fleet, interval: float, seed: int):
    """Per simulated day, the fixes of every device as one FixBatch."""
    days = math.ceil((fleet.end - fleet.start) / 86400.0)
    for d in range(days):
        lo, hi = fleet.start + d * 86400.0, min(fleet.start + (d + 1) * 86400.0, fleet.end)
        parts = [(dev.id, "native" if dev.native else "owntracks",
                  render(dev, lo, hi, interval, seed, d)) for dev in fleet.devices]
        yield d, batch_of([p for p in parts if len(p[2][0])])


async def load(url: str, fleet: Fleet, interval: float, seed: int) -> tuple[int, float]:
    total, t0 = 0, time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for d, batch in day_batches(fleet, interval, seed):
            for k in range(0, len(batch), 500_000):
                part = FixBatch(*(getattr(batch, f)[k:k + 500_000] for f in (
                    "device_id", "ts", "lon", "lat", "accuracy_m", "battery", "received_at",
                    "source")))
                await copy_in(conn, copy_buffer(part), _COPY_COLUMNS)
            total += len(batch)
            rate = total / (time.perf_counter() - t0)
            progress(f"day {d + 1}: {total:,} fixes stored ({rate:,.0f}/s)")
        # As autovacuum does to chunks that filled: the visibility map lets the history reads
        # stay within their indexes (migration 0011).
        await conn.execute("VACUUM (ANALYZE) fixes")
    return total, time.perf_counter() - t0


async def insert_overhead(admin: str, base_url: str, fleet: Fleet, interval: float, seed: int,
                          rows: int) -> dict[str, float]:
    """Seconds to copy the same ``rows`` fixes in engine-sized batches with and without cells."""
    _, first = next(day_batches(fleet, interval, seed))
    rows = min(rows, len(first))
    order = np.argsort(first.ts[:], kind="stable")[:rows]
    sample = FixBatch(*(getattr(first, f)[order] for f in (
        "device_id", "ts", "lon", "lat", "accuracy_m", "battery", "received_at", "source")))
    urls = {}
    for name in ("with_cells", "without_cells"):
        db = f"overhead_{name}"
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {db}")
            c.execute(f"CREATE DATABASE {db}")
        urls[name] = base_url.rsplit("/", 1)[0] + f"/{db}"
        await migrate(urls[name])
    async with await psycopg.AsyncConnection.connect(urls["without_cells"],
                                                     autocommit=True) as c:
        await c.execute("DROP INDEX fixes_cell_ts; DROP INDEX fixes_without_cell; "
                        "ALTER TABLE fixes DROP COLUMN cell")
    spent = {"with_cells": 0.0, "without_cells": 0.0}
    conns = {n: await psycopg.AsyncConnection.connect(u) for n, u in urls.items()}
    step = 2000
    try:
        for k in range(0, rows, step):
            part = FixBatch(*(getattr(sample, f)[k:k + step] for f in (
                "device_id", "ts", "lon", "lat", "accuracy_m", "battery", "received_at",
                "source")))
            for name in (("with_cells", "without_cells") if (k // step) % 2 else
                         ("without_cells", "with_cells")):
                t0 = time.perf_counter()
                with_cells = name == "with_cells"
                buf = copy_buffer(part, cells=with_cells)
                async with conns[name].transaction():
                    await copy_in(conns[name], buf, _COPY_COLUMNS if with_cells
                                  else COPY_COLUMNS_WITHOUT_CELL)
                spent[name] += time.perf_counter() - t0
    finally:
        for c in conns.values():
            await c.close()
    spent["rows"] = rows
    return spent


def after(fleet: Fleet) -> float:
    """The instant the searches are made at: a day after the fleet's last (the simulated days
    run past today), so that every day of the data is over — and kept by the nightly pass, as
    days are in service."""
    return fleet.end + 86400.0


def ms_stats(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs) * 1e3
    return round(float(np.percentile(a, 50)), 2), round(float(np.percentile(a, 95)), 2)


async def reference_gaps(conn: psycopg.AsyncConnection, ids: list[str], start: datetime,
                         end: datetime, gap_s: float, now: float
                         ) -> dict[str, list[tuple[float, float]]]:
    """Coverage gaps the first way (lag() over every fix of the people in SQL), to check
    :func:`store.history.coverage_gaps` against."""
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in ids}
    lo, hi = start.timestamp(), min(end.timestamp(), now)
    cur = await conn.execute(
        "SELECT sid, prev, ts, nxt FROM (SELECT d.supervisee_id AS sid, "
        " extract(epoch FROM f.ts)::float8 AS ts, "
        " extract(epoch FROM lag(f.ts) OVER w)::float8 AS prev, "
        " extract(epoch FROM lead(f.ts) OVER w)::float8 AS nxt "
        " FROM fixes f JOIN devices d ON d.id = f.device_id "
        " WHERE d.supervisee_id = ANY(%s) AND f.ts >= %s AND f.ts < %s "
        " WINDOW w AS (PARTITION BY d.supervisee_id ORDER BY f.ts)) g "
        "WHERE prev IS NULL OR nxt IS NULL OR ts - prev > %s ORDER BY sid, ts",
        (ids, start, end, gap_s))
    for sid, prev, ts, nxt in await cur.fetchall():
        if prev is None and ts - lo > gap_s:
            out[sid].append((lo, ts))
        if prev is not None and ts - prev > gap_s:
            out[sid].append((prev, ts))
        if nxt is None and hi - ts > gap_s:
            out[sid].append((ts, hi))
    return out


async def near_queries(url: str, fleet: Fleet, hours: float, n: int, radius: float,
                       rng: np.random.Generator, jurisdictions: list[str], check: int
                       ) -> dict[str, Any]:
    """Times of ``n`` searches as the route makes them (the people, then their coverage gaps),
    of the people part alone, how many people each found, and of the first ``check``
    searches, how many answers differ from the reference (:func:`history.near.nearby` over
    every candidate fix, gaps by :func:`reference_gaps`) in anything: people, closest fix,
    count, visits, fixes shown, gaps."""
    times, alone, every_fix, found, mismatches, differ = [], [], [], [], 0, 0
    now = after(fleet)
    span = fleet.end - fleet.start
    window = min(hours * 3600.0, span)
    sup = [d for d in fleet.devices if d.owner.startswith("S-")]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for q in range(n):
            dev = sup[int(rng.integers(len(sup)))]
            t = fleet.start + float(rng.uniform(0, span))
            lon, lat = (float(v) for v in fleet.truth(dev.id, t))
            lo = min(max(fleet.start, t - window / 2), fleet.end - window)
            start = datetime.fromtimestamp(lo, UTC)
            end = datetime.fromtimestamp(lo + window, UTC)
            t0 = time.perf_counter()
            cells = disk_cover(lon, lat, radius)
            people = await near_summary(conn, cells, lon, lat, radius, start, end,
                                        jurisdictions)
            t1 = time.perf_counter()
            ids = [p.supervisee_id for p in people]
            gaps = await coverage_gaps(conn, ids, start, end, 600.0, now)
            t2 = time.perf_counter()
            every = await gaps_from_every_fix(conn, ids, start, end, 600.0, now)
            every_fix.append(time.perf_counter() - t2)
            differ += _gaps_differ(gaps, every)
            times.append(t2 - t0)
            alone.append(t1 - t0)
            found.append(len(people))
            if q < check:
                ref = nearby(await near_candidates(conn, cells, lon, lat, radius, start, end,
                                                   jurisdictions), lon, lat, radius)
                ref_gaps = await reference_gaps(conn, [p.supervisee_id for p in ref], start,
                                                end, 600.0, now)
                mismatches += (_answer(people) != _answer(ref)) or gaps != ref_gaps
    return {"times": times, "people_only": alone, "found": found, "checked": min(check, n),
            "mismatches": mismatches, "gaps_every_fix": every_fix, "gaps_differ": differ}


def _gaps_differ(a: dict[str, list[tuple[float, float]]],
                 b: dict[str, list[tuple[float, float]]]) -> bool:
    """Whether two answers' gaps differ (the window's end is "now" for both, read a moment
    apart: ends within a second are the same)."""
    return a.keys() != b.keys() or any(
        len(a[k]) != len(b[k]) or any(abs(x - y) > 1.0 for g, h in zip(a[k], b[k], strict=True)
                                      for x, y in zip(g, h, strict=True)) for k in a)


def _answer(people: list) -> list:
    return sorted((p.supervisee_id, round(p.closest_m, 6), p.closest_ts, p.closest_device_id,
                   p.fixes_within, p.visits, [(f[0], f[1], round(f[5], 6)) for f in p.fixes])
                  for p in people)


async def track_queries(url: str, fleet: Fleet, n: int, rng: np.random.Generator
                        ) -> dict[str, list[float]]:
    """Times of ``n`` month-long tracks as the route answers them (thinned in time, day by day,
    from the kept days: :func:`store.kept_tracks.thinned_in_time`) and, for the same people in
    the same run, from every fix thinned whole (``every_fix``, the way before kept days)."""
    times: dict[str, list[float]] = {"kept": [], "every_fix": []}
    start = datetime.fromtimestamp(fleet.start, UTC)
    end = datetime.fromtimestamp(min(fleet.end, fleet.start + 30 * 86400.0), UTC)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(n):
            sid = fleet.members[int(rng.integers(len(fleet.members)))].id
            t0 = time.perf_counter()
            got = await thinned_in_time(conn, sid, start, end, 5000, now=after(fleet))
            orjson.dumps(_geojson(sid, got.tracks, got.tolerance_m, got.fixes))
            t1 = time.perf_counter()
            tracks = await supervisee_tracks(conn, sid, start, end, 2_000_000)
            shown, tol = thinned(tracks, 5000, in_time=True)
            orjson.dumps(_geojson(sid, shown, tol, sum(len(t) for t in tracks)))
            times["kept"].append(t1 - t0)
            times["every_fix"].append(time.perf_counter() - t1)
    return times


def true_stays(member, lo: float, hi: float) -> list[tuple[float, float, float, float, bool]]:
    """(start, end, lon, lat, cut by the window) of each stay of at least 5 min in [lo, hi]."""
    life = member.life
    home = life.person.home
    places = [(home.lon, home.lat, float(life.path.t[0]))]
    places += [(leg.dest.lon, leg.dest.lat, leg.arrive) for leg in life.legs]
    departs = [leg.depart for leg in life.legs] + [float(life.path.t[-1])]
    out = []
    for (x, y, a), b in zip(places, departs, strict=True):
        s, e = max(a, lo), min(b, hi)
        if e - s >= 300.0:
            out.append((s, e, x, y, s != a or e != b))
    return out


def score(found: list[tuple[float, float, float, float]],
          truth: list[tuple[float, float, float, float, bool]],
          observable: list[bool]) -> dict[str, Any]:
    from history.cells import haversine_m

    def matches(f, s) -> bool:
        return f[0] < s[1] and s[0] < f[1] and (
            math.isnan(f[2]) or float(haversine_m(f[2], f[3], s[2], s[3])) <= MATCH_M)

    good = sum(any(matches(f, s) for s in truth) for f in found)
    recalled, start_err, end_err = 0, [], []
    for s, obs in zip(truth, observable, strict=True):
        if not obs:
            continue
        hits = [f for f in found if matches(f, s)]
        if not hits:
            continue
        recalled += 1
        if not s[4]:
            best = max(hits, key=lambda f: min(f[1], s[1]) - max(f[0], s[0]))
            start_err.append(abs(best[0] - s[0]))
            end_err.append(abs(best[1] - s[1]))
    return {"found": len(found), "correct": good, "observable": sum(observable),
            "recalled": recalled, "start_err": start_err, "end_err": end_err}


async def stop_scores(url: str, fleet: Fleet, people: int) -> dict[str, Any]:
    lo, hi = fleet.start, fleet.end
    start, end = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
    totals = {k: {"found": 0, "correct": 0, "observable": 0, "recalled": 0, "start_err": [],
                  "end_err": []} for k in ("cordon", "naive")}
    settings = StopSettings()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for m in fleet.members[:people]:
            devices = [d for d in (m.bracelet, m.phone) if d]
            got = await device_fixes(conn, devices, start, end, 2_000_000)
            if not len(got):
                continue
            truth = true_stays(m, lo, hi)
            ts = np.sort(got.ts)
            observable = []
            for s in truth:
                inside = ts[(ts >= s[0]) & (ts <= s[1])]
                observable.append(len(inside) > 1 and inside[-1] - inside[0] >= 240.0)
            ours = [(p.start, p.end, p.lon, p.lat) for p in
                    stops(got.ts, got.lon, got.lat, got.accuracy_m, settings)]
            naive = [(a, b, math.nan, math.nan) for a, b in
                     speed_stops(got.ts, got.lon, got.lat)]
            # The naive detector has no place: judge it on time alone (in its favour).
            for name, found in (("cordon", ours), ("naive", naive)):
                r = score(found, truth, observable)
                for k, v in r.items():
                    totals[name][k] += v
    out: dict[str, Any] = {}
    for name, t in totals.items():
        prefix = "stop" if name == "cordon" else "naive_stop"
        out[f"{prefix}_precision"] = round(t["correct"] / max(t["found"], 1), 4)
        out[f"{prefix}_recall"] = round(t["recalled"] / max(t["observable"], 1), 4)
        out[f"{prefix}_start_err_median_s"] = round(float(np.median(t["start_err"])), 1) \
            if t["start_err"] else None
        out[f"{prefix}_end_err_median_s"] = round(float(np.median(t["end_err"])), 1) \
            if t["end_err"] else None
        out[f"{prefix}s_found"] = t["found"]
    out["true_stays_observable"] = totals["cordon"]["observable"]
    return out


async def together_queries(url: str, fleet: Fleet, n: int, rng: np.random.Generator,
                           jurisdictions: list[str], check: int) -> dict[str, Any]:
    """Times of ``n`` "who was with this person" searches over a day (a random 24 h window), as
    the route makes them; the first ``check`` compared with the meetings of that person among
    every pair of everyone placed over the same window (:func:`history.together.colocations`,
    itself checked against the brute force in the tests): another path to the same answer."""
    times, found, mismatches = [], [], 0
    s = TogetherSettings()
    span = fleet.end - fleet.start
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for q in range(n):
            sid = fleet.members[int(rng.integers(len(fleet.members)))].id
            lo = fleet.start + float(rng.uniform(0, max(span - 86400.0, 0.0)))
            start = datetime.fromtimestamp(lo, UTC)
            end = datetime.fromtimestamp(min(lo + 86400.0, fleet.end), UTC)
            t0 = time.perf_counter()
            got = await together_with(conn, sid, start, end, jurisdictions, s)
            times.append(time.perf_counter() - t0)
            found.append(len({m.b for m in got}))
            if q < check:
                placed, _ = await place_people(conn, [m.id for m in fleet.members], start, end, s)
                every = [m for m in colocations(placed, s.radius_m, s.min_s) if sid in (m.a, m.b)]
                want = sorted((m.b if m.a == sid else m.a, m.start, m.end, m.steps)
                              for m in every)
                mismatches += want != sorted((m.b, m.start, m.end, m.steps) for m in got)
    return {"times": times, "found": found, "checked": min(check, n), "mismatches": mismatches}


async def day_passes(url: str, fleet: Fleet, again: bool) -> list[float]:
    """The nightly day pass (:func:`store.kept_days.keep_day`: coverage runs and tracks thinned
    in time) over every whole UTC day of the fleet — from nothing kept when ``again``, else
    only over the days not passed yet: seconds each. The searches and tracks then find the days
    kept, as they do in service."""
    first = datetime.fromtimestamp(fleet.start, UTC).date() + timedelta(days=1)
    last = datetime.fromtimestamp(fleet.end, UTC).date()
    seconds = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        if again:
            await conn.execute("TRUNCATE kept_coverage, kept_tracks, day_passes")
            await conn.commit()
        cur = await conn.execute("SELECT day FROM day_passes")
        passed = {r[0] for r in await cur.fetchall()}
        day = first
        while day < last:
            if day in passed:
                day += timedelta(days=1)
                continue
            done = await keep_day(conn, day)
            seconds.append(done.seconds)
            progress(f"  {day}: {done.devices:,} devices, {done.fixes:,} fixes in "
                     f"{done.seconds:.1f} s")
            day += timedelta(days=1)
    return seconds


async def colocation_days(url: str, fleet: Fleet, days: int, rng: np.random.Generator
                          ) -> dict[str, Any]:
    """The nightly pass (every pair of everyone, one local day: read, place, join, keep) over
    ``days`` random whole days of the fleet: seconds each, meetings found."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT DISTINCT timezone FROM jurisdictions")
        zones = [r[0] for r in await cur.fetchall()]
        first = datetime.fromtimestamp(fleet.start, UTC).date() + timedelta(days=1)
        whole = max(int((fleet.end - fleet.start) // 86400) - 2, 1)
        seconds, meetings, people, fixes = [], [], 0, 0
        for k in sorted(rng.choice(whole, size=min(days, whole), replace=False).tolist()):
            took = 0.0
            for zone in zones:
                done = await colocation_pass(conn, first + timedelta(days=k), zone)
                took += done.seconds
                meetings.append(done.meetings)
                people, fixes = max(people, done.people), max(fixes, done.fixes)
            seconds.append(took)
    return {"seconds": seconds, "meetings": meetings, "people": people, "fixes": fixes}


async def run(args: argparse.Namespace, url: str, admin: str) -> dict[str, Any]:
    per_device = args.days * 86400.0 / args.interval
    supervisees = max(3, math.ceil(args.fixes / per_device / DEVICES_PER_SUPERVISEE))
    while True:  # enough devices for --fixes at one fix each interval
        progress(f"building a fleet of {supervisees:,} supervisees over {args.days:g} days")
        fleet = Fleet(FleetConfig(supervisees=supervisees, seed=args.seed, days=args.days,
                                  report_interval_s=args.interval))
        # 1 % to spare: the devices' off periods leave some reporting times without a fix.
        short = 1.01 * args.fixes - len(fleet.devices) * per_device
        if short <= 0:
            break
        supervisees += max(1, math.ceil(short / per_device / DEVICES_PER_SUPERVISEE))
    marker = args.reuse / "loaded.json" if args.reuse else None
    if marker and marker.exists():
        loaded = json.loads(marker.read_text())
        if loaded["args"] != load_args(args):
            raise SystemExit(f"{args.reuse} holds a database loaded with {loaded['args']}, "
                             f"not {load_args(args)}: choose another --reuse folder")
        progress(f"{len(fleet.devices):,} devices; reusing the database in {args.reuse} "
                 f"({loaded['fixes']:,} fixes); migrating")
        await migrate(url)
        fixes, load_s = loaded["fixes"], loaded["load_s"]
    else:
        progress(f"{len(fleet.devices):,} devices; migrating and registering")
        await migrate(url)
        async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
            await import_registry(conn, orjson.loads(orjson.dumps(
                fleet.registry(), option=orjson.OPT_SERIALIZE_NUMPY)))
        progress(f"loading ~{args.fixes:,} fixes")
        fixes, load_s = await load(url, fleet, args.interval, args.seed)
        if marker:
            marker.write_text(json.dumps({"args": load_args(args), "fixes": fixes,
                                          "load_s": load_s}))
    overhead = None
    if not args.queries_only:
        progress("insert overhead of the cells (same fixes, with and without)")
        overhead = await insert_overhead(admin, url, fleet, args.interval, args.seed,
                                         args.overhead_fixes)
    jurisdictions = sorted({m.county.id for m in fleet.members})
    rng = np.random.default_rng((args.seed, 77))
    result: dict[str, Any] = {"fixes": fixes, "devices": len(fleet.devices),
                              "supervisees": supervisees, "days": args.days,
                              "load_s": round(load_s, 1),
                              "load_fixes_per_s": round(fixes / load_s)}
    progress("the nightly day pass (coverage runs, tracks thinned in time), every closed day")
    got = await day_passes(url, fleet, again=not args.queries_only)
    if got:
        result["day_pass_1d_s"] = round(float(np.median(got)), 2)
    result["day_pass_days"] = len(got)
    for label, hours in (("24h", 24), ("7d", 168), ("30d", 720)):
        progress(f"near queries over {label}")
        got = await near_queries(url, fleet, hours, args.queries, args.radius, rng,
                                 jurisdictions, args.check)
        p50, p95 = ms_stats(got["times"])
        result[f"near_{label}_p50_ms"], result[f"near_{label}_p95_ms"] = p50, p95
        p50, p95 = ms_stats(got["people_only"])
        result[f"near_{label}_without_gaps_p50_ms"] = p50
        result[f"near_{label}_without_gaps_p95_ms"] = p95
        result[f"near_{label}_people_mean"] = round(float(np.mean(got["found"])), 2)
        result[f"near_{label}_people_max"] = int(np.max(got["found"]))
        p50, p95 = ms_stats(got["gaps_every_fix"])
        result[f"near_{label}_gaps_every_fix_p50_ms"] = p50
        result[f"near_{label}_gaps_every_fix_p95_ms"] = p95
        result[f"near_{label}_gaps_differing"] = got["gaps_differ"]
        result[f"near_{label}_checked"] = got["checked"]
        result[f"near_{label}_mismatches"] = got["mismatches"]
    progress("who was with a person, over a day")
    got = await together_queries(url, fleet, args.queries, rng, jurisdictions, args.check)
    result["with_person_1d_p50_ms"], result["with_person_1d_p95_ms"] = ms_stats(got["times"])
    result["with_person_1d_people_mean"] = round(float(np.mean(got["found"])), 2)
    result["with_person_1d_checked"] = got["checked"]
    result["with_person_1d_mismatches"] = got["mismatches"]
    progress("the nightly co-location pass, everyone over a day")
    got = await colocation_days(url, fleet, args.colocation_days, rng)
    result["colocation_all_1d_s"] = round(float(np.median(got["seconds"])), 2)
    result["colocation_all_1d_max_s"] = round(float(np.max(got["seconds"])), 2)
    result["colocation_all_1d_fixes"] = got["fixes"]
    result["colocation_all_1d_meetings_mean"] = round(float(np.mean(got["meetings"])), 1)
    progress("30-day tracks as GeoJSON")
    got = await track_queries(url, fleet, args.queries, rng)
    result["track_30d_geojson_p50_ms"], result["track_30d_geojson_p95_ms"] = ms_stats(
        got["kept"])
    result["track_30d_every_fix_p50_ms"], result["track_30d_every_fix_p95_ms"] = ms_stats(
        got["every_fix"])
    if overhead is not None:
        result["insert_overhead_pct"] = round(
            100.0 * (overhead["with_cells"] / overhead["without_cells"] - 1.0), 1)
        result["insert_fixes_per_s_with_cells"] = round(
            overhead["rows"] / overhead["with_cells"])
        result["insert_fixes_per_s_without_cells"] = round(
            overhead["rows"] / overhead["without_cells"])
        progress(f"stops of {min(args.stop_people, supervisees)} supervisees against the truth")
        result |= await stop_scores(url, fleet, args.stop_people)
    result["radius_m"] = args.radius
    return result


def load_args(args: argparse.Namespace) -> dict[str, Any]:
    """What decides the loaded fixes (a reused database must have been loaded with these)."""
    return {"fixes": args.fixes, "days": args.days, "interval": args.interval,
            "seed": args.seed}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="benchmarks.history", description=__doc__.split("\n")[0])
    ap.add_argument("--fixes", type=int, default=40_000_000,
                    help="at least this many fixes")
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between fixes")
    ap.add_argument("--queries", type=int, default=100, help="of each kind")
    ap.add_argument("--radius", type=float, default=200.0)
    ap.add_argument("--stop-people", type=int, default=100)
    ap.add_argument("--colocation-days", type=int, default=3,
                    help="whole days the nightly co-location pass is timed over")
    ap.add_argument("--overhead-fixes", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", type=int, default=10,
                    help="compare the first N searches of each window with the reference")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="keep the database here (default: a temporary folder)")
    ap.add_argument("--reuse", type=Path, default=None, metavar="DIR",
                    help="keep the loaded database in DIR and, when DIR already holds one "
                         "loaded with the same --fixes/--days/--interval/--seed, query it "
                         "without loading again (new migrations are applied)")
    ap.add_argument("--queries-only", action="store_true",
                    help="time the queries only (no insert overhead, no stop scores)")
    args = ap.parse_args(argv)
    if args.reuse:
        args.reuse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cordon-history-", dir="/tmp") as tmp:
        work = args.reuse or args.data_dir or Path(tmp)
        work.chmod(0o755)
        with PrivatePostgres(free_port(), work / "pg", durable=False) as pg:
            admin = pg.url.rsplit("/", 1)[0] + "/postgres"
            result = asyncio.run(run(args, pg.url, admin))
    print(json.dumps(result, default=lambda o: o.item()), flush=True)
    return result


if __name__ == "__main__":
    main()
