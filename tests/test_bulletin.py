"""The monthly bulletin (月通报): a state's month — people, alerts by kind, cause and outcome,
orders — with a row per county that adds up to the state's, the same figures the wall shows at
the same instant, CSV in both languages; a county officer reads their county's, never the
state's; every read audited."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.episodes import AlertChange, EpisodeKey
from store.alerts import apply_change
from tests.test_api_access import HAYS, client, world
from tests.test_end_to_end import CENTRE


@pytest.mark.asyncio
async def test_a_states_month_adds_up_agrees_with_the_wall_and_stays_in_reach(
        db_url, engine_factory):
    await world(db_url)  # one open exclusion alert in each county, just now
    now = time.time()
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        resolved = await apply_change(conn, AlertChange(
            "opened", EpisodeKey("P-2", "travis-line", "inclusion_exit"), "br-2", now - 600,
            *CENTRE))
        await conn.execute("UPDATE alerts SET status = 'resolved', ended_at = now() "
                           "WHERE id = %s", (resolved,))
        await conn.execute(
            "INSERT INTO alert_events (alert_id, action, actor, note, cause, outcome) VALUES "
            "(%s, 'resolved', 'sue', 'called; back home', 'unintentional', 'verbal_warning')",
            (resolved,))
        await apply_change(conn, AlertChange(
            "opened", EpisodeKey("H-1", "hb-1", "strap_tamper"), "hb-1", now - 300, *HAYS))
        await conn.execute(
            "INSERT INTO positioning_orders (supervisee_id, ground, approver, starts_at, ends_at,"
            " created_by) VALUES ('P-2', 'left_area_without_approval', 'sue', now(),"
            " now() + interval '60 days', 'sue')")
    engine = engine_factory(db_url)
    with psycopg.connect(db_url) as conn:
        tz = conn.execute("SELECT timezone FROM jurisdictions WHERE id = 'tx'").fetchone()[0]
    month = datetime.now(ZoneInfo(tz)).strftime("%Y-%m")
    with client(engine, "root") as root, client(engine, "ana") as ana:
        r = root.get("/jurisdictions/tx/bulletin", params={"month": month})
        assert r.status_code == 200, r.text
        b = r.json()
        assert not b["complete"] and b["month"] == month
        k = b["kpis"]
        assert k["people"]["total"] == 3 and k["alerts"]["raised"] == 4
        assert b["alerts_by_kind"] == {"exclusion_entry": 2, "inclusion_exit": 1,
                                       "strap_tamper": 1}
        assert [(c["code"], c["alerts"]) for c in b["alerts_by_cause"]] == [("unintentional", 1)]
        assert [(c["code"], c["alerts"]) for c in b["alerts_by_outcome"]] == [
            ("verbal_warning", 1)]
        assert b["orders"]["made"] == 1 and b["orders"]["in_force"] == 1
        regions = {x["id"]: x for x in b["regions"]}
        assert set(regions) == {"tx-travis", "tx-hays"}
        for path in (("people", "total"), ("alerts", "raised"), ("alerts", "closed")):
            assert sum(x[path[0]][path[1]] for x in regions.values()) == k[path[0]][path[1]]
        # The wall at the same moment counts people, devices and orders the same way.
        wall = root.get("/wall/tx").json()
        for key in ("people", "devices", "orders"):
            assert wall["kpis"][key] == k[key], key
        for lang, title, words in (("zh-CN", "月通报", ("严管", "发生原因")),
                                   ("en", "Monthly bulletin", ("Strict", "Cause"))):
            got = root.get("/jurisdictions/tx/bulletin.csv", params={"month": month,
                                                                     "lang": lang})
            text = got.content.decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0] == [title] and all(w in text for w in words)
        assert ana.get("/jurisdictions/tx/bulletin", params={"month": month}).status_code == 404
        mine = ana.get("/jurisdictions/tx-travis/bulletin", params={"month": month})
        assert mine.status_code == 200 and mine.json()["kpis"]["people"]["total"] == 2
        assert ana.get("/jurisdictions/tx-travis/bulletin",
                       params={"month": "2026-13"}).status_code == 422
        last = datetime.fromtimestamp(now - 40 * 86400, UTC).strftime("%Y-%m")
        old = ana.get("/jurisdictions/tx-travis/bulletin", params={"month": last}).json()
        assert old["complete"] and old["kpis"]["alerts"]["raised"] == 0
    with psycopg.connect(db_url) as conn:
        n = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'report.bulletin'"
                         ).fetchone()[0]
    assert n == 5  # every bulletin read, none of the refused
