"""Zones and jurisdiction boundaries as GeoJSON, for maps and integrations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from store.registry import jurisdiction_features, zone_features

router = APIRouter()


@router.get("/zones")
async def zones(request: Request) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"type": "FeatureCollection", "features": await zone_features(conn)}


@router.get("/jurisdictions/boundaries")
async def boundaries(request: Request) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"type": "FeatureCollection", "features": await jurisdiction_features(conn)}
