"""Latest positions of the devices of supervisees in the caller's reach."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.auth import Caller
from api.schemas import Positions
from store import audit
from store.fixes import latest_positions

router = APIRouter(tags=["positions"])


@router.get("/positions", response_model=Positions)
async def positions(
    request: Request, caller: Caller, since_s: float = Query(3600.0, gt=0, le=30 * 86400)
) -> dict[str, Any]:
    """The newest fix of each device seen in the last ``since_s`` seconds (recorded in the
    audit trail)."""
    async with request.app.state.cordon.pool.connection() as conn:
        rows = await latest_positions(conn, since_s, caller.jurisdictions)
        await audit.record(conn, caller.username, "positions.read", caller.username,
                           {"since_s": since_s, "devices": len(rows)})
    return {"positions": rows}
