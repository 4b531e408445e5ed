"""Positioning orders: the legal basis of a bracelet (社区矫正法 art. 29).

A person wears a bracelet under an order: one of the statute's five grounds, an approver, a
start and an end at most ``positioning_order_max_days`` later (92: three months). A renewal,
made before the order ends, carries an assessment and the same limit, and starts where the
order ends; an order may be removed early, with a reason. Outside every order in force the
person's bracelets' positions are neither stored nor evaluated (with ``positioning_orders =
"required"``, see :mod:`ingest.orders`), and ``order_ending`` warns the officer before the end.

Making, renewing and removing an order needs the supervisor role on the person's jurisdiction;
the approver named must be an account holding the supervisor or admin role there (in China, the
head of the county justice bureau). Every action is in the audit trail. ``GET /orders`` is the
report of the orders in force, per jurisdiction.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from psycopg import AsyncConnection
from pydantic import BaseModel, Field

from api.auth import Caller, forbidden, invalid, not_found
from api.routes.casework import readable, writable
from api.schemas import OnePositioningOrder, OrderGrounds, PositioningOrders, Wire
from store import audit, casework
from store.casework import ORDER_GROUNDS

router = APIRouter(tags=["positioning orders"])

GROUNDS_TEXT = ", ".join(ORDER_GROUNDS)


def epoch(value: datetime, where: tuple[str, ...]) -> float:
    if value.tzinfo is None:
        raise invalid(where, "needs a time zone (e.g. 2026-01-01T00:00:00+08:00)")
    return value.timestamp()


def within_limit(request: Request, start: float, end: float, where: tuple[str, ...]) -> None:
    max_days = request.app.state.cordon.positioning_order_max_days
    if not end > start:
        raise invalid(where, "the order must end after it starts")
    days = (end - start) / 86400
    if days > max_days + 1e-9:
        raise invalid(where, f"an order lasts at most {max_days:g} days "
                             f"(positioning_order_max_days); this one lasts {days:.1f}: end it "
                             "sooner and renew it after an assessment")
    if end <= time.time():
        raise invalid(where, "the order would already be over: its end is in the past")


async def checked_approver(conn: AsyncConnection, approver: str, jurisdiction_id: str) -> None:
    if not await casework.approver_may(conn, approver, jurisdiction_id):
        raise invalid(("body", "approver"),
                      f"{approver!r} is not an enabled account holding the supervisor or admin "
                      f"role on {jurisdiction_id}: an order is approved there")


@router.get("/order-grounds", response_model=OrderGrounds)
async def order_grounds(request: Request, caller: Caller) -> dict[str, Any]:
    """The statute's five grounds for a positioning order, with their labels."""
    return {"grounds": [{"code": c, "labels": {"zh-CN": zh, "en": en}}
                        for c, (zh, en) in ORDER_GROUNDS.items()],
            "max_days": request.app.state.cordon.positioning_order_max_days}


class OrderApprover(Wire):
    username: str
    display_name: str


class OrderApprovers(Wire):
    supervisee_id: str
    approvers: list[OrderApprover] = Field(description="enabled accounts holding the "
                                                       "supervisor or admin role on the "
                                                       "person's jurisdiction (there or above)")


@router.get("/order-approvers", response_model=OrderApprovers)
async def order_approvers(request: Request, caller: Caller,
                          supervisee_id: str = Query(max_length=200)) -> dict[str, Any]:
    """Who may approve a positioning order of the person (the order form's approver field):
    the enabled accounts with the supervisor or admin role on the person's jurisdiction or one
    above it. Only for whoever makes orders there (supervisor); 404 outside reach."""
    async with request.app.state.cordon.pool.connection() as conn:
        jid = await readable(conn, caller, supervisee_id)
        if not caller.may(jid, "supervisor"):
            raise forbidden("supervisor")
        cur = await conn.execute(
            "WITH RECURSIVE up (id, parent_id) AS ("
            " SELECT id, parent_id FROM jurisdictions WHERE id = %s"
            " UNION"
            " SELECT j.id, j.parent_id FROM jurisdictions j JOIN up ON j.id = up.parent_id"
            ") SELECT DISTINCT u.username, u.display_name FROM users u"
            " JOIN grants g ON g.user_id = u.id JOIN up ON up.id = g.jurisdiction_id"
            " WHERE NOT u.disabled AND g.role IN ('supervisor', 'admin') ORDER BY u.username",
            (jid,))
        rows = await cur.fetchall()
    return {"supervisee_id": supervisee_id,
            "approvers": [{"username": r[0], "display_name": r[1]} for r in rows]}


