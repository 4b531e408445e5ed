"""Supervision plans (which rules apply, intervals, thresholds, zone groups; see
:mod:`alerts.plans`) and zone groups. Plans are agency-wide: anyone signed in reads them;
changing one needs the admin role somewhere."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from alerts.plans import PlanError, SupervisionPlan
from api.auth import Caller, forbidden, invalid, not_found
from api.schemas import OnePlan, Plans, PutPlan, ZoneGroups
from store import audit
from store.caseload import plans, zone_groups
from store.registry import upsert_plan

router = APIRouter(tags=["plans"])


@router.get("/plans", response_model=Plans)
async def list_plans(request: Request, caller: Caller) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"plans": await plans(conn)}


@router.get("/plans/{plan_id}", response_model=OnePlan)
async def one_plan(request: Request, caller: Caller, plan_id: str) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = [p for p in await plans(conn) if p["id"] == plan_id]
    if not found:
        raise not_found(f"plan {plan_id}")
    return {"plan": found[0]}


class PlanBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict,
                                     description="see alerts/plans.py for the keys")


@router.put("/plans/{plan_id}", response_model=PutPlan)
async def put_plan(request: Request, caller: Caller, plan_id: str,
                   body: PlanBody) -> dict[str, Any]:
    if not caller.with_role("admin"):
        raise forbidden("admin")
    try:
        plan = SupervisionPlan.from_settings(plan_id, body.settings)
    except PlanError as exc:
        raise invalid(("body", "settings"), str(exc)) from None
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        await upsert_plan(conn, plan, body.name)
        await audit.record(conn, caller.username, "plan.changed", plan_id, body.settings)
    return {"plan": {"id": plan_id, "name": body.name, "settings": body.settings}}


@router.get("/zone-groups", response_model=ZoneGroups)
async def list_zone_groups(request: Request, caller: Caller) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"zone_groups": await zone_groups(conn)}
