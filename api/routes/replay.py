"""What the console's replay reads beside the track (``GET /supervisees/{id}/track``):

- ``GET /supervisees/{id}/device-events``: what a person's devices said about themselves over
  an interval (tamper, power, charger, link), for the replay's timeline;
- ``GET /alerts/{id}/explain``: an alert with the fixes around it, each with the distance to the
  zone (or victim, or phone) and what the engine's rule made of it, the zone drawn, and the
  thresholds that applied (see :mod:`alerts.explain`).

Both are scoped like every read (404 outside the caller's reach) and, being looks at where a
person was, recorded in the audit trail like a track read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request

from alerts.explain import HISTORY_DAYS, ZONE_KINDS, explain, gathering_history
from alerts.plans import PlanError, SupervisionPlan
from api.auth import Caller, check_window, not_found
from api.routes.supervisees import visible_supervisee
from api.schemas import DeviceEvents, Explanation
from store import audit
from store.alerts import get_alert
from store.caseload import zone as zone_of
from store.colocations import pair_meetings
from store.missed_gatherings import nightly_mark
from store.replay import (
    devices_of,
    events_of,
    fixes_of,
    pairing_of,
    plan_settings,
    protection_order,
)

router = APIRouter(tags=["replay"])
MAX_RANGE = timedelta(days=31)
MAX_EVENTS = 10_000
MAX_FIXES = 20_000


@router.get("/supervisees/{supervisee_id}/device-events", response_model=DeviceEvents)
async def device_events(request: Request, caller: Caller, supervisee_id: str, start: datetime,
                        end: datetime) -> dict[str, Any]:
    """The events of the person's devices in ``[start, end)`` (at most 10,000), by time."""
    check_window(start, end, MAX_RANGE)
    person = await visible_supervisee(request, caller, supervisee_id)
    async with request.app.state.cordon.pool.connection() as conn:
        events = await events_of(conn, await devices_of(conn, supervisee_id), start, end,
                                 MAX_EVENTS)
        await audit.record(conn, caller.username, "device_events.read", supervisee_id,
                           {"jurisdiction_id": person["jurisdiction_id"],
                            "start": start.isoformat(), "end": end.isoformat(),
                            "events": len(events)})
    return {"supervisee_id": supervisee_id, "events": events}


@router.get("/alerts/{alert_id}/explain", response_model=Explanation)
async def explain_alert(request: Request, caller: Caller, alert_id: int,
                        before_s: float = Query(900, ge=0, le=6 * 3600),
                        after_s: float = Query(900, ge=0, le=6 * 3600)) -> dict[str, Any]:
    """The alert, the fixes of the devices concerned from ``before_s`` before its start to
    ``after_s`` after it, each marked with the rule's decision and whether it was one of the
    fixes that opened the alert; the zone and the thresholds that applied."""
    state = request.app.state.cordon
    async with state.pool.connection() as conn:
        found = await get_alert(conn, alert_id)
        if found is None or not caller.sees(found["jurisdiction_id"]):
            raise not_found(f"alert {alert_id}")
        sid, kind = found["supervisee_id"], found["kind"]
        plan_id, settings = await plan_settings(conn, sid)
        try:
            plan = SupervisionPlan.from_settings(plan_id or "default", settings)
        except PlanError:
            plan = SupervisionPlan()  # the engine falls back to the default plan too
        thresholds: dict[str, float | None] = {
            "accuracy_factor": state.accuracy_factor,
            "confirm_fixes": plan.confirm_fixes or state.confirm_fixes,
            "confirm_gap_s": plan.confirm_gap_s or state.confirm_gap_s,
            "escalate_after_s": plan.escalate_after_s,
        }
        devices = await devices_of(conn, sid)
        zone = victim_device = phone_device = None
        if kind in ZONE_KINDS:
            zone = await zone_of(conn, found["subject"])
        elif kind == "victim_proximity":
            order = await protection_order(conn, sid, found["subject"])
            if order:
                victim_device = order["device_id"]
                thresholds.update(enter_m=order["enter_m"], exit_m=order["exit_m"])
        elif kind == "separation":
            pair = await pairing_of(conn, found["subject"])
            if pair:
                phone_device = pair["phone_id"]
            thresholds.update(separation_m=plan.separation_m, separation_s=plan.separation_s)
        elif kind in ("lost_contact", "curfew_unverified", "device_off"):
            thresholds.update(report_interval_s=plan.report_interval_s,
                              lost_contact_grace_s=plan.lost_contact_grace_s)
        elif kind == "no_fix":
            thresholds.update(no_fix_after_s=plan.no_fix_after_s)
        start = datetime.fromtimestamp(found["started_at"] - before_s, UTC)
        end = datetime.fromtimestamp(found["started_at"] + after_s, UTC)
        watched = [*devices, *(d for d in (victim_device,) if d and d not in devices)]
        fixes = await fixes_of(conn, watched, start, end, MAX_FIXES)
        events = await events_of(conn, devices, start, end, MAX_EVENTS)
        gathering = None
        if kind == "gathering":  # the pair's kept meetings: "met 4 times in 30 days"
            mark = await nightly_mark(conn, alert_id)
            companion = mark["companion_id"] if mark else found["subject"]
            now = datetime.now(UTC)
            gathering = gathering_history(
                await pair_meetings(conn, sid, companion, now - timedelta(days=HISTORY_DAYS),
                                    now), companion, now.timestamp(), nightly=mark)
        await audit.record(conn, caller.username, "alert.explained", str(alert_id),
                           {"jurisdiction_id": found["jurisdiction_id"], "supervisee_id": sid,
                            "start": start.isoformat(), "end": end.isoformat(),
                            "fixes": len(fixes), **({"kept_meetings": gathering[
                                "meetings_count"]} if gathering else {})})
    explained = explain(found, fixes, thresholds=thresholds,
                        accuracy_factor=state.accuracy_factor,
                        zone=zone if zone and zone.get("geometry") else None,
                        victim_device=victim_device, phone_device=phone_device)
    return {"alert": found, "start": start.timestamp(), "end": end.timestamp(),
            "plan_id": plan_id, "thresholds": thresholds, "zone": zone,
            "victim_device_id": victim_device, "phone_device_id": phone_device,
            "fixes": explained["fixes"], "events": events, "gathering": gathering}
