"""Leave (外出请假) and standing permits: request, approve or refuse, cancel, return (销假).

An officer of the person files the request (destination, window, reason); it is approved by a
supervisor (or admin) at the level its length requires — the person's township office up to
``leave_township_max_days`` (7), the county up to ``leave_county_max_days`` (30), the city
beyond; a permit (regular cross-county travel) lasts at most ``permit_max_days`` (183), and so
does any leave. Four eyes: the account that filed a request never approves it (a supervisor
filing one has it approved by another supervisor at the level, or above). Approved, the engine
lifts the person's county line for the window and binds the destination
(:mod:`alerts.rules.leave_overdue`, which also raises ``leave_overdue`` — 未归 — when the person
is not back by the end); the return (销假) closes the leave early.

Scoping as everywhere: a person or leave outside the caller's reach answers 404, a decision
without the supervisor role at the approving level 403, a released person 409; every write is
in the audit trail, in the same transaction.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from psycopg import AsyncConnection
from pydantic import BaseModel, Field, model_validator

from api.auth import Caller, Principal, forbidden, invalid, not_found
from api.routes.casework import readable
from api.schemas import Leaves, OneLeave
from geofence.zones import Zone, ZoneError
from store import audit, casework
from store import leave as store
from store.leave import LeaveLimits

router = APIRouter(tags=["leave"])

LeaveId = Path(ge=1, le=2**62)


def limits(request: Request) -> LeaveLimits:
    """The settings (``leave_*``, ``permit_max_days``) as the engine gave them to the API."""
    found = getattr(request.app.state.cordon, "leave_limits", None)
    return found if isinstance(found, LeaveLimits) else LeaveLimits()


def epoch(value: datetime, field: str) -> float:
    if value.tzinfo is None:
        raise invalid(("body", field), "needs a time zone (e.g. 2026-01-01T08:00:00+08:00)")
    return value.timestamp()


class Destination(BaseModel):
    zone_id: str | None = Field(None, min_length=1, max_length=200,
                                description="an existing zone in reach")
    area: dict[str, Any] | None = Field(
        None, description="or the area as a GeoJSON Feature (a Polygon, a Point with "
                          "properties.radius_m, a LineString with properties.width_m), stored "
                          "as an inclusion zone of the person's jurisdiction")
    name: str | None = Field(None, min_length=1, max_length=200,
                             description="the area's name (default: 'leave <id>')")

    @model_validator(mode="after")
    def one_of(self) -> Destination:
        if (self.zone_id is None) == (self.area is None):
            raise ValueError("give the destination as zone_id or as area, one of them")
        return self


class NewLeave(BaseModel):
    kind: Literal["leave", "permit"] = Field(
        "leave", description="leave (外出请假), or a standing permit for regular cross-county "
                             "travel (at most permit_max_days)")
    destination: Destination
    starts_at: datetime = Field(description="out of the county from (ISO 8601 with an offset)")
    ends_at: datetime = Field(description="back inside the county by")
    reason: str = Field(min_length=1, max_length=4000)
    travel_hours: float | None = Field(
        None, ge=0, le=72, description="a leave's travel out and back, each: the destination "
                                       "binds only in between (default: leave_travel_hours, at "
                                       "most a quarter of the window); a permit has none")


class Decision(BaseModel):
    note: str | None = Field(None, max_length=4000)


class Refusal(BaseModel):
    note: str = Field(min_length=1, max_length=4000, description="why it is refused")


class Closing(BaseModel):
    note: str | None = Field(None, max_length=4000)


async def person(conn: AsyncConnection, caller: Principal, supervisee_id: str) -> str:
    """The person's jurisdiction, their row locked: 404 outside reach, 409 once released."""
    row = await casework.supervisee_row(conn, supervisee_id)
    if row is None or not caller.sees(row["jurisdiction_id"]):
        raise not_found(f"supervisee {supervisee_id}")
    if row["released"]:
        raise HTTPException(409, f"supervisee {supervisee_id} has been released: the record "
                                 "is read-only")
    return row["jurisdiction_id"]


