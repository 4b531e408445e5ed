"""Alerts: list and filter, one alert with its history, and the officer's steps in its
lifecycle (acknowledge, resolve with a note; see :mod:`alerts.lifecycle`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from alerts.lifecycle import Action, TransitionRefused
from store.alerts import AlertNotFound, act_on_alert, alert_history, get_alert, list_alerts

router = APIRouter()

AlertStatus = Literal["open", "acknowledged", "resolved", "cleared", "live"]  # live: open or ack.


class Acknowledgement(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="who acknowledges")
    note: str | None = Field(None, max_length=10_000)


class Resolution(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="who resolves")
    note: str = Field(min_length=1, max_length=10_000, description="what was done")


@router.get("/alerts")
async def alerts(
    request: Request,
    status: AlertStatus | None = None,
    limit: int = Query(200, ge=1, le=5000),
) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"alerts": await list_alerts(conn, status, limit)}


@router.get("/alerts/{alert_id}")
async def alert(request: Request, alert_id: int) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = await get_alert(conn, alert_id)
        if found is None:
            raise HTTPException(404, f"no alert {alert_id}")
        return {"alert": found, "history": await alert_history(conn, alert_id)}


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(request: Request, alert_id: int, body: Acknowledgement) -> dict[str, Any]:
    return await _act(request, alert_id, Action.ACKNOWLEDGED, body.by, body.note)


@router.post("/alerts/{alert_id}/resolve")
async def resolve(request: Request, alert_id: int, body: Resolution) -> dict[str, Any]:
    return await _act(request, alert_id, Action.RESOLVED, body.by, body.note)


async def _act(
    request: Request, alert_id: int, action: Action, actor: str, note: str | None
) -> dict[str, Any]:
    state = request.app.state.cordon
    try:
        async with state.pool.connection() as conn, conn.transaction():
            updated = await act_on_alert(conn, alert_id, action, actor, note)
    except AlertNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except TransitionRefused as exc:
        raise HTTPException(409, str(exc)) from None
    # Command screens see the step at once, like the engine's own changes.
    state.bus.publish({"type": "alert", "action": action.value, "alert": updated, "by": actor})
    return {"alert": updated}
