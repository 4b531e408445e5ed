"""Wall benchmark: the command centre's wall in headless Chromium through an accelerated day of
the simulated fleet.

The real stack — private Mosquitto, private PostgreSQL/TimescaleDB, ``cordon serve`` on a clock
``--accel`` times faster than the wall's (as in :mod:`benchmarks.detection`) — replays
``--hours`` of the fleet (:mod:`simulators.fleet`; people put on the three supervision levels
in turn, one in ten under a positioning order, one in fifteen on leave for half a day). The
wall (``/static/wall.html``) runs as an unattended kiosk of the state, refreshing its figures
every ``--refresh`` wall seconds and after every alert. Measured:

- ``kpi_mismatches``: every ``--sample`` seconds, each KPI the wall shows (its text and its
  value) is compared with the same figure computed here, independently of
  :mod:`store.figures`, from the database's raw rows at the instant the wall's figures name
  (``as_of``): rows read just before the wall computed it and again just after the wall showed
  it. A fleet keeps writing while one looks, both ways (an alert cleared, another raised), so
  the wall's count must lie between what both reads count and what either does (the median
  between the two medians). A figure outside, or a text that does not say its value, is a
  mismatch.
- ``alert_to_wall_p95_ms``: from the transaction that stored an alert (its ``opened`` step, on
  the wall clock) until its line is on the wall (a MutationObserver in the page), p95 over the
  alerts raised while the wall was up.
- ``heap_growth_mb``: the page's JavaScript heap after a garbage collection at the end, less
  the same after the first simulated hour.

    python -m benchmarks.wall [--hours 24] [--supervisees 300] [--accel 240]

Progress goes to stderr; the last line on stdout is the JSON result
``{"hours", "kpi_mismatches", "alert_to_wall_p95_ms", "heap_growth_mb", …}``; bars:
``kpi_mismatches`` = 0, ``alert_to_wall_p95_ms`` ≤ 2000, ``heap_growth_mb`` ≤ 50 over 24 hours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from benchmarks.detection import ENCODE_S_PER_MESSAGE, ENGINE_BOOT_S, register
from benchmarks.serve import engine_process
from cordon.services import PrivateMosquitto, PrivatePostgres, free_port
from simulators.fleet import DEFAULT_START, Fleet, FleetConfig
from simulators.loadgen import publish_load

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--enable-unsafe-swiftshader"]
LEVELS = ("strict", "normal", "relaxed")
LOOKBACK_S = 7 * 86400.0
BARS = {"kpi_mismatches": 0, "alert_to_wall_p95_ms": 2000, "heap_growth_mb_over_24h": 50}
# Records when each alert's line first appears on the wall.
ARRIVALS = """
window.__arrived = {};
addEventListener('DOMContentLoaded', () => {
  const list = document.getElementById('wall-warnings');
  new MutationObserver(() => {
    const now = Date.now();
    for (const li of list.children) window.__arrived[li.dataset.alertId] ??= now;
  }).observe(list, { childList: true });
});
"""
READ_WALL = """() => ({
  asOf: Number(document.getElementById('wall-asof').dataset.asOf || 0),
  place: document.body.dataset.jurisdiction,
  figures: [...document.querySelectorAll('#wall-kpis [data-figure]')].map((n) => (
    { key: n.dataset.figure, value: n.dataset.value, text: n.textContent })),
})"""


def progress(msg: str) -> None:
    print(f"[wall] {msg}", file=sys.stderr, flush=True)


# --- the figures, computed here from raw rows --------------------------------------------------


@dataclass
class Snapshot:
    """The database's raw rows the figures are made of, as read at one moment."""

    people: list[tuple[str, str | None, float | None]] = field(default_factory=list)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: list[tuple[str, str, float | None]] = field(default_factory=list)
    last_fix: dict[str, float] = field(default_factory=dict)
    last_event: dict[str, tuple[float, str]] = field(default_factory=dict)
    alerts: list[tuple[int, float, str, bool, float | None]] = field(default_factory=list)
    orders: list[tuple[float, float, float | None, str]] = field(default_factory=list)
    leaves: list[tuple[str, float, float]] = field(default_factory=list)


