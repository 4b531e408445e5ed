"""Leave (外出请假) and standing permits: the rule on its own (travel legs, the destination binding,
overdue at the end, cleared by a fix back or the return; a permit's county-or-destination), then
on the real stack — a leave opens, the person crosses the county line without an alert, comes
back late and gets ``leave_overdue`` — and the API's approval levels, scoping, validation and
audit trail."""

from __future__ import annotations

import asyncio
import time

import aiomqtt
import psycopg
import pytest
from shapely.geometry import box

from alerts.episodes import EpisodeTracker
from alerts.evaluator import Evaluator
from alerts.suppressions import LeaveTerms, Suppression, Suppressions
from devices.fixes import FixBatch
from devices.models import Device, Jurisdiction, Supervisee
from devices.topics import native_topic
from geofence.zones import Zone
from store.database import migrate
from store.registry import upsert_device, upsert_jurisdiction, upsert_supervisee, upsert_zone
from tests.conftest import add_user
from tests.test_casework import Api, iso, query, wait
from tests.test_rules import changes, fixes, walk
from tests.test_rules import ticks as all_ticks

COUNTY = box(116.0, 39.8, 116.2, 40.0)  # the person's county line
DEST = box(116.5, 39.8, 116.6, 39.9)  # where the leave goes, in the next county
IN_COUNTY, ROAD, AT_DEST = (116.1, 39.9), (116.35, 39.85), (116.55, 39.85)
DEST_AREA = {"type": "Feature", "properties": {},
             "geometry": {"type": "Polygon", "coordinates": [list(DEST.exterior.coords)]}}


def county_zone() -> Zone:
    return Zone("line-a", "County A", "inclusion", "polygon", COUNTY, jurisdiction_id="cn-a")


# --- the rule ---------------------------------------------------------------------------------

START, END, TRAVEL = 1_000_000.0, 1_000_000.0 + 4 * 86400, 3600.0


def leave_window(*, permit: bool = False, returned_at: float | None = None) -> Suppression:
    binds = (START, END) if permit else (START + TRAVEL, END - TRAVEL)
    if returned_at is not None:
        binds = (binds[0], min(binds[1], returned_at))
    return Suppression("p1", START, END if returned_at is None else returned_at, "leave",
                       frozenset({"inclusion_exit"}) if permit else None,
                       LeaveTerms(7, "dest", *binds, permit, returned_at is not None))


def evaluator(window: Suppression, zones: tuple[str, ...] = ("line-a",)) -> Evaluator:
    dest = Zone("dest", "Destination", "inclusion", "polygon", DEST)
    return Evaluator({"br-1": Device("br-1", "p1", "bracelet")},
                     {"p1": Supervisee("p1", "P One", "cn-a", zones)}, [county_zone(), dest],
                     suppressions=Suppressions([window]))


def test_travel_is_free_the_destination_binds_and_not_back_by_the_end_is_overdue():
    ev, tracker = evaluator(leave_window()), EpisodeTracker(confirm_fixes=2)
    fold = lambda batch: [(a, k) for a, k, _ in ticks_or_changes(ev, tracker, batch)]  # noqa: E731
    assert fold(walk("br-1", START + 60, ROAD)) == []  # travelling out: neither zone binds
    assert fold(walk("br-1", START + TRAVEL + 60, AT_DEST)) == []
    # At the destination it is an inclusion zone: leaving it is inclusion_exit (not the county).
    assert fold(walk("br-1", START + 86400, ROAD)) == [("opened", "inclusion_exit")]
    assert fold(walk("br-1", START + 86400 + 600, AT_DEST)) == [("cleared", "inclusion_exit")]
    # Away from the destination as the travel back begins: it stops binding, the alert clears.
    assert fold(walk("br-1", END - TRAVEL - 600, ROAD)) == [("opened", "inclusion_exit")]
    assert ticks(ev, tracker, END - TRAVEL + 1) == [("cleared", "inclusion_exit", END - TRAVEL + 1)]
    assert fold(walk("br-1", END - 1800, ROAD)) == []  # travelling back
    assert ticks(ev, tracker, END - 1) == []
    assert ticks(ev, tracker, END + 1) == [("opened", "leave_overdue", END)]
    assert ticks(ev, tracker, END + 60) == []  # judged once
    # Back inside the county: cleared by the fix.
    assert fold(fixes("br-1", (END + 900, IN_COUNTY))) == [("cleared", "leave_overdue")]
    assert ticks(ev, tracker, END + 1000) == []


