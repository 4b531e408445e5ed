"""Latest positions of devices."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from store.fixes import latest_positions

router = APIRouter()


@router.get("/positions")
async def positions(
    request: Request, since_s: float = Query(3600.0, gt=0, le=30 * 86400)
) -> dict[str, Any]:
    """The newest fix of each device seen in the last ``since_s`` seconds."""
    async with request.app.state.cordon.pool.connection() as conn:
        rows = await latest_positions(conn, since_s)
    return {"positions": rows}
