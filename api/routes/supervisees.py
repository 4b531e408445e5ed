"""Supervisees of the caller's caseload: list, search, one with devices, zones and plan.

Registering people and devices is the registry's import (``store.registry.import_registry``,
``POST /registry``); here supervisors of a jurisdiction change the plan and zones of its people.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.auth import Caller, forbidden, not_found
from api.routes.casework import writable
from api.schemas import ChangedSupervisee, OneSupervisee, Supervisees
from store import audit
from store.caseload import devices, pairings, plans, supervisee, supervisees

router = APIRouter(tags=["supervisees"])


@router.get("/supervisees", response_model=Supervisees)
async def list_supervisees(
    request: Request,
    caller: Caller,
    jurisdiction_id: str | None = Query(None, max_length=200),
    search: str | None = Query(None, min_length=1, max_length=200),
    limit: int = Query(500, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=10_000_000),
    released: bool = Query(False, description="also those released (解矫)"),
) -> dict[str, Any]:
    scope = caller.scope(jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        return {"supervisees": await supervisees(conn, scope, search=search, limit=limit,
                                                 offset=offset, released=released)}


async def visible_supervisee(request: Request, caller: Caller,
                             supervisee_id: str) -> dict[str, Any]:
    """The supervisee if the caller reaches their jurisdiction; 404 otherwise."""
    async with request.app.state.cordon.pool.connection() as conn:
        found = await supervisee(conn, supervisee_id)
    if found is None or not caller.sees(found["jurisdiction_id"]):
        raise not_found(f"supervisee {supervisee_id}")
    return found


@router.get("/supervisees/{supervisee_id}", response_model=OneSupervisee)
async def one_supervisee(request: Request, caller: Caller, supervisee_id: str) -> dict[str, Any]:
    found = await visible_supervisee(request, caller, supervisee_id)
    async with request.app.state.cordon.pool.connection() as conn:
        found["devices"] = await devices(conn, [found["jurisdiction_id"]],
                                         supervisee_id=supervisee_id)
        found["pairings"] = [p for p in await pairings(conn, [found["jurisdiction_id"]])
                             if p["supervisee_id"] == supervisee_id]
    return {"supervisee": found}


class SuperviseeChange(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    plan_id: str | None = Field(None, max_length=200, description="the supervision plan")
    zone_ids: list[str] | None = Field(None, max_length=1000,
                                       description="the zones assigned to this person")
    case_no: str | None = Field(None, max_length=100, description="the case number, shared by "
                                "co-defendants (同案犯; see the plan setting "
                                "gathering_codefendants_only); \"\" clears it")


@router.patch("/supervisees/{supervisee_id}", response_model=ChangedSupervisee)
async def change_supervisee(request: Request, caller: Caller, supervisee_id: str,
                            body: SuperviseeChange) -> dict[str, Any]:
    """Set the name, the plan and/or the assigned zones (supervisor role). The plan must be
    one seen from the person's jurisdiction (the agency's, its own or one above it). A
    released person is read-only (409)."""
    found = await visible_supervisee(request, caller, supervisee_id)
    if not caller.may(found["jurisdiction_id"], "supervisor"):
        raise forbidden("supervisor")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        await writable(conn, caller, supervisee_id)
        if body.name is not None:
            await conn.execute("UPDATE supervisees SET name = %s WHERE id = %s",
                               (body.name, supervisee_id))
        if body.plan_id is not None:
            # Only a plan seen from the person's jurisdiction: the agency's, its own or one of
            # a jurisdiction above it. Any other does not exist for them.
            if not await plans(conn, [found["jurisdiction_id"]], plan_id=body.plan_id):
                raise not_found(f"plan {body.plan_id}")
            await conn.execute("UPDATE supervisees SET plan_id = %s WHERE id = %s",
                               (body.plan_id, supervisee_id))
        if body.case_no is not None:
            await conn.execute("UPDATE supervisees SET case_no = nullif(%s, '') WHERE id = %s",
                               (body.case_no.strip(), supervisee_id))
        if body.zone_ids is not None:
            cur = await conn.execute(
                "SELECT id, jurisdiction_id FROM zones WHERE id = ANY(%s)", (body.zone_ids,))
            usable = {z for z, j in await cur.fetchall() if j is None or caller.sees(j)}
            missing = sorted(set(body.zone_ids) - usable)
            if missing:
                raise not_found(f"zone {missing[0]}")
            await conn.execute("DELETE FROM supervisee_zones WHERE supervisee_id = %s",
                               (supervisee_id,))
            for z in sorted(set(body.zone_ids)):
                await conn.execute("INSERT INTO supervisee_zones (supervisee_id, zone_id) "
                                   "VALUES (%s, %s)", (supervisee_id, z))
        await audit.record(conn, caller.username, "supervisee.changed", supervisee_id,
                           {"jurisdiction_id": found["jurisdiction_id"],
                            **body.model_dump(exclude_none=True)})
        changed = await supervisee(conn, supervisee_id)
    return {"supervisee": changed}