def ticks(ev: Evaluator, tracker: EpisodeTracker, now: float) -> list[tuple[str, str, float]]:
    """The clock's changes of leave (silence is the other rules')."""
    return [c for c in all_ticks(ev, tracker, now) if c[1] in ("leave_overdue", "inclusion_exit")]


def ticks_or_changes(ev: Evaluator, tracker: EpisodeTracker, batch: FixBatch
                     ) -> list[tuple[str, str, float]]:
    return changes(ev, tracker, batch)


def test_back_in_time_raises_nothing_and_the_return_clears_an_overdue_leave():
    ev, tracker = evaluator(leave_window()), EpisodeTracker(confirm_fixes=2)
    ticks_or_changes(ev, tracker, walk("br-1", END - 600, IN_COUNTY))
    assert ticks(ev, tracker, END + 1) == []
    # Another person's leave, silent since it began: not back.
    ev, tracker = evaluator(leave_window()), EpisodeTracker(confirm_fixes=2)
    ticks_or_changes(ev, tracker, walk("br-1", START - 600, IN_COUNTY))
    assert ticks(ev, tracker, END + 1) == [("opened", "leave_overdue", END)]
    # The return (销假) recorded late: the registry reloads with it, the alert clears.
    returned = Evaluator(ev.roster.devices, ev.roster.supervisees, ev.roster.zoneset.zones,
                         suppressions=Suppressions([leave_window(returned_at=END + 300)]),
                         activity=ev.activity)
    assert ticks(returned, tracker, END + 301) == [("cleared", "leave_overdue", END + 301)]


def test_a_permit_lets_the_person_be_in_the_county_or_at_the_destination():
    ev, tracker = evaluator(leave_window(permit=True)), EpisodeTracker(confirm_fixes=2)
    fold = lambda batch: [(a, k) for a, k, _ in ticks_or_changes(ev, tracker, batch)]  # noqa: E731
    assert fold(walk("br-1", START + 60, AT_DEST)) == []
    assert fold(walk("br-1", START + 3600, IN_COUNTY)) == []
    assert fold(walk("br-1", START + 7200, ROAD)) == [("opened", "inclusion_exit")]
    assert fold(walk("br-1", START + 7800, IN_COUNTY)) == [("cleared", "inclusion_exit")]
    assert ticks(ev, tracker, END + 1) == []  # home at the end


def test_without_a_county_line_only_the_return_settles_a_leave():
    ev, tracker = evaluator(leave_window(), zones=()), EpisodeTracker(confirm_fixes=2)
    ticks_or_changes(ev, tracker, walk("br-1", END - 600, IN_COUNTY))
    assert ticks(ev, tracker, END + 1) == [("opened", "leave_overdue", END)]


# --- on the real stack ------------------------------------------------------------------------


async def seed(db_url: str) -> None:
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        for j in (Jurisdiction("cn", "Province", "province", None, "Asia/Shanghai"),
                  Jurisdiction("cn-c", "City", "city", "cn", "Asia/Shanghai"),
                  Jurisdiction("cn-a", "County A", "county", "cn-c", "Asia/Shanghai"),
                  Jurisdiction("cn-a-t", "Township", "township", "cn-a", "Asia/Shanghai"),
                  Jurisdiction("cn-b", "County B", "county", "cn-c", "Asia/Shanghai")):
            await upsert_jurisdiction(conn, j, None)
        await upsert_zone(conn, county_zone())
        # A shared zone (the provincial hospital, no jurisdiction): every officer sees it.
        await upsert_zone(conn, Zone("dest-b", "Hospital", "inclusion", "polygon", DEST))
        # P-1 lives in the township; S-1 (no county line) tells the test when the engine has
        # taken an approval in.
        await upsert_supervisee(conn, Supervisee("P-1", "Zhang San", "cn-a-t", ("line-a",)))
        await upsert_supervisee(conn, Supervisee("S-1", "Li Si", "cn-a-t", ()))
        await upsert_device(conn, Device("br-1", "P-1", "bracelet"))
        await upsert_device(conn, Device("br-s", "S-1", "bracelet"))
    add_user(db_url, "toff", {"cn-a-t": "officer"})  # the township's officer files requests
    add_user(db_url, "tsup", {"cn-a-t": "supervisor"})  # the township office
    add_user(db_url, "csup", {"cn-a": "supervisor"})  # the county
    add_user(db_url, "citysup", {"cn-c": "supervisor"})
    add_user(db_url, "bsup", {"cn-b": "supervisor"})  # the next county: out of reach