def snapshot(conn: psycopg.Connection, until: float) -> Snapshot:
    """Rows up to the instant ``until`` (device messages) of every jurisdiction (the state's
    wall shows the whole tree)."""
    s = Snapshot()
    s.people = [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT id, plan_id, extract(epoch FROM released_at)::float8 FROM supervisees")]
    s.plans = {r[0]: r[1] for r in conn.execute("SELECT id, settings FROM supervision_plans")}
    s.devices = [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT id, supervisee_id, report_interval_s FROM devices "
        "WHERE supervisee_id IS NOT NULL AND retired_at IS NULL")]
    s.last_fix = {r[0]: r[1] for r in conn.execute(
        "SELECT device_id, extract(epoch FROM max(ts))::float8 FROM fixes "
        "WHERE ts <= to_timestamp(%s) AND ts > to_timestamp(%s) GROUP BY device_id",
        (until, until - LOOKBACK_S))}
    s.last_event = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT DISTINCT ON (device_id) device_id, extract(epoch FROM ts)::float8, event "
        "FROM device_events WHERE ts <= to_timestamp(%s) AND ts > to_timestamp(%s) "
        "ORDER BY device_id, ts DESC, event", (until, until - LOOKBACK_S))}
    s.alerts = [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT a.id, extract(epoch FROM coalesce(a.raised_at, a.started_at))::float8, a.status, "
        "a.escalated_at IS NOT NULL, (SELECT extract(epoch FROM min(e.at))::float8 "
        " FROM alert_events e WHERE e.alert_id = a.id AND e.actor <> 'engine' "
        " AND e.action IN ('acknowledged', 'resolved')) FROM alerts a "
        "WHERE coalesce(a.raised_at, a.started_at) > to_timestamp(%s)", (until - 2 * 86400,))]
    s.orders = [(r[0], r[1], r[2], r[3]) for r in conn.execute(
        "SELECT extract(epoch FROM starts_at)::float8, extract(epoch FROM ends_at)::float8, "
        "extract(epoch FROM removed_at)::float8, supervisee_id FROM positioning_orders")]
    s.leaves = [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT supervisee_id, extract(epoch FROM starts_at)::float8, "
        "extract(epoch FROM ends_at)::float8 FROM leaves "
        "WHERE kind = 'leave' AND status = 'approved'")]
    return s


Members = set[Any]  # what a count counts: people, devices, alerts, orders by id


