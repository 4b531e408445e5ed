"""Zones one at a time over the API (create, replace, delete) under the import's rules — the
supervisor role on the zone's jurisdiction, 404 outside reach, 422 naming the field, 409 when a
zone is held by people unless asked to detach it — each audited; the GeoJSON download that the
import takes back; and what changed since an officer's previous sign-in."""

from __future__ import annotations

import asyncio
import time

import psycopg

from alerts.episodes import AlertChange, EpisodeKey
from alerts.lifecycle import Action
from devices.models import Supervisee
from store.alerts import act_on_alert, apply_change
from store.registry import upsert_supervisee
from tests.conftest import add_user
from tests.test_casework import Api, seed

HOME = {"type": "Feature", "id": "home-1",
        "properties": {"name": "Home of P-1", "kind": "inclusion", "jurisdiction_id": "cn-a",
                       "radius_m": 150,
                       "schedule": {"timezone": "Asia/Shanghai", "windows": [
                           {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "22:00",
                            "end": "06:00"}]}},
        "geometry": {"type": "Point", "coordinates": [116.35, 39.92]}}
ROAD = {"type": "Feature",
        "properties": {"name": "Road to work", "kind": "inclusion", "jurisdiction_id": "cn-a",
                       "width_m": 200},
        "geometry": {"type": "LineString", "coordinates": [[116.35, 39.92], [116.37, 39.93]]}}


