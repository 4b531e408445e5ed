"""Resolving an alert through the API: a note, a cause and an outcome from the agency's lists
(发生原因 / 处置结果, ``GET /alert-resolutions``), refused when either is missing or not on the
list, kept in the alert's history and in the audit trail."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg

from alerts.episodes import AlertChange, EpisodeKey
from store.alerts import apply_change
from tests.conftest import add_user, admin_token, sign_in
from tests.test_end_to_end import CENTRE, seed


async def opened(db_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        return await apply_change(conn, AlertChange(
            "opened", EpisodeKey("P-1", "victim-1", "exclusion_entry"), "ph-1",
            time.time() - 30, *CENTRE))


def test_resolve_needs_a_cause_and_an_outcome_from_the_agency_lists(db_url, engine_factory):
    asyncio.run(seed(db_url))
    engine = engine_factory(db_url)
    alert_id = asyncio.run(opened(db_url))
    admin_token(db_url, engine.base)
    add_user(db_url, "officer.wu", {"tx-travis": "officer"})
    headers = {"Authorization": f"Bearer {sign_in(engine.base, 'officer.wu')}"}
    with httpx.Client(base_url=f"{engine.base}/api/v1", headers=headers, timeout=10) as http:
        lists = http.get("/alert-resolutions").json()
        causes = [c["code"] for c in lists["causes"]]
        outcomes = [c["code"] for c in lists["outcomes"]]
        assert "gps_drift" in causes and "deliberate" in causes
        assert "false_alarm" in outcomes and "police_notified" in outcomes
        first = lists["causes"][0]["labels"]
        assert set(first) == {"en", "zh-CN"} and first["zh-CN"] == "故意违规"
        assert httpx.get(f"{engine.base}/api/v1/alert-resolutions").status_code == 401

        path = f"/alerts/{alert_id}/resolve"
        good = {"note": "Called him; he left at once.", "cause": "unintentional",
                "outcome": "contacted_compliant"}
        for missing in ("note", "cause", "outcome"):
            body = {k: v for k, v in good.items() if k != missing}
            r = http.post(path, json=body)
            assert r.status_code == 422, (missing, r.text)
        r = http.post(path, json={**good, "cause": "bad_luck"})
        assert r.status_code == 422
        assert "cause 'bad_luck' is not on the agency's list" in r.json()["detail"][0]["msg"]
        assert "gps_drift" in r.json()["detail"][0]["msg"]
        r = http.post(path, json={**good, "outcome": "shrug"})
        assert r.status_code == 422 and "outcome 'shrug'" in r.json()["detail"][0]["msg"]
        assert http.get(f"/alerts/{alert_id}").json()["alert"]["status"] == "open"

        r = http.post(path, json=good)
        assert r.status_code == 200 and r.json()["alert"]["status"] == "resolved"
        step = http.get(f"/alerts/{alert_id}").json()["history"][-1]
        assert step["action"] == "resolved" and step["actor"] == "officer.wu"
        assert (step["note"], step["cause"], step["outcome"]) == (
            good["note"], "unintentional", "contacted_compliant")
        assert http.get(f"/alerts/{alert_id}").json()["history"][0]["cause"] is None
    trail = engine.get("/audit", action="alert.resolved").json()["entries"]
    assert len(trail) == 1 and trail[0]["actor"] == "officer.wu"
    assert trail[0]["subject"] == str(alert_id)
    assert {k: trail[0]["detail"][k] for k in ("note", "cause", "outcome")} == good
