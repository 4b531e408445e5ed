"""Check-ins (信息化核查): ask a person's phone where it is, now or on a schedule.

``POST /supervisees/{id}/check-ins`` sends the OwnTracks remote command ``reportLocation`` to
the person's phone (:mod:`ingest.commands`); the phone's first fix within the deadline is the
answer, recorded with its distance from home, and none raises ``check_in_missed``
(:mod:`alerts.rules.check_in_missed`). A schedule — the person's own, else their plan's — asks
some random times a day within set hours (:mod:`ingest.check_ins`).

Asking needs the officer role on the person's jurisdiction, setting a person's schedule the
supervisor role, a plan's the admin role where the plan belongs. Outside reach: 404; released:
409 (so is a person without a phone, for a request). Every write, and every read of the answers
(they are positions), is in the audit trail.
"""

from __future__ import annotations

import time
from datetime import datetime
from datetime import time as clock_time
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from psycopg import AsyncConnection
from pydantic import BaseModel, Field

from api.auth import Caller, Principal, admin_at_root, forbidden, invalid, not_found
from api.routes.casework import readable
from api.schemas import CheckIns, CheckInSchedule, OneCheckIn, PlanCheckInSchedule
from ingest.check_ins import send
from ingest.commands import command_topic
from store import audit, casework
from store import check_ins as store
from store.caseload import plan_jurisdiction, plans

router = APIRouter(tags=["check-ins"])

PERSON = Path(max_length=200)
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


async def changeable(conn: AsyncConnection, caller: Principal, supervisee_id: str,
                     role: str) -> str:
    """The person's jurisdiction, their row locked: 404 outside reach, 403 without ``role``
    there, 409 once released."""
    row = await casework.supervisee_row(conn, supervisee_id)
    if row is None or not caller.sees(row["jurisdiction_id"]):
        raise not_found(f"supervisee {supervisee_id}")
    if not caller.may(row["jurisdiction_id"], role):
        raise forbidden(role)
    if row["released"]:
        raise HTTPException(409, f"supervisee {supervisee_id} has been released: the record "
                                 "is read-only")
    return row["jurisdiction_id"]


class CheckInAsk(BaseModel):
    deadline_min: int = Field(10, ge=1, le=240,
                              description="minutes the phone has to answer (1–240)")
    note: str | None = Field(None, max_length=1000, description="why the officer asks")


@router.post("/supervisees/{supervisee_id}/check-ins", response_model=OneCheckIn,
             status_code=201, responses={409: {"description": "released, or no phone"}})
async def ask(request: Request, caller: Caller, body: CheckInAsk,
              supervisee_id: str = PERSON) -> dict[str, Any]:
    """Ask the person's phone for its position now (officer). The answer comes within the
    deadline, or ``check_in_missed`` is raised."""
    commands = getattr(request.app.state, "check_in_commands", None)
    pool = request.app.state.cordon.pool
    now = getattr(request.app.state.cordon, "clock", time.time)()  # the engine's clock
    async with pool.connection() as conn, conn.transaction():
        jid = await changeable(conn, caller, supervisee_id, "officer")
        phone = await store.phone_of(conn, supervisee_id)
        if phone is None:
            raise HTTPException(409, f"supervisee {supervisee_id} has no phone in service: "
                                     "assign one (POST /supervisees/{id}/devices) first")
        topic = (commands.topic_of(phone, supervisee_id) if commands is not None
                 else command_topic(phone))
        deadline = now + body.deadline_min * 60.0
        cid = await store.insert(conn, supervisee_id, phone, now, deadline, caller.username,
                                 topic, note=body.note)
        assert cid is not None
        await audit.record(conn, caller.username, "check_in.requested", str(cid),
                           {"jurisdiction_id": jid, "supervisee_id": supervisee_id,
                            "device_id": phone, "deadline": deadline, "note": body.note})
    sent = await send(pool, commands, cid, topic)
    async with pool.connection() as conn:
        return {"check_in": await store.one(conn, cid), "sent": sent}


def _epoch(value: datetime | None, where: tuple[str, ...]) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise invalid(where, "needs a time zone (e.g. 2026-01-01T00:00:00+08:00)")
    return value.timestamp()


@router.get("/supervisees/{supervisee_id}/check-ins", response_model=CheckIns)
async def history(request: Request, caller: Caller, supervisee_id: str = PERSON,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = Query(200, ge=1, le=5000)) -> dict[str, Any]:
    """The person's check-ins asked in [since, until), newest first, with their answers
    (audited as a position read, ``check_ins.read``)."""
    start = _epoch(since, ("query", "since"))
    end = _epoch(until, ("query", "until"))
    if start is not None and end is not None and end <= start:
        raise invalid(("query", "until"), "must be after since")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await readable(conn, caller, supervisee_id)
        found = await store.of_supervisee(conn, supervisee_id, start, end, limit)
        await audit.record(conn, caller.username, "check_ins.read", supervisee_id,
                           {"jurisdiction_id": jid, "since": start, "until": end,
                            "count": len(found)})
    return {"check_ins": found}


