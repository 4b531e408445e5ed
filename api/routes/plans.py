"""Supervision plans (which rules apply, intervals, thresholds, zone groups; see
:mod:`alerts.plans`) and zone groups.

A plan belongs to a jurisdiction, or to none — the whole agency's. It is seen from its
jurisdiction and everything below it: a caller reads the plans of the agency, of the
jurisdictions they reach and of those above them (their people may be on such a plan), each with
how many of *their* supervisees are on it; any other plan answers 404, as if it did not exist.
Writing a plan needs the admin role on its jurisdiction (held there or above); a plan of the
whole agency — it may switch rules off everywhere — needs an admin at the root (of every top
jurisdiction). A plan seen but not the caller's to write answers 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from alerts.plans import PlanError, SupervisionPlan
from api.auth import Caller, admin_at_root, forbidden, invalid, not_found
from api.schemas import OnePlan, Plans, PutPlan, ZoneGroups
from store import audit
from store.caseload import plan_jurisdiction, plan_users_outside, plans, zone_groups
from store.registry import insert_plan, upsert_plan

router = APIRouter(tags=["plans"])


@router.get("/plans", response_model=Plans)
async def list_plans(request: Request, caller: Caller) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"plans": await plans(conn, caller.jurisdictions)}


@router.get("/plans/{plan_id}", response_model=OnePlan)
async def one_plan(request: Request, caller: Caller, plan_id: str) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = await plans(conn, caller.jurisdictions, plan_id=plan_id)
    if not found:
        raise not_found(f"plan {plan_id}")
    return {"plan": found[0]}


class PlanBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict,
                                     description="see alerts/plans.py for the keys")
    jurisdiction_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="the jurisdiction the plan belongs to; null: the whole agency's (needs an "
                    "admin at the root); left out: unchanged, or the whole agency's for a new "
                    "plan")


@router.put("/plans/{plan_id}", response_model=PutPlan)
async def put_plan(request: Request, caller: Caller, plan_id: str,
                   body: PlanBody) -> dict[str, Any]:
    """Create or replace a plan (admin of its jurisdiction; of the root for the agency's)."""
    if not caller.with_role("admin"):
        raise forbidden("admin")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        exists, current = await plan_jurisdiction(conn, plan_id, lock=True)
        if exists and not await plans(conn, caller.jurisdictions, plan_id=plan_id):
            raise not_found(f"plan {plan_id}")
        target = body.jurisdiction_id if "jurisdiction_id" in body.model_fields_set else current
        # The plan as it is (seen, maybe from below), then where it is to be.
        for jurisdiction_id, seen in [*([(current, True)] if exists else []), (target, False)]:
            if jurisdiction_id is None:
                if not await admin_at_root(conn, caller):
                    raise HTTPException(403, "a plan of the whole agency needs the admin role "
                                             "at the root")
            elif not (seen or caller.sees(jurisdiction_id)):
                raise not_found(f"jurisdiction {jurisdiction_id}")
            elif not caller.may(jurisdiction_id, "admin"):
                raise forbidden("admin")
        try:
            plan = SupervisionPlan.from_settings(plan_id, body.settings)
        except PlanError as exc:
            raise invalid(("body", "settings"), str(exc)) from None
        if exists:
            if target is not None and target != current:
                astray = await plan_users_outside(conn, plan_id, target)
                if astray:
                    raise HTTPException(409, f"{astray} supervisees on plan {plan_id} are "
                                             f"outside {target}: they would lose their plan")
            await upsert_plan(conn, plan, body.name, target)
        elif not await insert_plan(conn, plan, body.name, target):
            raise HTTPException(409, f"plan {plan_id} was made meanwhile; try again")
        await audit.record(conn, caller.username, "plan.changed", plan_id,
                           {**body.settings, "jurisdiction_id": target})
    return {"plan": {"id": plan_id, "name": body.name, "jurisdiction_id": target,
                     "settings": body.settings}}


@router.get("/zone-groups", response_model=ZoneGroups)
async def list_zone_groups(request: Request, caller: Caller) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"zone_groups": await zone_groups(conn)}