async def people(db_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_supervisee(conn, Supervisee("P-1", "Wang Wei", "cn-a"))
        await upsert_supervisee(conn, Supervisee("P-2", "Li Na", "cn-a"))
        await upsert_supervisee(conn, Supervisee("B-1", "Zhao Lei", "cn-b"))


def test_zones_are_created_changed_and_deleted_within_reach(db_url, engine_factory):
    asyncio.run(seed(db_url))
    asyncio.run(people(db_url))
    engine = engine_factory(db_url)
    sup, off, bsup = Api(engine.base, "sup"), Api(engine.base, "off"), Api(engine.base, "bsup")

    # A curfew: an inclusion circle on a weekly schedule, made by cn-a's supervisor.
    r = sup.post("/zones", json=HOME)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["id"] == "home-1" and made["properties"]["radius_m"] == 150
    assert made["properties"]["schedule"]["windows"][0]["start"] == "22:00"
    assert sup.post("/zones", json=HOME).status_code == 409  # the id is taken
    r = sup.post("/zones", json=ROAD)  # no id: one is made up
    assert r.status_code == 201, r.text
    road = r.json()["id"]
    assert road.startswith("z-") and r.json()["properties"]["width_m"] == 200

    # 422 in FastAPI's shape, naming the field.
    bad = {**HOME, "id": "bad", "properties": {**HOME["properties"], "schedule": {
        "timezone": "Mars/Olympus", "windows": []}}}
    r = sup.post("/zones", json=bad)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
        "body", "properties", "schedule"], r.text
    r = sup.post("/zones", json={**ROAD, "properties": {**ROAD["properties"], "width_m": None}})
    assert r.status_code == 422 and "width_m" in r.json()["detail"][0]["msg"]
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    r = sup.post("/zones", json={**ROAD, "id": "bow", "geometry": bowtie})
    assert r.status_code == 201  # repaired, as the import does
    r = sup.post("/zones", json={**ROAD, "id": "pt", "geometry": {"type": "MultiPoint",
                                                                  "coordinates": [[0, 0]]}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "geometry"]
    assert sup.post("/zones", json={**HOME, "id": "x y"}).status_code == 422

    # Reach: another county's supervisor does not see cn-a's zones; an officer may not write.
    elsewhere = {**HOME, "id": "b-home", "properties": {**HOME["properties"],
                                                        "jurisdiction_id": "cn-a"}}
    assert bsup.post("/zones", json=elsewhere).status_code == 404
    assert bsup.put("/zones/home-1", json=HOME).status_code == 404
    assert bsup.delete("/zones/home-1").status_code == 404
    assert bsup.get("/zones/home-1").status_code == 404
    assert off.post("/zones", json={**HOME, "id": "o"}).status_code == 403
    assert off.put("/zones/home-1", json=HOME).status_code == 403
    moved = {**HOME, "properties": {**HOME["properties"], "jurisdiction_id": "cn-b"}}
    assert sup.put("/zones/home-1", json=moved).status_code == 404  # cannot give it away

    # Replace: the shape and schedule change; a mismatched id is refused.
    wider = {**HOME, "properties": {**HOME["properties"], "radius_m": 250,
                                    "name": "Home (new flat)"}}
    r = sup.put("/zones/home-1", json=wider)
    assert r.status_code == 200 and r.json()["properties"]["radius_m"] == 250, r.text
    assert sup.put("/zones/home-1", json={**wider, "id": "other"}).status_code == 422
    assert sup.put("/zones/nowhere", json=wider).status_code == 404

    # Assigned to P-1 and P-2: a delete names them (409) unless asked to detach.
    for sid in ("P-1", "P-2"):
        r = sup.patch(f"/supervisees/{sid}", json={"zone_ids": ["home-1", road]})
        assert r.status_code == 200, r.text
    r = sup.delete("/zones/home-1")
    assert r.status_code == 409 and "P-1 (Wang Wei)" in r.json()["detail"], r.text
    assert "P-2 (Li Na)" in r.json()["detail"]
    assert sup.get("/zones/home-1").status_code == 200
    assert sup.delete("/zones/home-1", params={"detach": "true"}).status_code == 204
    assert sup.get("/zones/home-1").status_code == 404
    assert sup.get("/supervisees/P-1").json()["supervisee"]["zone_ids"] == [road]

    # The download is the same FeatureCollection, as a file, and imports back as it is.
    r = sup.get("/zones", params={"download": "true", "jurisdiction_id": "cn-a"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="zones.geojson"'
    exported = r.json()
    assert {f["id"] for f in exported["features"]} == {"school", road, "bow"}
    assert bsup.get("/zones", params={"jurisdiction_id": "cn-a"}).status_code == 404
    r = sup.post("/zones/import", json=exported)
    assert r.json()["stored"] == 3 and r.json()["rejected"] == 0

    # Every write in the audit trail, with who and what.
    with psycopg.connect(db_url) as conn:
        trail = conn.execute("SELECT actor, action, subject, detail FROM audit_log "
                             "WHERE action LIKE 'zone%%' ORDER BY id").fetchall()
    steps = [(a, act, s) for a, act, s, _ in trail]
    assert ("sup", "zone.created", "home-1") in steps
    assert ("sup", "zone.changed", "home-1") in steps
    assert ("sup", "zones.exported", "3") in steps
    deleted = next(d for a, act, s, d in trail if act == "zone.deleted")
    assert deleted["detached_from"] == ["P-1", "P-2"] and deleted["jurisdiction_id"] == "cn-a"
    created = next(d for a, act, s, d in trail if act == "zone.created" and s == "home-1")
    assert created["curfew"] is True and created["shape"] == "circle"


def test_what_changed_since_the_previous_sign_in(db_url, engine_factory):
    asyncio.run(seed(db_url))
    asyncio.run(people(db_url))
    add_user(db_url, "other", {"cn-a": "officer"})
    engine = engine_factory(db_url)
    first = Api(engine.base, "off").get("/me/since-last-sign-in").json()
    assert first["first_sign_in"] is True and first["raised"]["count"] == 0

    async def away() -> None:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            now = time.time()
            for sid, kind in (("P-1", "curfew"), ("P-2", "strap_tamper"), ("B-1", "curfew")):
                await apply_change(conn, AlertChange("opened", EpisodeKey(sid, "z", kind),
                                                     "d", now - 5, 116.3, 39.9, "high"))
            cur = await conn.execute("SELECT id FROM alerts WHERE supervisee_id = 'P-2'")
            (p2,) = await cur.fetchone()
            await act_on_alert(conn, p2, Action.RESOLVED, "other", "rang him")

    asyncio.run(away())
    later = Api(engine.base, "off").get("/me/since-last-sign-in").json()
    assert later["first_sign_in"] is False and later["since"] > first["since"]
    assert later["raised"]["count"] == 2  # not B-1's, in cn-b
    assert {a["supervisee_id"] for a in later["raised"]["alerts"]} == {"P-1", "P-2"}
    assert [(a["supervisee_id"], a["by"]) for a in later["resolved_by_others"]["alerts"]] == [
        ("P-2", "other")]
    again = Api(engine.base, "off").get("/me/since-last-sign-in").json()
    assert again["raised"]["count"] == 0  # looked at since
