"""The alert lifecycle on real PostgreSQL and through the running engine: open → acknowledged →
resolved with a note, or cleared; never acknowledged twice, never reopened by a late fix, every
step recorded with who and when."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import psycopg
import pytest
import websockets

from alerts.episodes import AlertChange, EpisodeKey
from alerts.lifecycle import Action, TransitionRefused
from store.alerts import AlertNotFound, act_on_alert, alert_history, apply_change
from tests.conftest import add_user, sign_in
from tests.test_end_to_end import is_alert, next_event, north, owntracks, publish, seed

pytestmark = pytest.mark.asyncio

KEY = EpisodeKey("P-1", "victim-1", "exclusion_entry")


async def _open_alert(conn: psycopg.AsyncConnection) -> int:
    async with conn.transaction():
        return await apply_change(conn, AlertChange("opened", KEY, "ph-1", time.time(), 0, 0))


async def test_each_step_is_allowed_once_and_recorded_with_who_and_when(db_url):
    await seed(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        alert_id = await _open_alert(conn)
        async with conn.transaction():
            acked = await act_on_alert(conn, alert_id, Action.ACKNOWLEDGED, "officer.diaz")
        assert acked["status"] == "acknowledged"
        with pytest.raises(TransitionRefused, match="already acknowledged"):
            async with conn.transaction():
                await act_on_alert(conn, alert_id, Action.ACKNOWLEDGED, "officer.lee")
        with pytest.raises(TransitionRefused, match="needs a note"):
            async with conn.transaction():
                await act_on_alert(conn, alert_id, Action.RESOLVED, "officer.diaz", "   ")
        async with conn.transaction():
            resolved = await act_on_alert(conn, alert_id, Action.RESOLVED, "officer.diaz",
                                          "Called him; he left the street at once.")
        assert resolved["status"] == "resolved"
        for action in (Action.ACKNOWLEDGED, Action.RESOLVED):
            with pytest.raises(TransitionRefused, match="already resolved"):
                async with conn.transaction():
                    await act_on_alert(conn, alert_id, action, "officer.lee", "again")
        with pytest.raises(AlertNotFound):
            async with conn.transaction():
                await act_on_alert(conn, alert_id + 1000, Action.ACKNOWLEDGED, "officer.lee")

        # The engine's clearing of an episode a person already resolved records nothing more.
        async with conn.transaction():
            await apply_change(conn, AlertChange("cleared", KEY, "ph-1", time.time(), 0, 0,
                                                 alert_id=alert_id))
        history = await alert_history(conn, alert_id)
    assert [(h["action"], h["actor"]) for h in history] == [
        ("opened", "engine"), ("acknowledged", "officer.diaz"), ("resolved", "officer.diaz")]
    assert history[2]["note"] == "Called him; he left the street at once."
    assert all(abs(h["at"] - time.time()) < 60 for h in history)


async def test_two_officers_acknowledging_at_once_one_wins(db_url):
    await seed(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        alert_id = await _open_alert(conn)

    async def acknowledge(who: str) -> str:
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            try:
                async with conn.transaction():
                    await act_on_alert(conn, alert_id, Action.ACKNOWLEDGED, who)
                    await asyncio.sleep(0.3)  # hold the row while the other one tries
                return "won"
            except TransitionRefused:
                return "refused"

    results = await asyncio.gather(acknowledge("officer.a"), acknowledge("officer.b"))
    assert sorted(results) == ["refused", "won"]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        history = await alert_history(conn, alert_id)
    assert [h["action"] for h in history] == ["opened", "acknowledged"]


async def test_officer_steps_through_the_api_and_no_late_fix_reopens(
    db_url, mosquitto, engine_factory
):
    await seed(db_url)
    engine = engine_factory(db_url)
    base = f"http://127.0.0.1:{engine.port}/api/v1"
    add_user(db_url, "officer.diaz", {"tx-travis": "officer"})
    add_user(db_url, "officer.lee", {"tx-travis": "officer"})
    diaz = {"Authorization": f"Bearer {sign_in(engine.base, 'officer.diaz')}"}
    lee = {"Authorization": f"Bearer {sign_in(engine.base, 'officer.lee')}"}
    t0 = time.time() - 600
    inside = [north(0), north(20), north(10)]
    async with websockets.connect(engine.live_url()) as ws, \
            httpx.AsyncClient(base_url=base, timeout=10, headers=diaz) as http:
        assert orjson.loads(await ws.recv())["type"] == "hello"
        await publish(mosquitto.url, [("owntracks/alice/ph-1", owntracks(lon, lat, t0 + 10 * i))
                                      for i, (lon, lat) in enumerate([north(2000)] + inside)])
        opened = await next_event(ws, is_alert("opened", "exclusion_entry"))
        alert_id = opened["alert"]["id"]

        r = await http.post(f"/alerts/{alert_id}/acknowledge", json={})
        assert r.status_code == 200 and r.json()["alert"]["status"] == "acknowledged"
        seen = await next_event(ws, is_alert("acknowledged", "exclusion_entry"))
        assert seen["alert"]["id"] == alert_id and seen["by"] == "officer.diaz"
        r = await http.post(f"/alerts/{alert_id}/acknowledge", json={}, headers=lee)
        assert r.status_code == 409 and "already acknowledged" in r.json()["detail"]
        r = await http.post(f"/alerts/{alert_id}/resolve", json={})
        assert r.status_code == 422  # no note
        r = await http.post(f"/alerts/{alert_id}/resolve",
                            json={"note": "Victim informed; patrol sent.",
                                  "cause": "deliberate", "outcome": "police_notified"})
        assert r.status_code == 200 and r.json()["alert"]["status"] == "resolved"
        assert (await http.post("/alerts/999999/acknowledge", json={})).status_code == 404
        live = (await http.get("/alerts", params={"status": "live"})).json()["alerts"]
        assert alert_id not in [a["id"] for a in live]

        # He leaves (the episode clears), then a delayed upload from inside the zone arrives,
        # older than what was already judged: stored, but it reopens nothing.
        await publish(mosquitto.url, [("owntracks/alice/ph-1", owntracks(*north(2000), t),
                                       ) for t in (t0 + 100, t0 + 110, t0 + 120)])
        await publish(mosquitto.url, [("owntracks/alice/ph-1", owntracks(*north(5), t))
                                      for t in (t0 + 50, t0 + 60, t0 + 70)])
        deadline = time.monotonic() + 20
        while engine.health()["counters"]["fixes_stored"] < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert engine.health()["counters"]["fixes_stored"] == 10
        # A new entry, later than everything judged, is a new episode and a new alert.
        await publish(mosquitto.url, [("owntracks/alice/ph-1", owntracks(*north(0), t))
                                      for t in (t0 + 200, t0 + 210)])
        again = await next_event(ws, is_alert("opened", "exclusion_entry"))
        assert again["alert"]["id"] != alert_id

        detail = (await http.get(f"/alerts/{alert_id}")).json()
    assert detail["alert"]["status"] == "resolved"
    assert [(h["action"], h["actor"]) for h in detail["history"]] == [
        ("opened", "engine"), ("acknowledged", "officer.diaz"), ("resolved", "officer.diaz")]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM alerts")
        assert (await cur.fetchone())[0] == 2
