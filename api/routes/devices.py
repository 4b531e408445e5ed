"""Devices (bracelets, phones, victims' phones) and bracelet–phone pairings in the caller's
reach."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.auth import Caller, not_found
from api.schemas import Devices, OneDevice, Pairings
from store.caseload import device, devices, pairings

router = APIRouter(tags=["devices"])


def _with_heard(request: Request, found: dict[str, Any]) -> dict[str, Any]:
    heard = request.app.state.cordon.heard_without_order.get(found["id"])
    return found if heard is None else {**found, "heard_without_order_at": heard}


@router.get("/devices", response_model=Devices, response_model_exclude_unset=True)
async def list_devices(
    request: Request,
    caller: Caller,
    supervisee_id: str | None = Query(None, max_length=200),
    limit: int = Query(500, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = await devices(conn, caller.jurisdictions, supervisee_id=supervisee_id,
                              limit=limit, offset=offset)
    return {"devices": [_with_heard(request, d) for d in found]}


@router.get("/devices/{device_id}", response_model=OneDevice,
            response_model_exclude_unset=True)
async def one_device(request: Request, caller: Caller, device_id: str) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = await device(conn, device_id)
    if found is None or not caller.sees(found["jurisdiction_id"]):
        raise not_found(f"device {device_id}")
    return {"device": _with_heard(request, found)}


@router.get("/pairings", response_model=Pairings)
async def list_pairings(request: Request, caller: Caller) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"pairings": await pairings(conn, caller.jurisdictions)}
