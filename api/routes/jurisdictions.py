"""Jurisdictions: the tree (province › city › county › township, any depth) as far as the
caller reaches, one jurisdiction, and boundaries as GeoJSON for maps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.auth import Caller, not_found
from api.schemas import Boundaries, Jurisdictions, OneJurisdiction
from store.caseload import jurisdiction_boundaries, jurisdictions, tree

router = APIRouter(tags=["jurisdictions"])


@router.get("/jurisdictions", response_model=Jurisdictions)
async def list_jurisdictions(request: Request, caller: Caller) -> dict[str, Any]:
    """Every jurisdiction the caller reaches, flat (``jurisdictions``) and nested (``tree``:
    the topmost ones they reach, each with its ``children``)."""
    async with request.app.state.cordon.pool.connection() as conn:
        rows = await jurisdictions(conn, caller.jurisdictions)
    for r in rows:
        r["role"] = caller.reach[r["id"]]
    return {"jurisdictions": rows, "tree": tree([dict(r) for r in rows])}


@router.get("/jurisdictions/boundaries", response_model=Boundaries)
async def boundaries(request: Request, caller: Caller) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        features = await jurisdiction_boundaries(conn, caller.jurisdictions)
    return {"type": "FeatureCollection", "features": features}


@router.get("/jurisdictions/{jurisdiction_id}", response_model=OneJurisdiction)
async def one_jurisdiction(request: Request, caller: Caller,
                           jurisdiction_id: str) -> dict[str, Any]:
    if not caller.sees(jurisdiction_id):
        raise not_found(f"jurisdiction {jurisdiction_id}")
    async with request.app.state.cordon.pool.connection() as conn:
        rows = await jurisdictions(conn, [jurisdiction_id])
    return {"jurisdiction": rows[0] | {"role": caller.reach[jurisdiction_id]}}