async def destination_zone(conn: AsyncConnection, caller: Principal, supervisee_id: str,
                           jurisdiction_id: str, leave_id: int, given: Destination
                           ) -> tuple[str, bool]:
    """The destination's zone id (stored now if given as an area), and whether it was made."""
    where = ("body", "destination")
    if given.zone_id is not None:
        cur = await conn.execute("SELECT jurisdiction_id, feature FROM zones WHERE id = %s",
                                 (given.zone_id,))
        row = await cur.fetchone()
        if row is None or not (row[0] is None or caller.sees(row[0])):
            raise invalid((*where, "zone_id"), f"no zone {given.zone_id} in your reach: give "
                                               "another, or the area itself")
        try:
            Zone.from_feature(row[1], given.zone_id)
        except ZoneError as exc:
            raise invalid((*where, "zone_id"), str(exc)) from None
        cur = await conn.execute("SELECT 1 FROM supervisee_zones WHERE supervisee_id = %s AND "
                                 "zone_id = %s", (supervisee_id, given.zone_id))
        if await cur.fetchone() is not None:
            raise invalid((*where, "zone_id"), f"zone {given.zone_id} is already one of "
                                               f"{supervisee_id}'s zones: a destination lies "
                                               "outside them")
        return given.zone_id, False
    feature = given.area
    assert feature is not None
    zone_id = f"leave-{leave_id}"
    cur = await conn.execute("SELECT 1 FROM zones WHERE id = %s", (zone_id,))
    if await cur.fetchone() is not None:
        zone_id = f"leave-{leave_id}-{uuid.uuid4().hex[:6]}"
    props = feature.get("properties")
    props = dict(props) if isinstance(props, dict) else {}
    props.pop("schedule", None)  # the leave's window is its schedule
    props.update(kind="inclusion", jurisdiction_id=jurisdiction_id,
                 name=given.name or f"leave {leave_id}")
    try:
        zone = Zone.from_feature({**feature, "properties": props}, zone_id)
    except (ZoneError, AttributeError, TypeError, ValueError, KeyError) as exc:
        raise invalid((*where, "area"), f"{exc}: a GeoJSON Feature, e.g. a Polygon, or a Point "
                                        "with properties.radius_m") from None
    await store.store_area(conn, zone)
    return zone_id, True


def checked_window(body: NewLeave, lim: LeaveLimits) -> tuple[float, float, float]:
    """(start, end, travel_s), or 422 naming the field."""
    start, end = epoch(body.starts_at, "starts_at"), epoch(body.ends_at, "ends_at")
    if not end > start:
        raise invalid(("body", "ends_at"), "the end must come after the start")
    if end <= time.time():
        raise invalid(("body", "ends_at"), "the end is in the past: a leave is asked for "
                                           "before it is over")
    days = (end - start) / 86400
    if days > lim.permit_max_days + 1e-9:
        raise invalid(("body", "ends_at"),
                      f"a {body.kind} lasts at most {lim.permit_max_days:g} days "
                      f"(permit_max_days); this one lasts {days:.1f}: end it sooner")
    if body.kind == "permit":
        if body.travel_hours:
            raise invalid(("body", "travel_hours"), "a permit has no travel allowance: draw "
                                                    "the route into its destination instead")
        return start, end, 0.0
    if body.travel_hours is None:
        return start, end, lim.default_travel_s(end - start)
    travel = body.travel_hours * 3600.0
    if not 2 * travel < end - start:
        raise invalid(("body", "travel_hours"),
                      f"travel out and back of {body.travel_hours:g} hours each leaves no time "
                      f"at the destination in a window of {(end - start) / 3600:.1f} hours: "
                      "give less")
    return start, end, travel