def fix(ts: float, at: tuple[float, float]) -> bytes:
    return b'{"ts": %f, "lon": %f, "lat": %f, "acc": 5}' % (ts, at[0], at[1])


async def publish(url: str, device: str, *rows: tuple[float, tuple[float, float]]) -> None:
    port = int(url.rsplit(":", 1)[1])
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as c:
        for ts, at in rows:
            await c.publish(native_topic(device), fix(ts, at), qos=1)


def open_alerts(api: Api, supervisee: str) -> list[tuple[str, str]]:
    return sorted((a["kind"], a["subject"]) for a in api.get(
        "/alerts", params={"status": "open", "supervisee_id": supervisee}).json()["alerts"])


def leave_body(start: float, end: float, **kw: object) -> dict:
    return {"destination": {"area": DEST_AREA, "name": "Hospital"}, "starts_at": iso(start),
            "ends_at": iso(end), "reason": "mother in hospital", **kw}


@pytest.mark.timeout(180)
async def test_a_leave_lifts_the_county_line_and_not_back_in_time_is_overdue(
        db_url, mosquitto, engine_factory):
    await seed(db_url)
    eng = engine_factory(db_url, timers_start_after_s="0", timer_tick_s="0.5")
    toff, csup, tsup = Api(eng.base, "toff"), Api(eng.base, "csup"), Api(eng.base, "tsup")

    t0 = time.time()
    # Away since half an hour ago, back by t0 + 20 s; five minutes of travel each way.
    r = toff.post("/supervisees/P-1/leaves",
                  json=leave_body(t0 - 1800, t0 + 20, travel_hours=5 / 60))
    assert r.status_code == 201, r.text
    leave = r.json()["leave"]
    assert (leave["status"], leave["approval_level"], leave["approval_jurisdiction_id"]) == (
        "requested", "township", "cn-a-t")
    assert leave["destination_made"] and leave["destination_zone_id"] == f"leave-{leave['id']}"
    r = tsup.post(f"/leaves/{leave['id']}/approve", json={"note": "ok"})
    assert r.status_code == 200 and r.json()["leave"]["in_force"], r.text
    # The sentinel's leave, approved after P-1's: once its destination binds in the engine,
    # P-1's leave is there too.
    s = toff.post("/supervisees/S-1/leaves",
                  json=leave_body(t0 - 3600, t0 + 3600, travel_hours=0)).json()["leave"]
    assert tsup.post(f"/leaves/{s['id']}/approve", json={}).status_code == 200

    deadline = time.monotonic() + 30
    while ("inclusion_exit", s["destination_zone_id"]) not in open_alerts(toff, "S-1"):
        assert time.monotonic() < deadline, "the engine did not take the approvals in"
        await publish(mosquitto.url, "br-s", (time.time(), ROAD))
        await asyncio.sleep(0.2)

    # The trip, out of the county and to the destination: no alert.
    await publish(mosquitto.url, "br-1", *[(t0 - 1700 + 20 * i, ROAD) for i in range(3)],
                  *[(t0 - 1200 + 20 * i, AT_DEST) for i in range(3)])
    wait(lambda: query(db_url, "SELECT count(*) FROM fixes WHERE device_id = 'br-1'")
         == [(6,)], what="the trip's fixes stored")
    assert open_alerts(toff, "P-1") == []
    # Still at the destination when the leave ends: 未归.
    wait(lambda: ("leave_overdue", f"leave {leave['id']}") in open_alerts(toff, "P-1"),
         timeout=60, what="leave_overdue")
    assert query(db_url, "SELECT severity FROM alerts WHERE kind = 'leave_overdue'") == [
        ("high",)]
    assert query(db_url, "SELECT count(*) FROM alerts WHERE supervisee_id = 'P-1' AND "
                         "subject = 'line-a'") == [(0,)]  # the crossing raised nothing
    assert toff.get(f"/leaves/{leave['id']}").json()["leave"]["overdue"]
    # Back late, inside the county: the alert clears; the return (销假) is recorded.
    now = time.time()
    await publish(mosquitto.url, "br-1", (now, IN_COUNTY), (now + 1, IN_COUNTY))
    wait(lambda: open_alerts(toff, "P-1") == [], what="cleared by the fix back")
    r = toff.post(f"/leaves/{leave['id']}/return", json={"note": "reported in person"})
    assert r.status_code == 200 and r.json()["leave"]["status"] == "returned"
    actions = [a for (a,) in query(db_url, "SELECT action FROM audit_log WHERE subject = %s "
                                           "AND action LIKE 'leave.%%' ORDER BY id",
                                   str(leave["id"]))]
    assert actions == ["leave.requested", "leave.approved", "leave.returned"]
    # A request decided is decided: approving again is a conflict.
    assert csup.post(f"/leaves/{leave['id']}/approve", json={}).status_code == 409


