"""Casework from enrolment to release, on the real stack: a person enrolled through the API with a
bracelet under a positioning order has their fixes judged; outside the order the bracelet's
fixes are counted and not kept; the officer is warned before an order ends; a device swap
keeps history; a release retires the devices from the broker and leaves the record read-only.
Every write is scoped by reach and recorded in the audit trail."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from cordon.services import PrivateMosquitto, free_port
from devices.credentials import device_password
from devices.models import Jurisdiction
from devices.topics import native_topic
from geofence.zones import Zone
from store.database import migrate
from store.registry import upsert_jurisdiction, upsert_zone
from tests.conftest import add_user, sign_in
from tests.test_mqtt_security import ENGINE, GATEWAY, NOT_AUTHORISED_311, SECRET, Client, sync

SCHOOL = {"type": "Feature", "id": "school",
          "properties": {"name": "School", "kind": "exclusion", "jurisdiction_id": "cn-a"},
          "geometry": {"type": "Polygon", "coordinates": [[[116.30, 39.90], [116.31, 39.90],
                                                           [116.31, 39.91], [116.30, 39.91],
                                                           [116.30, 39.90]]]}}
INSIDE = (116.305, 39.905)
OUTSIDE = (116.40, 39.95)


async def seed(db_url: str) -> None:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await upsert_jurisdiction(conn, Jurisdiction("cn", "Province", "province", None,
                                                     "Asia/Shanghai"), None)
        for j in ("cn-a", "cn-b"):
            await upsert_jurisdiction(conn, Jurisdiction(j, j, "county", "cn", "Asia/Shanghai"),
                                      None)
        await upsert_zone(conn, Zone.from_feature(SCHOOL))
    add_user(db_url, "head", {"cn-a": "supervisor"})  # the county bureau's head: approves
    add_user(db_url, "sup", {"cn-a": "supervisor"})
    add_user(db_url, "off", {"cn-a": "officer"})
    add_user(db_url, "bsup", {"cn-b": "supervisor"})


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class Api:
    def __init__(self, base: str, user: str):
        self.http = httpx.Client(base_url=f"{base}/api/v1", timeout=10, headers={
            "Authorization": f"Bearer {sign_in(base, user)}"})

    def __getattr__(self, name):
        return getattr(self.http, name)


def wait(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)


async def connect(port: int, device_id: str) -> Client:
    return await Client.connect(port, device_id, device_password(SECRET, device_id), 4)


async def admitted(port: int, device_id: str, timeout: float = 15.0) -> Client:
    deadline = time.monotonic() + timeout
    while (c := await connect(port, device_id)).connack:
        c.close()
        assert time.monotonic() < deadline, f"{device_id} still refused by the broker"
        await asyncio.sleep(0.1)
    return c


def fix(ts: float, at: tuple[float, float]) -> bytes:
    return (b'{"ts": %f, "lon": %f, "lat": %f, "acc": 5}' % (ts, at[0], at[1]))


def query(db_url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, args).fetchall()


async def test_enrolment_orders_swap_and_release_on_the_real_stack(db_url, engine_factory,
                                                                   tmp_path: Path):
    await seed(db_url)
    auth = tmp_path / "auth"
    await sync(db_url, auth)
    with PrivateMosquitto(free_port(), tmp_path / "mqtt", password_file=auth / "passwd",
                          acl_file=auth / "acl") as broker:
        eng = engine_factory(db_url, f"mqtt://{ENGINE[0]}:{ENGINE[1]}@127.0.0.1:{broker.port}",
                             broker_auth_dir=str(auth), device_secret=SECRET.decode(),
                             broker_relay_users=GATEWAY[0],
                             broker_reload_command=f"kill -HUP {broker.proc.pid}",
                             positioning_orders="required", timers_start_after_s="0",
                             timer_tick_s="0.5")
        sup, off = Api(eng.base, "sup"), Api(eng.base, "off")
        counters = lambda: eng.health()["counters"]  # noqa: E731

        # Enrolment: a person on the strict plan (严管), with a home and the school's zone.
        r = sup.post("/supervisees", json={
            "id": "P-1", "name": "Zhang San", "jurisdiction_id": "cn-a", "plan_id": "strict",
            "zone_ids": ["school"],
            "home": {"type": "Feature", "properties": {"radius_m": 150},
                     "geometry": {"type": "Point", "coordinates": [116.35, 39.92]}}})
        assert r.status_code == 201, r.text
        person = r.json()["supervisee"]
        assert person["home_zone_id"] == "P-1-home" and person["zone_ids"] == ["school"]
        assert off.post("/supervisees", json={"id": "P-2", "name": "x",
                                              "jurisdiction_id": "cn-a"}).status_code == 403
        r = sup.post("/supervisees/P-1/devices", json={"device_id": "br-1", "kind": "bracelet"})
        assert r.status_code == 200 and r.json()["supervisee"]["device_ids"] == ["br-1"]
        br1 = await admitted(broker.port, "br-1")  # the broker follows the registry

        # No order yet: the bracelet's fixes are counted, not kept; it is still heard.
        t0 = time.time()
        assert await br1.publish(native_topic("br-1"), fix(t0 - 30, INSIDE)) == 0
        wait(lambda: counters()["fixes_without_order"] == 1, what="fix without order counted")
        assert query(db_url, "SELECT count(*) FROM fixes") == [(0,)]
        heard = sup.get("/devices/br-1").json()["device"]
        assert abs(heard["heard_without_order_at"] - t0) < 30

        # An order longer than three months is refused; so is an approver without the role.
        order = {"supervisee_id": "P-1", "ground": "left_area_without_approval",
                 "approver": "head", "starts_at": iso(t0 - 3600), "ends_at": iso(t0 + 5 * 86400)}
        r = sup.post("/orders", json={**order, "ends_at": iso(t0 + 120 * 86400)})
        assert r.status_code == 422 and "at most 92 days" in r.json()["detail"][0]["msg"]
        r = sup.post("/orders", json={**order, "approver": "off"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "approver"]
        assert off.post("/orders", json=order).status_code == 403
        r = sup.post("/orders", json=order)
        assert r.status_code == 201, r.text
        order_id = r.json()["order"]["id"]
        assert r.json()["order"]["in_force"]
        assert sup.post("/orders", json=order).status_code == 409  # overlaps: renew instead

        # Under the order: fixes stored and judged (two certain fixes in the school).
        time.sleep(1.5)  # the engine reloads the registry (every second here)
        for k in range(3):
            assert await br1.publish(native_topic("br-1"), fix(t0 + k, INSIDE)) == 0
        wait(lambda: counters()["fixes_stored"] == 3, what="fixes stored under the order")
        wait(lambda: any(a["kind"] == "exclusion_entry" for a in
                         off.get("/alerts").json()["alerts"]), what="exclusion alert")
        # A fix from before the order's start has no legal basis: counted, not kept.
        assert await br1.publish(native_topic("br-1"), fix(t0 - 7200, OUTSIDE)) == 0
        wait(lambda: counters()["fixes_without_order"] == 2, what="fix before the order")
        # The order ends within the strict plan's 14 days' notice: the officer is told.
        wait(lambda: any(a["kind"] == "order_ending" and a["subject"] == f"order {order_id}"
                         for a in off.get("/alerts", params={"status": "open"}).json()["alerts"]),
             what="order_ending notice")
        report = off.get("/orders", params={"jurisdiction_id": "cn-a"}).json()["orders"]
        assert [o["id"] for o in report] == [order_id]
        assert report[0]["ground_label"]["zh-CN"].startswith("无正当理由")

        # A renewal needs an assessment, keeps the limit, and starts where the order ends.
        renew = {"approver": "head", "ends_at": iso(t0 + 5 * 86400 + 100 * 86400),
                 "assessment": "complied; risk remains"}
        assert sup.post(f"/orders/{order_id}/renew", json=renew).status_code == 422
        r = sup.post(f"/orders/{order_id}/renew",
                     json={**renew, "ends_at": iso(t0 + 5 * 86400 + 60 * 86400)})
        assert r.status_code == 201, r.text
        renewal = r.json()["order"]
        assert renewal["renews"] == order_id and abs(renewal["starts_at"] - (t0 + 5 * 86400)) < 1
        # The notice clears: the end moved beyond 14 days.
        wait(lambda: not [a for a in off.get("/alerts", params={"status": "open"}).json()["alerts"]
                          if a["kind"] == "order_ending"], what="notice cleared by renewal")

        # Early removal (with its renewal): the bracelet's fixes are no longer kept.
        r = sup.post(f"/orders/{order_id}/remove", json={"reason": "court lifted it"})
        assert r.status_code == 200 and not r.json()["order"]["in_force"]
        assert off.get("/orders", params={"jurisdiction_id": "cn-a"}).json()["orders"] == []
        time.sleep(1.5)
        stored = counters()["fixes_stored"]
        assert await br1.publish(native_topic("br-1"), fix(time.time(), INSIDE)) == 0
        wait(lambda: counters()["fixes_without_order"] == 3, what="fix after removal")
        assert counters()["fixes_stored"] == stored
        assert query(db_url, "SELECT count(*) FROM fixes WHERE device_id = 'br-1'") == [(3,)]

        # A swap: br-1 retired (off the broker), br-2 in its place, the history kept.
        r = sup.post("/supervisees/P-1/devices", json={"device_id": "ph-1", "kind": "phone"})
        assert r.status_code == 200
        assert sup.put("/supervisees/P-1/pairing",
                       json={"bracelet_id": "br-1", "phone_id": "ph-1"}).status_code == 200
        r = sup.post("/supervisees/P-1/devices/br-1/swap",
                     json={"new_device_id": "br-2", "reason": "strap broken"})
        assert r.status_code == 200, r.text
        assert r.json()["supervisee"]["device_ids"] == ["br-2", "ph-1"]
        assert off.get("/pairings").json()["pairings"] == [
            {"supervisee_id": "P-1", "bracelet_id": "br-2", "phone_id": "ph-1"}]
        history = off.get("/supervisees/P-1/device-history").json()["assignments"]
        assert [(h["device_id"], h["to"] is None) for h in history] == [
            ("br-1", False), ("ph-1", True), ("br-2", True)]
        assert history[0]["ended_by"] == "sup" and "strap broken" in history[0]["end_reason"]
        assert await br1.wait_closed(timeout=15)
        assert (await connect(broker.port, "br-1")).connack == NOT_AUTHORISED_311
        br2 = await admitted(broker.port, "br-2")

        # Release (解矫): devices off the broker at once, the record read-only.
        assert off.post("/supervisees/P-1/release", json={"reason": "x"}).status_code == 403
        r = sup.post("/supervisees/P-1/release", json={"reason": "term served"})
        assert r.status_code == 200, r.text
        assert r.json()["devices_retired"] == ["br-2", "ph-1"]
        assert r.json()["supervisee"]["released_at"] is not None
        assert await br2.wait_closed(timeout=15)
        assert (await connect(broker.port, "br-2")).connack == NOT_AUTHORISED_311
        assert not (await connect(broker.port, "ph-1")).connack == 0
        for method, path, body in [
                ("PATCH", "/supervisees/P-1", {"name": "y"}),
                ("POST", "/supervisees/P-1/devices", {"device_id": "br-3", "kind": "bracelet"}),
                ("POST", "/supervisees/P-1/release", {"reason": "again"}),
                ("POST", "/orders", order)]:
            r = sup.request(method, path, json=body)
            assert r.status_code == 409, (path, r.text)
        assert off.get("/supervisees/P-1").json()["supervisee"]["release_reason"] == "term served"
        assert off.get("/supervisees").json()["supervisees"] == []
        assert [s["id"] for s in off.get("/supervisees", params={"released": "true"}).json()[
            "supervisees"]] == ["P-1"]
        assert not [a for a in off.get("/alerts", params={"status": "open"}).json()["alerts"]]

        actions = [r[0] for r in query(db_url, "SELECT action FROM audit_log WHERE actor = "
                                               "'sup' AND action <> 'login' ORDER BY id")]
        assert actions == [
            "supervisee.enrolled", "device.assigned", "positioning_order.made",
            "positioning_order.renewed", "positioning_order.removed", "device.assigned",
            "pairing.set", "device.swapped", "supervisee.released"]


async def test_casework_writes_are_scoped_validated_and_audited(db_url, engine_factory):
    await seed(db_url)
    eng = engine_factory(db_url)
    sup, off, bsup = Api(eng.base, "sup"), Api(eng.base, "off"), Api(eng.base, "bsup")
    r = sup.post("/supervisees", json={"id": "P-1", "name": "Li Si",
                                       "jurisdiction_id": "cn-a", "plan_id": "normal"})
    assert r.status_code == 201
    assert sup.post("/supervisees", json={"id": "P-1", "name": "again",
                                          "jurisdiction_id": "cn-a"}).status_code == 409
    # Outside reach: as if it did not exist, for every write.
    assert bsup.post("/supervisees", json={"id": "P-9", "name": "x",
                                           "jurisdiction_id": "cn-a"}).status_code == 404
    now = time.time()
    order = {"supervisee_id": "P-1", "ground": "revocation_sought", "approver": "head",
             "starts_at": iso(now), "ends_at": iso(now + 30 * 86400)}
    for method, path, body in [
            ("PATCH", "/supervisees/P-1", {"name": "y"}),
            ("POST", "/supervisees/P-1/devices", {"device_id": "br-1", "kind": "bracelet"}),
            ("PUT", "/supervisees/P-1/pairing", {"bracelet_id": "a", "phone_id": "b"}),
            ("PUT", "/supervisees/P-1/protection-orders",
             {"victim_id": "V-1", "victim_name": "v", "device_id": "vp-1"}),
            ("POST", "/supervisees/P-1/release", {"reason": "x"}),
            ("POST", "/orders", order),
            ("GET", "/supervisees/P-1/device-history", None)]:
        r = bsup.request(method, path, json=body)
        assert r.status_code == 404, (path, r.text)
    # Validation a person can act on (FastAPI's 422 shape).
    r = sup.post("/supervisees/P-1/devices", json={"device_id": "br/1", "kind": "bracelet"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "device_id"]
    r = sup.post("/orders", json={**order, "ground": "bad"})
    assert r.status_code == 422 and "left_area_without_approval" in r.json()["detail"][0]["msg"]
    r = sup.post("/orders", json={**order, "starts_at": "2030-01-01T00:00:00"})
    assert r.status_code == 422 and "time zone" in r.json()["detail"][0]["msg"]
    r = sup.post("/orders", json={**order, "approver": "bsup"})
    assert r.status_code == 422 and "cn-a" in r.json()["detail"][0]["msg"]
    r = sup.put("/supervisees/P-1/protection-orders",
                json={"victim_id": "V-1", "victim_name": "v", "device_id": "vp-1",
                      "enter_m": 500, "exit_m": 100})
    assert r.status_code == 422
    r = sup.post("/supervisees", json={"id": "P-2", "name": "x", "jurisdiction_id": "cn-a",
                                       "home": {"type": "Feature", "properties": {},
                                                "geometry": {"type": "Point",
                                                             "coordinates": [1, 2]}}})
    assert r.status_code == 422 and "radius_m" in r.json()["detail"][0]["msg"]
    # The protection order and the victim's phone.
    r = sup.put("/supervisees/P-1/protection-orders",
                json={"victim_id": "V-1", "victim_name": "v", "device_id": "vp-1"})
    assert r.status_code == 200 and r.json()["protection_orders"][0]["device_id"] == "vp-1"
    assert off.get("/devices/vp-1").json()["device"]["victim_id"] == "V-1"
    assert sup.delete("/supervisees/P-1/protection-orders/V-1").json()["protection_orders"] == []
    assert off.get("/devices/vp-1").json()["device"]["retired_at"] is not None
    # The supervision levels are the agency's plans.
    plans = {p["id"]: p for p in off.get("/plans").json()["plans"]}
    assert plans["strict"]["settings"]["report_interval_s"] < plans["normal"]["settings"][
        "report_interval_s"] < plans["relaxed"]["settings"]["report_interval_s"]
    grounds = off.get("/order-grounds").json()
    assert len(grounds["grounds"]) == 5 and grounds["max_days"] == 92
    audited = [r[0] for r in query(db_url, "SELECT action FROM audit_log WHERE actor = 'sup' "
                                           "AND action <> 'login' ORDER BY id")]
    assert audited == ["supervisee.enrolled", "protection_order.set",
                       "protection_order.removed"]


def test_the_order_gate_answers_a_batch_at_once():
    import numpy as np

    from devices.models import Device, PositioningOrder
    from ingest.orders import OrderGate

    devices = {"br-1": Device("br-1", "P-1", "bracelet"), "br-2": Device("br-2", "P-2",
                                                                        "bracelet"),
               "ph-1": Device("ph-1", "P-1", "phone"), "br-3": Device("br-3", "P-3", "bracelet")}
    orders = [PositioningOrder(1, "P-1", 100.0, 200.0), PositioningOrder(2, "P-1", 150.0, 300.0),
              PositioningOrder(3, "P-2", 1e9, 2e9)]  # overlapping windows merge
    gate = OrderGate.from_registry(devices, orders)
    ids = np.array(["br-1"] * 5 + ["br-2", "br-2", "ph-1", "br-3", "victim"], dtype=object)
    ts = np.array([99.999, 100.0, 250.0, 299.999, 300.0, 5e8, 1.5e9, 5.0, 150.0, 5.0])
    assert gate.covered(ids, ts).tolist() == [
        False, True, True, True, False,  # start inclusive, end exclusive, renewal continues
        False, True,
        True,  # a phone is not gated
        False,  # a bracelet of a person without an order
        True]  # nobody's bracelet
