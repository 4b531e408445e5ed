"""The monthly bulletin of a jurisdiction (月通报): the month's figures of its subtree and of
each of its children, computed by :func:`store.figures.figures` — the wall's definitions, so a
figure in the bulletin and on the wall agree — at the month's end (or now, for the month under
way), with the month's alerts counted from its first local midnight; and what only a month
shows: alerts by kind, by cause and by outcome (发生原因 / 处置结果, from the resolutions
officers recorded), and the positioning orders made, renewed and removed in it.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from store.figures import figures, subtree


def month_bounds(year: int, month: int, timezone: str) -> tuple[float, float]:
    """The first local midnight of the month and of the next, in epoch seconds.

    >>> month_bounds(2026, 12, "Asia/Shanghai")[1] - month_bounds(2026, 12, "Asia/Shanghai")[0]
    2678400.0
    """
    tz = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start.timestamp(), end.timestamp()


async def monthly_bulletin(conn: psycopg.AsyncConnection, jurisdiction_id: str, year: int,
                           month: int) -> dict[str, Any] | None:
    """The bulletin, or None if there is no such jurisdiction."""
    rows = await subtree(conn, jurisdiction_id)
    if not rows:
        return None
    tz = rows[0]["timezone"] or "UTC"
    start, end = month_bounds(year, month, tz)
    at = min(end - 0.001, time.time())
    if at < start:
        at = start
    view = await figures(conn, jurisdiction_id, at, since=start)
    assert view is not None
    within = view["subtree"]
    window = {"within": within, "since": datetime.fromtimestamp(start, UTC),
              "at": datetime.fromtimestamp(at, UTC)}
    cur = await conn.execute(
        "SELECT a.kind, r.cause, r.outcome, count(*) FROM alerts a"
        " JOIN supervisees s ON s.id = a.supervisee_id"
        " LEFT JOIN LATERAL (SELECT e.cause, e.outcome FROM alert_events e"
        "  WHERE e.alert_id = a.id AND e.action = 'resolved' AND e.at <= %(at)s"
        "  ORDER BY e.at DESC LIMIT 1) r ON true"
        " WHERE s.jurisdiction_id = ANY(%(within)s)"
        " AND coalesce(a.raised_at, a.started_at) >= %(since)s"
        " AND coalesce(a.raised_at, a.started_at) <= %(at)s GROUP BY 1, 2, 3", window)
    by_kind: dict[str, int] = defaultdict(int)
    by_cause: dict[str, int] = defaultdict(int)
    by_outcome: dict[str, int] = defaultdict(int)
    for kind, cause, outcome, n in await cur.fetchall():
        by_kind[kind] += n
        if cause:
            by_cause[cause] += n
        if outcome:
            by_outcome[outcome] += n
    cur = await conn.execute(
        "SELECT count(*) FILTER (WHERE o.renews IS NULL AND o.created_at >= %(since)s),"
        " count(*) FILTER (WHERE o.renews IS NOT NULL AND o.created_at >= %(since)s),"
        " count(*) FILTER (WHERE o.removed_at >= %(since)s AND o.removed_at <= %(at)s)"
        " FROM positioning_orders o JOIN supervisees s ON s.id = o.supervisee_id"
        " WHERE s.jurisdiction_id = ANY(%(within)s) AND o.created_at <= %(at)s", window)
    made, renewed, removed = (int(x) for x in await cur.fetchone())
    cur = await conn.execute(
        "SELECT list, code, label_en, label_zh FROM alert_resolution_codes")
    labels = {(r[0], r[1]): {"en": r[2], "zh-CN": r[3]} for r in await cur.fetchall()}
    return {
        "jurisdiction": view["jurisdiction"], "timezone": tz,
        "month": f"{year:04d}-{month:02d}", "start": start, "end": end, "as_of": at,
        "complete": at >= end - 0.001,
        "kpis": view["kpis"],
        "regions": [{"id": c["id"], "name": view["names"][c["id"]], **view["regions"][c["id"]]}
                    for c in view["children"]],
        "alerts_by_kind": dict(sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
        "alerts_by_cause": [{"code": c, "labels": labels.get(("cause", c), {"en": c, "zh-CN": c}),
                             "alerts": n}
                            for c, n in sorted(by_cause.items(), key=lambda kv: -kv[1])],
        "alerts_by_outcome": [{"code": c, "alerts": n,
                               "labels": labels.get(("outcome", c), {"en": c, "zh-CN": c})}
                              for c, n in sorted(by_outcome.items(), key=lambda kv: -kv[1])],
        "orders": {"in_force": view["kpis"]["orders"]["in_force"], "made": made,
                   "renewed": renewed, "removed": removed},
    }


CSV_LABELS = {
    "en": {"title": "Monthly bulletin", "jurisdiction": "Jurisdiction", "month": "Month",
           "region": "Region", "people": "People", "strict": "Strict", "normal": "Normal",
           "relaxed": "Relaxed", "other": "Other", "alerts": "Alerts raised",
           "open": "Open", "acknowledged": "Acknowledged", "closed": "Closed",
           "escalated": "Escalated", "response": "Median response (min)",
           "orders": "Orders in force", "made": "Orders made", "renewed": "Renewed",
           "removed": "Removed early", "kind": "Alert kind", "count": "Alerts",
           "cause": "Cause", "outcome": "Outcome", "total": "Total",
           "incomplete": "the month is not over yet"},
    "zh-CN": {"title": "月通报", "jurisdiction": "辖区", "month": "月份", "region": "下级辖区",
              "people": "在册人数", "strict": "严管", "normal": "普管", "relaxed": "宽管",
              "other": "其他", "alerts": "告警数", "open": "未处理", "acknowledged": "已签收",
              "closed": "已处置", "escalated": "已升级", "response": "响应时间中位数（分钟）",
              "orders": "执行中定位监管令", "made": "新签发", "renewed": "延长",
              "removed": "提前解除", "kind": "告警类型", "count": "告警数", "cause": "发生原因",
              "outcome": "处置结果", "total": "合计", "incomplete": "本月尚未结束"},
}


def bulletin_csv(b: dict[str, Any], lang: str) -> str:
    """The bulletin as CSV in ``lang``: the regions' table, then alerts by kind, cause and
    outcome (kinds by their codes; causes and outcomes by the agency's labels)."""
    t = CSV_LABELS[lang]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([t["title"]])
    w.writerow([t["jurisdiction"], b["jurisdiction"]["name"], b["jurisdiction"]["id"]])
    w.writerow([t["month"], b["month"], b["timezone"]] + ([] if b["complete"]
                                                          else [t["incomplete"]]))
    w.writerow([])
    cols = ["people", "strict", "normal", "relaxed", "other", "alerts", "open", "acknowledged",
            "closed", "escalated", "response", "orders"]
    w.writerow([t["region"]] + [t[c] for c in cols])

    def row(name: str, f: dict[str, Any]) -> list[Any]:
        p, a = f["people"], f["alerts"]
        resp = a["median_response_s"]
        return [name, p["total"], p["strict"], p["normal"], p["relaxed"], p["other"],
                a["raised"], a["open"], a["acknowledged"], a["closed"], a["escalated"],
                "" if resp is None else f"{resp / 60:.1f}", f["orders"]["in_force"]]

    for r in b["regions"]:
        w.writerow(row(r["name"], r))
    w.writerow(row(t["total"], b["kpis"]))
    w.writerow([])
    w.writerow([t["made"], b["orders"]["made"], t["renewed"], b["orders"]["renewed"],
                t["removed"], b["orders"]["removed"]])
    w.writerow([])
    w.writerow([t["kind"], t["count"]])
    for kind, n in b["alerts_by_kind"].items():
        w.writerow([kind, n])
    for section, key in (("cause", "alerts_by_cause"), ("outcome", "alerts_by_outcome")):
        w.writerow([])
        w.writerow([t[section], t["count"]])
        for c in b[key]:
            w.writerow([c["labels"][lang], c["alerts"]])
    return out.getvalue()


def parse_month(value: str) -> tuple[int, int]:
    """``"2026-11"`` → (2026, 11); ValueError otherwise.

    >>> parse_month("2026-11")
    (2026, 11)
    """
    d = date.fromisoformat(f"{value}-01")
    return d.year, d.month
