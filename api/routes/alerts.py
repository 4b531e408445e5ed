"""Alerts: list and filter, one alert with its history, and the officer's steps in its
lifecycle (acknowledge; resolve with a note, a cause and an outcome from the agency's lists —
``GET /alert-resolutions``; see :mod:`alerts.lifecycle`).

Only alerts of supervisees in the caller's reach exist for them; acting on an alert needs the
officer role there. Every step is recorded in the alert's history and in the audit trail, with
the signed-in user as the actor.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from alerts.lifecycle import Action, TransitionRefused
from api.auth import Caller, invalid, not_found
from api.schemas import Alerts, AlertWithHistory, OneAlert, Resolution, ResolutionCodes
from store import audit
from store.alerts import AlertNotFound, act_on_alert, alert_history, get_alert, list_alerts
from store.resolutions import resolution_codes

router = APIRouter(tags=["alerts"])

AlertStatus = Literal["open", "acknowledged", "resolved", "cleared", "live"]  # live: open or ack.


class Acknowledgement(BaseModel):
    note: str | None = Field(None, max_length=10_000)


class CodeRefused(Exception):
    """A resolution's cause or outcome that is not on the agency's list."""


@router.get("/alerts", response_model=Alerts)
async def alerts(
    request: Request,
    caller: Caller,
    status: AlertStatus | None = None,
    kind: str | None = Query(None, max_length=100),
    supervisee_id: str | None = Query(None, max_length=200),
    jurisdiction_id: str | None = Query(None, max_length=200),
    after_id: int | None = Query(None, ge=0, le=2**62),
    limit: int = Query(200, ge=1, le=5000),
) -> dict[str, Any]:
    """Newest first (oldest first with ``after_id``: the alerts raised since that one)."""
    scope = caller.scope(jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        return {"alerts": await list_alerts(conn, status, limit, jurisdictions=scope, kind=kind,
                                            supervisee_id=supervisee_id, after_id=after_id)}


@router.get("/alert-resolutions", response_model=ResolutionCodes)
async def resolutions(request: Request, caller: Caller) -> dict[str, Any]:
    """The agency's lists an officer picks from when resolving an alert: causes (发生原因) and
    outcomes (处置结果), each a code with its labels in English and Chinese."""
    async with request.app.state.cordon.pool.connection() as conn:
        codes = await resolution_codes(conn)
    return {"causes": codes["cause"], "outcomes": codes["outcome"]}


@router.get("/alerts/{alert_id}", response_model=AlertWithHistory)
async def alert(request: Request, caller: Caller, alert_id: int) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = await get_alert(conn, alert_id)
        if found is None or not caller.sees(found["jurisdiction_id"]):
            raise not_found(f"alert {alert_id}")
        return {"alert": found, "history": await alert_history(conn, alert_id)}


@router.post("/alerts/{alert_id}/acknowledge", response_model=OneAlert)
async def acknowledge(request: Request, caller: Caller, alert_id: int,
                      body: Acknowledgement) -> dict[str, Any]:
    return await _act(request, caller, alert_id, Action.ACKNOWLEDGED, body.note)


@router.post("/alerts/{alert_id}/resolve", response_model=OneAlert)
async def resolve(request: Request, caller: Caller, alert_id: int,
                  body: Resolution) -> dict[str, Any]:
    """Resolve with a note (what was done), a cause and an outcome: codes of
    ``GET /alert-resolutions`` (422 naming the codes offered otherwise)."""
    return await _act(request, caller, alert_id, Action.RESOLVED, body.note,
                      {"cause": body.cause, "outcome": body.outcome})


async def _act(request: Request, caller: Caller, alert_id: int, action: Action,
               note: str | None, codes: dict[str, str] | None = None) -> dict[str, Any]:
    state = request.app.state.cordon
    codes = codes or {}
    try:
        async with state.pool.connection() as conn, conn.transaction():
            found = await get_alert(conn, alert_id)
            if found is None or not caller.may(found["jurisdiction_id"], "officer"):
                raise AlertNotFound(f"no alert {alert_id}")
            if codes:
                offered = await resolution_codes(conn)
                for name, code in codes.items():
                    known = [c["code"] for c in offered[name]]
                    if code not in known:
                        raise CodeRefused(name, f"{name} {code!r} is not on the agency's list: "
                                                f"choose one of {', '.join(known)}")
            updated = await act_on_alert(conn, alert_id, action, caller.username, note, **codes)
            await audit.record(conn, caller.username, f"alert.{action.value}", str(alert_id),
                               {"jurisdiction_id": found["jurisdiction_id"],
                                "supervisee_id": found["supervisee_id"], "note": note,
                                **codes})
    except AlertNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except CodeRefused as exc:
        # In FastAPI's 422 shape, as the OpenAPI document promises.
        raise invalid(("body", exc.args[0]), exc.args[1]) from None
    except TransitionRefused as exc:
        raise HTTPException(409, str(exc)) from None
    # Command screens see the step at once, like the engine's own changes.
    state.bus.publish({"type": "alert", "action": action.value, "alert": updated,
                       "by": caller.username})
    return {"alert": updated}
