"""The daily report of one person (日报告), read from the database and summarised by
:mod:`history.daily`: the day is the local day of the person's jurisdiction; the work place is
inferred from the four weeks before it (home from the registered home zone, and compared with
the home the nights suggest), each day's timeline kept once computed (:mod:`store.timelines`);
alerts with their outcomes, check-ins and coverage gaps with their causes come with it."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from geofence.zones import Zone, ZoneError
from history.cells import haversine_m
from history.daily import Place, infer_places, summarise
from history.stops import StopSettings
from store.history import plan_settings, supervisee_devices
from store.timelines import day_timelines

LOOK_BACK_DAYS = 28
WORK_HOURS = (8, 18)  # local, on weekdays


def home_place(feature: dict[str, Any] | None) -> Place | None:
    """The registered home zone as a circle: a circle zone as it is; a polygon as the circle
    around its centroid through its farthest vertex (a generous home)."""
    if not feature:
        return None
    try:
        zone = Zone.from_feature(feature)
    except ZoneError:
        return None
    if zone.shape == "circle":
        return Place(*zone.center, zone.radius_m)
    c = zone.geometry.centroid
    hull = np.asarray(zone.geometry.convex_hull.exterior.coords)
    far = float(np.max(haversine_m(c.x, c.y, hull[:, 0], hull[:, 1])))
    return Place(c.x, c.y, far)


async def daily_report(conn: psycopg.AsyncConnection, supervisee_id: str, day: date
                       ) -> dict[str, Any] | None:
    """The report of ``day`` for the person, or None if there is no such person."""
    cur = await conn.execute(
        "SELECT s.name, s.jurisdiction_id, j.timezone, z.feature FROM supervisees s "
        "JOIN jurisdictions j ON j.id = s.jurisdiction_id "
        "LEFT JOIN zones z ON z.id = s.home_zone_id WHERE s.id = %s", (supervisee_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    name, jurisdiction_id, zone_name, home_feature = row
    tz = ZoneInfo(zone_name)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    lo, hi = start.timestamp(), end.timestamp()
    now = time.time()
    settings = StopSettings.from_plan(await plan_settings(conn, supervisee_id))
    devices = await supervisee_devices(conn, supervisee_id)
    # The four weeks before and the day itself, one kept timeline a day (store/timelines.py).
    days = [day - timedelta(days=k) for k in range(LOOK_BACK_DAYS, -1, -1)]
    by_day = await day_timelines(conn, supervisee_id, devices, days, zone_name, settings)
    past = [s for d in days[:-1] for s in by_day[d]]
    nights, hours = [], []
    for d in days[:-1]:
        midnight = datetime.combine(d, datetime.min.time(), tz).timestamp()
        nights.append((midnight, midnight + 5 * 3600))
        if d.weekday() < 5:
            hours.append((midnight + WORK_HOURS[0] * 3600, midnight + WORK_HOURS[1] * 3600))
    home = home_place(home_feature)
    inferred_home, work = infer_places([s for s in past if s.kind == "stop"], nights, hours,
                                       home)
    segments = by_day[day]
    cur = await conn.execute(
        "SELECT count(*) FROM fixes WHERE device_id = ANY(%s) AND ts >= %s AND ts < %s",
        (devices, start, end))
    fix_count = int((await cur.fetchone())[0])
    cur = await conn.execute(
        "SELECT extract(epoch FROM ts)::float8, event FROM device_events "
        "WHERE device_id = ANY(%s) AND ts >= %s AND ts < %s ORDER BY ts",
        (devices, start - timedelta(minutes=10), end))
    events = [(r[0], r[1]) for r in await cur.fetchall()]
    summary = summarise(segments, lo, min(hi, max(now, lo)), (lo, lo + 5 * 3600), home, work,
                        events)
    cur = await conn.execute(
        "SELECT a.id, a.kind, a.severity, a.status, extract(epoch FROM a.started_at)::float8, "
        "extract(epoch FROM a.ended_at)::float8, r.cause, r.outcome, r.note, r.actor, "
        "extract(epoch FROM r.at)::float8 FROM alerts a LEFT JOIN LATERAL ("
        " SELECT e.cause, e.outcome, e.note, e.actor, e.at FROM alert_events e "
        " WHERE e.alert_id = a.id AND e.action = 'resolved' ORDER BY e.at DESC LIMIT 1) r "
        "ON true WHERE a.supervisee_id = %s AND a.started_at < %s "
        "AND (a.ended_at IS NULL OR a.ended_at >= %s) ORDER BY a.started_at, a.id",
        (supervisee_id, end, start))
    alerts = [{"id": r[0], "kind": r[1], "severity": r[2], "status": r[3], "started_at": r[4],
               "ended_at": r[5], "cause": r[6], "outcome": r[7], "note": r[8],
               "resolved_by": r[9], "resolved_at": r[10]} for r in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT id, device_id, extract(epoch FROM requested_at)::float8, "
        "extract(epoch FROM deadline)::float8, requested_by, status, "
        "extract(epoch FROM answer_ts)::float8, home_distance_m, at_home FROM check_ins "
        "WHERE supervisee_id = %s AND requested_at >= %s AND requested_at < %s "
        "ORDER BY requested_at", (supervisee_id, start, end))
    check_ins = [{"id": r[0], "device_id": r[1], "requested_at": r[2], "deadline": r[3],
                  "requested_by": r[4], "status": r[5], "answered_at": r[6],
                  "home_distance_m": r[7], "at_home": r[8]} for r in await cur.fetchall()]

    def place(p: Place | None) -> dict[str, float] | None:
        return None if p is None else {"lon": p.lon, "lat": p.lat, "radius_m": p.radius_m}

    home_gap = None
    if home is not None and inferred_home is not None:
        home_gap = round(float(haversine_m(home.lon, home.lat, inferred_home.lon,
                                           inferred_home.lat)), 1)
    return {
        "supervisee_id": supervisee_id, "name": name, "jurisdiction_id": jurisdiction_id,
        "day": day.isoformat(), "timezone": zone_name, "start": lo, "end": hi,
        "complete": now >= hi, "fixes": fix_count,
        "slept": summary.slept, "slept_lon": summary.slept_lon, "slept_lat": summary.slept_lat,
        "home_s": summary.home_s, "work_s": summary.work_s,
        "elsewhere_s": summary.elsewhere_s, "moving_s": summary.moving_s,
        "unseen_s": summary.unseen_s, "distance_m": round(summary.distance_m, 1),
        "home": place(home), "work": place(work), "inferred_home": place(inferred_home),
        "inferred_home_from_registered_m": home_gap,
        "visits": [asdict(v) | {"duration_s": v.duration_s} for v in summary.visits],
        "gaps": [asdict(g) for g in summary.gaps],
        "alerts": alerts, "check_ins": check_ins,
    }


CSV_LABELS = {
    "en": {
        "report": "Daily report", "person": "Person", "day": "Day", "slept": "Slept at",
        "home": "home", "work": "work", "elsewhere": "elsewhere", "unknown": "unknown",
        "home_h": "Hours at home", "work_h": "Hours at work", "elsewhere_h": "Hours elsewhere",
        "moving_h": "Hours moving", "unseen_h": "Hours unseen", "distance_km": "Distance (km)",
        "visits": "Places", "gaps": "Coverage gaps", "alerts": "Alerts",
        "check_ins": "Check-ins", "start": "Start", "end": "End", "place": "Where",
        "minutes": "Minutes", "lon": "Longitude", "lat": "Latitude", "cause": "Cause",
        "kind": "Kind", "severity": "Severity", "status": "Status", "outcome": "Outcome",
        "note": "Note", "requested": "Requested", "answered": "Answered",
        "home_distance_m": "Distance from home (m)", "device_off": "device off",
        "no_fix": "no position fix", "silence": "silence",
    },
    "zh-CN": {
        "report": "日报告", "person": "矫正对象", "day": "日期", "slept": "夜宿",
        "home": "住所", "work": "工作地", "elsewhere": "其他地点", "unknown": "未知",
        "home_h": "在住所（小时）", "work_h": "在工作地（小时）",
        "elsewhere_h": "在其他地点（小时）", "moving_h": "移动中（小时）",
        "unseen_h": "无定位（小时）", "distance_km": "移动距离（公里）",
        "visits": "停留地点", "gaps": "定位缺失", "alerts": "告警", "check_ins": "信息化核查",
        "start": "开始", "end": "结束", "place": "地点", "minutes": "分钟", "lon": "经度",
        "lat": "纬度", "cause": "原因", "kind": "类型", "severity": "级别", "status": "状态",
        "outcome": "处置结果", "note": "备注", "requested": "发起时间", "answered": "应答时间",
        "home_distance_m": "距住所（米）", "device_off": "设备关机", "no_fix": "无法定位",
        "silence": "无信号",
    },
}


def report_csv(report: dict[str, Any], lang: str) -> str:
    """The report as CSV in ``lang`` (``en`` or ``zh-CN``), local times, one section after
    another (a heading row, a header row, the rows), readable in a spreadsheet."""
    import csv
    import io

    t = CSV_LABELS[lang]
    tz = ZoneInfo(report["timezone"])

    def at(ts: float | None) -> str:
        return "" if ts is None or (isinstance(ts, float) and math.isnan(ts)) else \
            datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")

    def hours(s: float) -> str:
        return f"{s / 3600:.2f}"

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([t["report"]])
    w.writerow([t["person"], report["name"], report["supervisee_id"]])
    w.writerow([t["day"], report["day"], report["timezone"]])
    w.writerow([t["slept"], t.get(report["slept"] or "unknown", report["slept"])])
    for key in ("home", "work", "elsewhere", "moving", "unseen"):
        w.writerow([t[f"{key}_h"], hours(report[f"{key}_s"])])
    w.writerow([t["distance_km"], f"{report['distance_m'] / 1000:.2f}"])
    w.writerow([])
    w.writerow([t["visits"]])
    w.writerow([t["start"], t["end"], t["minutes"], t["place"], t["lon"], t["lat"]])
    for v in report["visits"]:
        w.writerow([at(v["start"]), at(v["end"]), round(v["duration_s"] / 60), t[v["place"]],
                    f"{v['lon']:.6f}", f"{v['lat']:.6f}"])
    w.writerow([])
    w.writerow([t["gaps"]])
    w.writerow([t["start"], t["end"], t["minutes"], t["cause"]])
    for g in report["gaps"]:
        w.writerow([at(g["start"]), at(g["end"]), round((g["end"] - g["start"]) / 60),
                    t[g["cause"]]])
    w.writerow([])
    w.writerow([t["alerts"]])
    w.writerow([t["start"], t["end"], t["kind"], t["severity"], t["status"], t["cause"],
                t["outcome"], t["note"]])
    for a in report["alerts"]:
        w.writerow([at(a["started_at"]), at(a["ended_at"]), a["kind"], a["severity"],
                    a["status"], a["cause"] or "", a["outcome"] or "", a["note"] or ""])
    w.writerow([])
    w.writerow([t["check_ins"]])
    w.writerow([t["requested"], t["answered"], t["status"], t["home_distance_m"]])
    for c in report["check_ins"]:
        dist = c["home_distance_m"]
        w.writerow([at(c["requested_at"]), at(c["answered_at"]), c["status"],
                    "" if dist is None else round(dist)])
    return out.getvalue()