def truth(s: Snapshot, at: float, timezone: str) -> dict[str, Members | float | None]:
    """The wall's KPIs at ``at`` from a snapshot (definitions: store/figures.py): for each
    count the set of what it counts, for the median response its value."""
    local = datetime.fromtimestamp(at, ZoneInfo(timezone))
    today = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    f: dict[str, Members | float | None] = {}
    current = {pid: plan for pid, plan, released in s.people
               if released is None or released > at}
    f["people.total"] = set(current)
    for level in (*LEVELS, "other"):
        f[f"people.{level}"] = {pid for pid, p in current.items()
                                if (p if p in LEVELS else "other") == level}
    states: dict[str, Members] = {"online": set(), "silent": set(), "off": set()}
    for did, pid, interval in s.devices:
        if pid not in current:
            continue
        plan = s.plans.get(current[pid] or "", {}) if current[pid] else {}
        allowed = (interval or plan.get("report_interval_s") or 60.0) + \
            (plan.get("lost_contact_grace_s") or 1800.0)
        fix = s.last_fix.get(did)
        fix = fix if fix is not None and fix <= at else None
        event = s.last_event.get(did)
        event = event if event is not None and event[0] <= at else None
        if event and event[1] == "power_off" and (fix is None or fix < event[0]):
            states["off"].add(did)
        elif max(fix or -1e18, event[0] if event else -1e18) >= at - allowed:
            states["online"].add(did)
        else:
            states["silent"].add(did)
    f["devices.total"] = set().union(*states.values())
    f.update({f"devices.{k}": v for k, v in states.items()})
    today_alerts = [a for a in s.alerts if today <= a[1] <= at]
    f["alerts.raised"] = {a[0] for a in today_alerts}
    f["alerts.open"] = {a[0] for a in today_alerts if a[2] == "open"}
    f["alerts.acknowledged"] = {a[0] for a in today_alerts if a[2] == "acknowledged"}
    f["alerts.closed"] = {a[0] for a in today_alerts if a[2] in ("resolved", "cleared")}
    responses = [a[4] - a[1] for a in today_alerts if a[4] is not None and a[4] <= at]
    f["alerts.median_response_s"] = statistics.median(responses) if responses else None
    in_force = [o for o in s.orders
                if o[0] <= at < min(o[1], o[2] if o[2] is not None else float("inf"))]
    f["orders.in_force"] = {(o[3], o[0]) for o in in_force}
    f["orders.ending_soon"] = {(o[3], o[0]) for o in in_force if o[1] <= at + 7 * 86400}
    f["on_leave"] = {pid for pid, start, end in s.leaves if pid in current and start <= at < end}
    return f


def bounds(before: Members | float | None, after: Members | float | None
           ) -> tuple[float, float] | None:
    """What the wall may show for a figure read between two snapshots: a count lies between
    what both counted and what either did (things change both ways meanwhile); a median
    between the two medians. None: no value (no median yet)."""
    if isinstance(before, set) and isinstance(after, set):
        return float(len(before & after)), float(len(before | after))
    values = [v for v in (before, after) if isinstance(v, float | int)]
    return (min(values), max(values)) if values else None


def mismatches(shown: list[dict[str, str]], before: dict[str, Any], after: dict[str, Any]
               ) -> list[str]:
    """The figures on the wall that lie outside what the two snapshots allow, or whose text
    does not say their value."""
    wrong = []
    for item in shown:
        key, raw, text = item["key"], item["value"], item["text"]
        value = None if raw == "" else float(raw)
        allowed = bounds(before.get(key), after.get(key))
        if value is None:
            ok = allowed is None or before.get(key) is None or after.get(key) is None
        else:
            ok = allowed is not None and allowed[0] - 1e-6 <= value <= allowed[1] + 1e-6
        if key != "alerts.median_response_s" and value is not None:
            ok = ok and re.sub(r"\D", "", text) == str(int(value))
        if not ok:
            wrong.append(f"{key}: wall {raw!r} ({text!r}), database {allowed!r}")
    return wrong


# --- the run -----------------------------------------------------------------------------------


def prepare(db_url: str, sim_start: float) -> tuple[str, str, str]:
    """Levels, a few positioning orders and a kiosk of the state; returns (state id, its time
    zone, the kiosk's token)."""
    from store.kiosks import create_kiosk

    async def go() -> tuple[str, str, str]:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT id, timezone FROM jurisdictions WHERE parent_id IS NULL")
            state, tz = await cur.fetchone()
            cur = await conn.execute("SELECT id, jurisdiction_id FROM supervisees ORDER BY id")
            for i, (sid, county) in enumerate(await cur.fetchall()):
                if i % 15 == 0:  # on leave for half a day, some hours into the span
                    await conn.execute(
                        "INSERT INTO leaves (supervisee_id, kind, status, destination_zone_id,"
                        " starts_at, ends_at, reason, approval_level, approval_jurisdiction_id,"
                        " requested_by) VALUES (%s, 'leave', 'approved', %s, to_timestamp(%s),"
                        " to_timestamp(%s), 'family', 'county', %s, 'bench')",
                        (sid, f"{county}-line", sim_start + (i % 8) * 3600,
                         sim_start + (i % 8 + 12) * 3600, county))
                await conn.execute("UPDATE supervisees SET plan_id = %s WHERE id = %s",
                                   (LEVELS[i % 3], sid))
                if i % 10 == 0:
                    await conn.execute(
                        "INSERT INTO positioning_orders (supervisee_id, ground, approver, "
                        "starts_at, ends_at, created_by) VALUES (%s, "
                        "'left_area_without_approval', 'bench', to_timestamp(%s), "
                        "to_timestamp(%s), 'bench')",
                        (sid, sim_start - 30 * 86400, sim_start + (i % 20 + 1) * 86400 / 2))
            _, token = await create_kiosk(conn, state, "benchmark", False, "bench")
            return state, tz, token

    return asyncio.run(go())