@router.post("/supervisees/{supervisee_id}/leaves", response_model=OneLeave, status_code=201)
async def request_leave(request: Request, caller: Caller, body: NewLeave,
                        supervisee_id: str = Path(max_length=200)) -> dict[str, Any]:
    """File a leave or permit for a person in reach (any role): it waits for approval at the
    level its length requires (``approval_level``, ``approval_jurisdiction_id``). Refused
    (409) while another request or approved leave of the person overlaps it."""
    lim = limits(request)
    start, end, travel = checked_window(body, lim)
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await person(conn, caller, supervisee_id)
        clash = await store.overlapping(conn, supervisee_id, start, end)
        if clash is not None:
            raise HTTPException(409, f"leave {clash} of {supervisee_id} overlaps this one: "
                                     "cancel it first, or change the dates")
        level = lim.level_for((end - start) / 86400)
        approver_at = store.approving_jurisdiction(await store.jurisdiction_chain(conn, jid),
                                                   level)
        leave_id = await store.next_id(conn)
        zone_id, made = await destination_zone(conn, caller, supervisee_id, jid, leave_id,
                                               body.destination)
        await store.insert_leave(conn, leave_id, supervisee_id, body.kind, zone_id, made, start,
                                 end, travel, body.reason, level, approver_at, caller.username)
        await audit.record(conn, caller.username, f"{body.kind}.requested", str(leave_id),
                           {"jurisdiction_id": jid, "supervisee_id": supervisee_id,
                            "destination_zone_id": zone_id, "starts_at": start,
                            "ends_at": end, "travel_s": travel, "reason": body.reason,
                            "approval_level": level,
                            "approval_jurisdiction_id": approver_at})
        return {"leave": await store.leave(conn, leave_id)}


@router.get("/supervisees/{supervisee_id}/leaves", response_model=Leaves)
async def person_leaves(request: Request, caller: Caller,
                        supervisee_id: str = Path(max_length=200),
                        limit: int = Query(500, ge=1, le=5000),
                        offset: int = Query(0, ge=0, le=10_000_000)) -> dict[str, Any]:
    """A person's leaves and permits, newest first."""
    async with request.app.state.cordon.pool.connection() as conn:
        jid = await readable(conn, caller, supervisee_id)
        return {"leaves": await store.leaves(conn, [jid], supervisee_id=supervisee_id,
                                             limit=limit, offset=offset)}