class ScheduleBody(BaseModel):
    times_per_day: int = Field(ge=0, le=24, description="random check-ins a day (0: none, "
                                                        "which also overrides the plan's)")
    window_start: str = Field(pattern=HHMM, description="local time HH:MM")
    window_end: str = Field(pattern=HHMM, description="local time HH:MM, after window_start")
    deadline_min: int = Field(10, ge=1, le=240, description="minutes the phone has to answer")


def _window(body: ScheduleBody) -> tuple[clock_time, clock_time]:
    def parse(text: str) -> clock_time:
        hh, mm = (int(x) for x in text.split(":"))
        return clock_time(hh, mm)

    start, end = parse(body.window_start), parse(body.window_end)
    if not end > start:
        raise invalid(("body", "window_end"), f"must be after window_start "
                                              f"({body.window_start}): a window within one day")
    minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    if body.times_per_day and minutes < body.times_per_day:
        raise invalid(("body", "times_per_day"), f"{body.times_per_day} check-ins do not fit "
                                                 f"in a window of {minutes} minutes")
    return start, end


async def _schedule(conn: AsyncConnection, supervisee_id: str) -> dict[str, Any]:
    own, plan = await store.schedules_of(conn, supervisee_id)
    return {"supervisee_id": supervisee_id, "own": own, "plan": plan,
            "effective": own if own is not None else plan}


@router.get("/supervisees/{supervisee_id}/check-in-schedule", response_model=CheckInSchedule)
async def get_schedule(request: Request, caller: Caller, supervisee_id: str = PERSON
                       ) -> dict[str, Any]:
    """The person's check-in schedule: their own, their plan's, and the one in force."""
    async with request.app.state.cordon.pool.connection() as conn:
        await readable(conn, caller, supervisee_id)
        return await _schedule(conn, supervisee_id)


@router.put("/supervisees/{supervisee_id}/check-in-schedule", response_model=CheckInSchedule,
            responses={409: {"description": "released"}})
async def put_schedule(request: Request, caller: Caller, body: ScheduleBody,
                       supervisee_id: str = PERSON) -> dict[str, Any]:
    """Set the person's own schedule (supervisor); it takes the place of their plan's."""
    start, end = _window(body)
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await changeable(conn, caller, supervisee_id, "supervisor")
        await store.set_schedule(conn, supervisee_id, body.times_per_day, start, end,
                                 body.deadline_min, caller.username)
        await audit.record(conn, caller.username, "check_in_schedule.set", supervisee_id,
                           {"jurisdiction_id": jid, **body.model_dump()})
        return await _schedule(conn, supervisee_id)


@router.delete("/supervisees/{supervisee_id}/check-in-schedule",
               response_model=CheckInSchedule, responses={409: {"description": "released"}})
async def remove_schedule(request: Request, caller: Caller, supervisee_id: str = PERSON
                          ) -> dict[str, Any]:
    """Take the person's own schedule away (supervisor): their plan's applies again."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await changeable(conn, caller, supervisee_id, "supervisor")
        if await store.remove_schedule(conn, supervisee_id):
            await audit.record(conn, caller.username, "check_in_schedule.removed",
                               supervisee_id, {"jurisdiction_id": jid})
        return await _schedule(conn, supervisee_id)


async def _visible_plan(conn: AsyncConnection, caller: Principal, plan_id: str
                        ) -> str | None:
    exists, jurisdiction_id = await plan_jurisdiction(conn, plan_id)
    if not exists or not await plans(conn, caller.jurisdictions, plan_id=plan_id):
        raise not_found(f"plan {plan_id}")
    return jurisdiction_id


@router.get("/plans/{plan_id}/check-in-schedule", response_model=PlanCheckInSchedule)
async def get_plan_schedule(request: Request, caller: Caller,
                            plan_id: str = Path(max_length=200)) -> dict[str, Any]:
    """The check-in schedule of everyone on the plan (null: none)."""
    async with request.app.state.cordon.pool.connection() as conn:
        await _visible_plan(conn, caller, plan_id)
        return {"plan_id": plan_id, "schedule": await store.plan_schedule(conn, plan_id)}


@router.put("/plans/{plan_id}/check-in-schedule", response_model=PlanCheckInSchedule)
async def put_plan_schedule(request: Request, caller: Caller, body: ScheduleBody,
                            plan_id: str = Path(max_length=200)) -> dict[str, Any]:
    """Set the check-in schedule of everyone on the plan (admin where the plan belongs; at
    the root for the agency's plans)."""
    start, end = _window(body)
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jurisdiction_id = await _visible_plan(conn, caller, plan_id)
        if jurisdiction_id is None:
            if not await admin_at_root(conn, caller):
                raise HTTPException(403, "a plan of the whole agency needs the admin role at "
                                         "the root")
        elif not caller.may(jurisdiction_id, "admin"):
            raise forbidden("admin")
        await store.set_plan_schedule(conn, plan_id, body.times_per_day, start, end,
                                      body.deadline_min, caller.username)
        await audit.record(conn, caller.username, "check_in_schedule.set", f"plan {plan_id}",
                           {"jurisdiction_id": jurisdiction_id, "plan_id": plan_id,
                            **body.model_dump()})
        return {"plan_id": plan_id, "schedule": await store.plan_schedule(conn, plan_id)}
