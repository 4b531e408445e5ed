"""Alerts: list and filter."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from store.alerts import list_alerts

router = APIRouter()

AlertStatus = Literal["open", "acknowledged", "resolved", "cleared"]


@router.get("/alerts")
async def alerts(
    request: Request,
    status: AlertStatus | None = None,
    limit: int = Query(200, ge=1, le=5000),
) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"alerts": await list_alerts(conn, status, limit)}