@router.get("/leaves", response_model=Leaves)
async def leave_queue(
    request: Request,
    caller: Caller,
    status: Literal["requested", "approved", "refused", "cancelled", "returned"] | None = None,
    jurisdiction_id: str | None = Query(None, max_length=200,
                                        description="the people of this jurisdiction (and "
                                                    "below it)"),
    limit: int = Query(500, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Leaves of the people in the caller's reach (or one jurisdiction of it), newest start
    first: ``status=requested`` is the queue to decide (each names the level and jurisdiction
    that approves it), ``status=approved`` who is away."""
    scope = caller.scope(jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        if jurisdiction_id is not None and scope:
            below = await store.subtree(conn, jurisdiction_id)
            scope = [j for j in caller.jurisdictions if j in below]
        return {"leaves": await store.leaves(conn, scope, status=status, limit=limit,
                                             offset=offset)}


async def visible(conn: AsyncConnection, caller: Principal, leave_id: int) -> dict[str, Any]:
    """The leave, its row and its person's locked: 404 outside reach, 409 once released."""
    found = await store.leave(conn, leave_id)
    if found is None or not caller.sees(found["jurisdiction_id"]):
        raise not_found(f"leave {leave_id}")
    await person(conn, caller, found["supervisee_id"])
    return await store.leave(conn, leave_id, lock=True) or found


@router.get("/leaves/{leave_id}", response_model=OneLeave)
async def one_leave(request: Request, caller: Caller, leave_id: int = LeaveId
                    ) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = await store.leave(conn, leave_id)
        if found is None or not caller.sees(found["jurisdiction_id"]):
            raise not_found(f"leave {leave_id}")
        return {"leave": found}


def may_decide(caller: Principal, found: dict[str, Any]) -> None:
    """A supervisor (or admin) at the approving level, not the requester."""
    if not caller.may(found["approval_jurisdiction_id"], "supervisor"):
        days = (found["ends_at"] - found["starts_at"]) / 86400
        raise HTTPException(403, f"needs the supervisor role at "
                                 f"{found['approval_jurisdiction_id']}: a {found['kind']} of "
                                 f"{days:.1f} days is decided at the {found['approval_level']} "
                                 "level")
    if caller.username == found["requested_by"]:
        raise HTTPException(403, "the account that filed a request does not decide it (four "
                                 "eyes): another supervisor at the level, or above, does")


def must_be(found: dict[str, Any], *statuses: str) -> None:
    if found["status"] not in statuses:
        raise HTTPException(409, f"leave {found['id']} is {found['status']}, not "
                                 f"{' or '.join(statuses)}")


async def answer(conn: AsyncConnection, caller: Principal, action: str, found: dict[str, Any],
                 detail: dict[str, Any]) -> dict[str, Any]:
    await audit.record(conn, caller.username, f"{found['kind']}.{action}", str(found["id"]),
                       {"jurisdiction_id": found["jurisdiction_id"],
                        "supervisee_id": found["supervisee_id"], **detail})
    return {"leave": await store.leave(conn, found["id"])}


@router.post("/leaves/{leave_id}/approve", response_model=OneLeave)
async def approve(request: Request, caller: Caller, body: Decision, leave_id: int = LeaveId
                  ) -> dict[str, Any]:
    """Approve a request (supervisor at the approving level, not its requester): the engine
    lifts the county line for the window within ``registry_refresh_s``."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        found = await visible(conn, caller, leave_id)
        may_decide(caller, found)
        must_be(found, "requested")
        if found["ends_at"] <= time.time():
            raise HTTPException(409, f"leave {leave_id} is over: its end has passed")
        clash = await store.overlapping(conn, found["supervisee_id"], found["starts_at"],
                                        found["ends_at"], but=leave_id)
        if clash is not None:
            raise HTTPException(409, f"leave {clash} of {found['supervisee_id']} overlaps this "
                                     "one: cancel or refuse one of them")
        await store.decide(conn, leave_id, "approved", caller.username, body.note)
        return await answer(conn, caller, "approved", found, {"note": body.note})


@router.post("/leaves/{leave_id}/refuse", response_model=OneLeave)
async def refuse(request: Request, caller: Caller, body: Refusal, leave_id: int = LeaveId
                 ) -> dict[str, Any]:
    """Refuse a request, saying why (supervisor at the approving level)."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        found = await visible(conn, caller, leave_id)
        may_decide(caller, found)
        must_be(found, "requested")
        await store.decide(conn, leave_id, "refused", caller.username, body.note)
        return await answer(conn, caller, "refused", found, {"note": body.note})


@router.post("/leaves/{leave_id}/cancel", response_model=OneLeave)
async def cancel(request: Request, caller: Caller, body: Closing, leave_id: int = LeaveId
                 ) -> dict[str, Any]:
    """Withdraw a request, or an approved leave that has not begun (its requester, or a
    supervisor of the person); once begun, record the return instead."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        found = await visible(conn, caller, leave_id)
        if caller.username != found["requested_by"] and not caller.may(
                found["jurisdiction_id"], "supervisor"):
            raise forbidden("supervisor")
        must_be(found, "requested", "approved")
        if found["status"] == "approved" and found["starts_at"] <= time.time():
            raise HTTPException(409, f"leave {leave_id} has begun: record the return (销假) "
                                     f"with POST /leaves/{leave_id}/return")
        await store.close(conn, leave_id, "cancelled", caller.username, body.note)
        return await answer(conn, caller, "cancelled", found, {"note": body.note})


@router.post("/leaves/{leave_id}/return", response_model=OneLeave)
async def record_return(request: Request, caller: Caller, body: Closing,
                        leave_id: int = LeaveId) -> dict[str, Any]:
    """The return (销假), recorded by an officer of the person once the leave has begun: it
    ends the leave now — the county line applies again — and clears ``leave_overdue``."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        found = await visible(conn, caller, leave_id)
        must_be(found, "approved")
        if found["starts_at"] > time.time():
            raise HTTPException(409, f"leave {leave_id} has not begun: cancel it instead")
        await store.close(conn, leave_id, "returned", caller.username, body.note)
        return await answer(conn, caller, "returned", found,
                            {"note": body.note, "overdue": found["overdue"]})