@pytest.mark.timeout(120)
async def test_approval_levels_scope_validation_permits_and_the_return(db_url, engine_factory):
    await seed(db_url)
    eng = engine_factory(db_url)
    toff, tsup, csup = Api(eng.base, "toff"), Api(eng.base, "tsup"), Api(eng.base, "csup")
    citysup, bsup = Api(eng.base, "citysup"), Api(eng.base, "bsup")
    t0 = time.time()
    day = 86400

    # 422s naming the field.
    for body, loc in [
        (leave_body(t0 + day, t0), "ends_at"),
        (leave_body(t0 - 3 * day, t0 - day), "ends_at"),
        ({**leave_body(t0 + day, t0 + 2 * day), "starts_at": "2026-12-01T08:00:00"},
         "starts_at"),
        (leave_body(t0 + day, t0 + 200 * day), "ends_at"),
        (leave_body(t0 + day, t0 + day + 3600, travel_hours=1), "travel_hours"),
        ({**leave_body(t0 + day, t0 + 2 * day), "destination": {"zone_id": "nowhere"}},
         "zone_id"),
        ({**leave_body(t0 + day, t0 + 2 * day), "destination": {"zone_id": "line-a"}},
         "zone_id"),
        ({**leave_body(t0 + day, t0 + 2 * day),
          "destination": {"area": {"type": "Feature", "geometry": {"type": "Polygon",
                                                                   "coordinates": [[[0, 0]]]}}}},
         "area"),
        ({**leave_body(t0 + day, t0 + 2 * day), "destination": {}}, "destination"),
    ]:
        r = toff.post("/supervisees/P-1/leaves", json=body)
        assert r.status_code == 422, (body, r.text)
        assert loc in r.json()["detail"][0]["loc"], r.text
    # Out of reach: 404, for the person and for a leave.
    assert bsup.post("/supervisees/P-1/leaves",
                     json=leave_body(t0 + day, t0 + 2 * day)).status_code == 404
    assert bsup.get("/supervisees/P-1/leaves").status_code == 404

    # Ten days: the county approves, not the township office.
    r = toff.post("/supervisees/P-1/leaves",
                  json={**leave_body(t0 + day, t0 + 11 * day), "destination": {
                      "zone_id": "dest-b"}})
    assert r.status_code == 201, r.text
    ten = r.json()["leave"]
    assert (ten["approval_level"], ten["approval_jurisdiction_id"]) == ("county", "cn-a")
    assert ten["travel_s"] == 12 * 3600  # leave_travel_hours
    assert bsup.get(f"/leaves/{ten['id']}").status_code == 404
    assert bsup.post(f"/leaves/{ten['id']}/approve", json={}).status_code == 404
    r = tsup.post(f"/leaves/{ten['id']}/approve", json={})
    assert r.status_code == 403 and "county" in r.json()["detail"]
    assert toff.post(f"/leaves/{ten['id']}/approve", json={}).status_code == 403
    # An overlapping request waits for this one to go.
    assert toff.post("/supervisees/P-1/leaves",
                     json=leave_body(t0 + 2 * day, t0 + 3 * day)).status_code == 409
    # The queue of the county shows it, the next county's does not.
    queue = csup.get("/leaves", params={"status": "requested", "jurisdiction_id": "cn-a"})
    assert [x["id"] for x in queue.json()["leaves"]] == [ten["id"]]
    assert bsup.get("/leaves", params={"status": "requested"}).json()["leaves"] == []
    r = csup.post(f"/leaves/{ten['id']}/approve", json={"note": "court hearing"})
    assert r.status_code == 200 and r.json()["leave"]["decided_by"] == "csup"
    # Approved, not begun: the return is refused, cancelling is not.
    assert toff.post(f"/leaves/{ten['id']}/return", json={}).status_code == 409
    r = toff.post(f"/leaves/{ten['id']}/cancel", json={"note": "hearing moved"})
    assert r.status_code == 200 and r.json()["leave"]["status"] == "cancelled"

    # Four eyes: a supervisor's own request is decided by someone else.
    mine = csup.post("/supervisees/P-1/leaves", json=leave_body(t0 + day, t0 + 3 * day))
    assert mine.status_code == 201
    assert csup.post(f"/leaves/{mine.json()['leave']['id']}/approve",
                     json={}).status_code == 403
    r = tsup.post(f"/leaves/{mine.json()['leave']['id']}/refuse", json={"note": "no"})
    assert r.status_code == 200 and r.json()["leave"]["status"] == "refused"
    assert tsup.post(f"/leaves/{mine.json()['leave']['id']}/refuse",
                     json={"note": ""}).status_code == 422

    # Permits: up to six months, decided by the city beyond 30 days; no travel allowance.
    permit = {**leave_body(t0 - 3600, t0 + 150 * day), "kind": "permit",
              "destination": {"zone_id": "dest-b"}}
    assert toff.post("/supervisees/P-1/leaves", json={
        **permit, "ends_at": iso(t0 + 190 * day)}).status_code == 422
    assert toff.post("/supervisees/P-1/leaves",
                     json={**permit, "travel_hours": 2}).status_code == 422
    r = toff.post("/supervisees/P-1/leaves", json=permit)
    assert r.status_code == 201, r.text
    p = r.json()["leave"]
    assert (p["kind"], p["approval_level"], p["approval_jurisdiction_id"], p["travel_s"]) == (
        "permit", "city", "cn-c", 0)
    assert csup.post(f"/leaves/{p['id']}/approve", json={}).status_code == 403
    r = citysup.post(f"/leaves/{p['id']}/approve", json={})
    assert r.status_code == 200 and r.json()["leave"]["in_force"]
    # Begun: not cancelled, but returned — which closes it now.
    assert toff.post(f"/leaves/{p['id']}/cancel", json={}).status_code == 409
    r = toff.post(f"/leaves/{p['id']}/return", json={})
    assert r.status_code == 200, r.text
    back = r.json()["leave"]
    assert back["status"] == "returned" and not back["in_force"]
    assert back["binds_until"] == back["closed_at"] < t0 + 60
    assert p["id"] in [x["id"] for x in toff.get("/supervisees/P-1/leaves").json()["leaves"]]

    # Every write is in the audit trail, with the person's jurisdiction.
    rows = query(db_url, "SELECT actor, action, detail->>'jurisdiction_id' FROM audit_log "
                         "WHERE action LIKE 'leave.%%' OR action LIKE 'permit.%%' ORDER BY id")
    assert [(a, act) for a, act, _ in rows] == [
        ("toff", "leave.requested"), ("csup", "leave.approved"), ("toff", "leave.cancelled"),
        ("csup", "leave.requested"), ("tsup", "leave.refused"), ("toff", "permit.requested"),
        ("citysup", "permit.approved"), ("toff", "permit.returned")]
    assert {j for _, _, j in rows} == {"cn-a-t"}
    # A released person's leaves are read-only.
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE supervisees SET released_at = now() WHERE id = 'P-1'")
    assert toff.post("/supervisees/P-1/leaves",
                     json=leave_body(t0 + 200 * day, t0 + 201 * day)).status_code == 409