@router.get("/orders", response_model=PositioningOrders)
async def list_orders(
    request: Request,
    caller: Caller,
    jurisdiction_id: str | None = Query(None, max_length=200),
    supervisee_id: str | None = Query(None, max_length=200),
    in_force: bool = Query(True, description="only orders in force now; false (with "
                                             "supervisee_id): every order of the person"),
    limit: int = Query(500, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Orders in force in the caller's reach (or one jurisdiction of it), soonest end first:
    the report per county; or a person's orders."""
    scope = caller.scope(jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        if supervisee_id is not None:
            await readable(conn, caller, supervisee_id)
        return {"orders": await casework.orders(conn, scope, supervisee_id=supervisee_id,
                                                in_force=in_force, limit=limit, offset=offset)}


async def visible_order(conn: AsyncConnection, caller: Any, order_id: int, *,
                        lock: bool = False) -> dict[str, Any]:
    found = await casework.order(conn, order_id, lock=lock)
    if found is None or not caller.sees(found["jurisdiction_id"]):
        raise not_found(f"order {order_id}")
    return found


@router.get("/orders/{order_id}", response_model=OnePositioningOrder)
async def one_order(request: Request, caller: Caller, order_id: int = Path(ge=1, le=2**62)
                    ) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"order": await visible_order(conn, caller, order_id)}


class NewOrder(BaseModel):
    supervisee_id: str = Field(min_length=1, max_length=200)
    ground: str = Field(description=f"one of {GROUNDS_TEXT} (GET /order-grounds)")
    approver: str = Field(min_length=1, max_length=200,
                          description="the approving account: supervisor or admin of the "
                                      "person's jurisdiction")
    starts_at: datetime
    ends_at: datetime = Field(description="at most positioning_order_max_days after the start")
    note: str | None = Field(None, max_length=4000)


@router.post("/orders", response_model=OnePositioningOrder, status_code=201)
async def make_order(request: Request, caller: Caller, body: NewOrder) -> dict[str, Any]:
    """A new positioning order (supervisor). Refused (409) while another order of the person
    overlaps it: renew that one instead."""
    if body.ground not in ORDER_GROUNDS:
        raise invalid(("body", "ground"), f"unknown ground {body.ground!r}: one of "
                                          f"{GROUNDS_TEXT}")
    start = epoch(body.starts_at, ("body", "starts_at"))
    end = epoch(body.ends_at, ("body", "ends_at"))
    within_limit(request, start, end, ("body", "ends_at"))
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, body.supervisee_id)
        await checked_approver(conn, body.approver, jid)
        cur = await conn.execute(
            "SELECT id FROM positioning_orders WHERE supervisee_id = %s AND "
            "starts_at < to_timestamp(%s) AND least(ends_at, removed_at) > to_timestamp(%s) "
            "ORDER BY id LIMIT 1", (body.supervisee_id, end, start))
        clash = await cur.fetchone()
        if clash is not None:
            raise HTTPException(409, f"order {clash[0]} of {body.supervisee_id} overlaps this "
                                     "one: renew or remove it instead")
        order_id = await casework.insert_order(conn, body.supervisee_id, body.ground,
                                               body.approver, start, end, caller.username,
                                               note=body.note)
        made = await casework.order(conn, order_id)
        await audit.record(conn, caller.username, "positioning_order.made", str(order_id),
                           {"jurisdiction_id": jid, "supervisee_id": body.supervisee_id,
                            "ground": body.ground, "approver": body.approver,
                            "starts_at": start, "ends_at": end})
    return {"order": made}


class Renewal(BaseModel):
    approver: str = Field(min_length=1, max_length=200)
    ends_at: datetime = Field(description="at most positioning_order_max_days after the "
                                          "renewed order's end")
    assessment: str = Field(min_length=1, max_length=4000,
                            description="the assessment the renewal rests on")


@router.post("/orders/{order_id}/renew", response_model=OnePositioningOrder, status_code=201)
async def renew_order(request: Request, caller: Caller, body: Renewal,
                      order_id: int = Path(ge=1, le=2**62)) -> dict[str, Any]:
    """Renew an order before it ends, after an assessment: a new order with the same ground,
    from the old one's end."""
    end = epoch(body.ends_at, ("body", "ends_at"))
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        old = await visible_order(conn, caller, order_id, lock=True)
        jid = await writable(conn, caller, old["supervisee_id"])
        if old["removed_at"] is not None or old["ends_at"] <= time.time():
            raise HTTPException(409, f"order {order_id} has ended: make a new order")
        if await casework.renewed(conn, order_id):
            raise HTTPException(409, f"order {order_id} is renewed already")
        within_limit(request, old["ends_at"], end, ("body", "ends_at"))
        await checked_approver(conn, body.approver, jid)
        new_id = await casework.insert_order(
            conn, old["supervisee_id"], old["ground"], body.approver, old["ends_at"], end,
            caller.username, renews=order_id, assessment=body.assessment)
        made = await casework.order(conn, new_id)
        await audit.record(conn, caller.username, "positioning_order.renewed", str(new_id),
                           {"jurisdiction_id": jid, "supervisee_id": old["supervisee_id"],
                            "renews": order_id, "approver": body.approver,
                            "starts_at": old["ends_at"], "ends_at": end,
                            "assessment": body.assessment})
    return {"order": made}


class Removal(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


@router.post("/orders/{order_id}/remove", response_model=OnePositioningOrder)
async def remove_order(request: Request, caller: Caller, body: Removal,
                       order_id: int = Path(ge=1, le=2**62)) -> dict[str, Any]:
    """End an order early (the bracelet comes off), with the reason; a renewal of it that has
    not begun is removed with it."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        old = await visible_order(conn, caller, order_id, lock=True)
        if not caller.may(old["jurisdiction_id"], "supervisor"):
            raise forbidden("supervisor")
        jid = await writable(conn, caller, old["supervisee_id"])
        if old["removed_at"] is not None or old["ends_at"] <= time.time():
            raise HTTPException(409, f"order {order_id} has ended already")
        await casework.remove_order(conn, order_id, body.reason)
        cur = await conn.execute("SELECT id FROM positioning_orders WHERE renews = %s AND "
                                 "removed_at IS NULL", (order_id,))
        for (renewal,) in await cur.fetchall():
            await casework.remove_order(conn, renewal, f"the order it renews was removed: "
                                                       f"{body.reason}")
        await audit.record(conn, caller.username, "positioning_order.removed", str(order_id),
                           {"jurisdiction_id": jid, "supervisee_id": old["supervisee_id"],
                            "reason": body.reason})
        return {"order": await casework.order(conn, order_id)}