def heap_mb(cdp: Any) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="benchmarks.wall", description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    ap.add_argument("--supervisees", type=int, default=300)
    ap.add_argument("--accel", type=float, default=240.0,
                    help="simulated seconds per wall second (240: a day in 6 minutes)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--refresh", type=float, default=5.0,
                    help="wall seconds between the wall's own refreshes of its figures")
    ap.add_argument("--sample", type=float, default=4.0,
                    help="wall seconds between comparisons of the wall with the database")
    args = ap.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("cordon bench wall drives a browser: pip install 'cordon[bench]' "
                         "(and Chromium: apt-get install chromium)") from None

    sim_start = DEFAULT_START
    fleet = Fleet(FleetConfig(supervisees=args.supervisees, seed=args.seed, start=sim_start,
                              days=args.hours / 24))
    messages = list(fleet.messages())
    registry = json.loads(json.dumps(fleet.registry()))
    duration = args.hours * 3600 / args.accel
    progress(f"{args.supervisees:,} supervisees, {len(messages):,} messages over "
             f"{args.hours:g} simulated hours: {duration:,.0f} s at {args.accel:g}x")

    work = Path(tempfile.mkdtemp(prefix="cordon-wall-"))
    work.chmod(0o711)
    samples = checked = 0
    wrong: list[str] = []
    with PrivateMosquitto(free_port(), work / "mqtt") as broker, \
            PrivatePostgres(free_port(), work / "pg") as pg:
        asyncio.run(register(pg.url, registry))
        state, tz, token = prepare(pg.url, sim_start)
        wall_start = time.time() + ENGINE_BOOT_S + len(messages) * ENCODE_S_PER_MESSAGE
        clock = lambda: sim_start + (time.time() - wall_start) * args.accel  # noqa: E731
        env = {"CORDON_DATABASE_URL": pg.url, "CORDON_MQTT_URL": broker.url,
               "CORDON_MQTT_CLIENT_ID": "cordon-wall",
               "CORDON_CLOCK": f"accelerated:{sim_start}@{wall_start}x{args.accel}",
               "CORDON_TIMER_TICK_S": "0.1", "CORDON_TIMERS_START_AFTER_S": "0"}
        with engine_process(work, env, lambda h: h["broker"]["connected"]) as (_engine, base):
            load: dict[str, Any] = {}

            def publish() -> None:
                load["report"] = asyncio.run(publish_load(
                    (((m.deliver_at - sim_start) / args.accel, m.device_id, m.topic, m.payload)
                     for m in messages),
                    "127.0.0.1", broker.port, duration + 1.0,
                    target_rate=len(messages) / duration, start_at=wall_start, grace_s=60.0,
                    client_prefix="cordon-wall"))

            publisher = threading.Thread(target=publish, name="publisher", daemon=True)
            publisher.start()
            with sync_playwright() as p, psycopg.connect(pg.url, autocommit=True) as conn:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1920, "height": 1080},
                                        locale="en-US")
                page.add_init_script(ARRIVALS)
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{base}/static/wall.html#j={state}&kiosk={token}&lang=en"
                          f"&refresh={args.refresh:g}")
                page.wait_for_function("() => document.getElementById('wall-feed')"
                                       ".dataset.state === 'connected'", timeout=60_000)
                cdp = page.context.new_cdp_session(page)
                while time.time() < wall_start:
                    time.sleep(0.2)
                wall_up = time.time()
                baseline: float | None = None
                end = wall_start + duration
                while time.time() < end:
                    t0 = time.time()
                    if baseline is None and clock() >= sim_start + 3600:
                        baseline = heap_mb(cdp)
                        progress(f"heap after the first simulated hour: {baseline:.1f} MB")
                    before = snapshot(conn, clock())
                    floor = clock()
                    try:  # figures the server computed after the snapshot above
                        page.wait_for_function(f"() => Number(document.getElementById("
                                               f"'wall-asof').dataset.asOf) >= {floor}",
                                               timeout=(args.refresh + 10) * 1000)
                    except Exception:  # noqa: BLE001 — a wall that stopped refreshing
                        wrong.append(f"no figures after simulated {floor:.0f}")
                        continue
                    seen = page.evaluate(READ_WALL)
                    if seen["asOf"] < floor:  # the page moved on meanwhile: look again
                        continue
                    after = snapshot(conn, seen["asOf"])
                    bad = mismatches(seen["figures"],
                                     truth(before, seen["asOf"], tz),
                                     truth(after, seen["asOf"], tz))
                    samples += 1
                    checked += len(seen["figures"])
                    if bad:
                        wrong.extend(bad)
                        progress(f"mismatch at simulated {seen['asOf']:.0f}: {bad}")
                    if samples % 10 == 0:
                        hour = (clock() - sim_start) / 3600
                        progress(f"simulated hour {hour:5.1f}: {samples} samples, "
                                 f"{len(wrong)} mismatches")
                    time.sleep(max(0.0, args.sample - (time.time() - t0)))
                publisher.join(timeout=120)
                time.sleep(2.0)
                final = heap_mb(cdp)
                arrived = page.evaluate("() => window.__arrived")
                observed = time.time() - 2.0  # what was raised by then must be on the wall
                browser.close()
            opened = conn_rows(pg.url)
    watched = [(aid, at) for aid, at in opened if wall_up <= at <= observed]
    latencies = [(arrived[str(aid)] / 1000 - at) * 1000 for aid, at in watched
                 if str(aid) in arrived]
    missing = sum(1 for aid, _ in watched if str(aid) not in arrived)
    hours = args.hours
    result = {
        "hours": hours,
        "kpi_mismatches": len(wrong),
        "alert_to_wall_p95_ms": round(float(np.percentile(latencies, 95)), 1)
        if latencies else None,
        "heap_growth_mb": round(final - (baseline if baseline is not None else final), 2),
        "alerts_on_wall": len(latencies),
        "alerts_not_on_wall": missing,
        "alert_to_wall_p50_ms": round(float(np.percentile(latencies, 50)), 1)
        if latencies else None,
        "samples": samples,
        "figures_checked": checked,
        "page_errors": len(errors),
        "heap_final_mb": round(final, 2),
        "supervisees": args.supervisees,
        "accel": args.accel,
        "bars": BARS,
    }
    if wrong:
        progress("first mismatches: " + "; ".join(wrong[:5]))
    print(json.dumps(result), flush=True)
    return result


def conn_rows(db_url: str) -> list[tuple[int, float]]:
    """Each alert and when (wall clock) the transaction that stored it began."""
    with psycopg.connect(db_url) as conn:
        return [(int(r[0]), float(r[1])) for r in conn.execute(
            "SELECT alert_id, extract(epoch FROM at)::float8 FROM alert_events "
            "WHERE action = 'opened' ORDER BY alert_id")]


if __name__ == "__main__":
    main()
