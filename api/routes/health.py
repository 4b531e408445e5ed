"""``GET /api/v1/health``: the operator's first look — connections and counters."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from api.schemas import Health
from ingest.stats import LAG_BOUNDS_MS
from store.alerts import count_live

router = APIRouter()


# exclude_unset: the error fields appear only when there is an error.
@router.get("/health", response_model=Health, response_model_exclude_unset=True)
async def health(request: Request) -> dict[str, Any]:
    state = request.app.state.cordon
    db: dict[str, Any] = {"connected": False, "timescaledb": state.timescaledb}
    alerts_open = None
    try:
        async with asyncio.timeout(2.0):
            async with state.pool.connection() as conn:
                alerts_open = await count_live(conn)
        db["connected"] = True
    except Exception as exc:  # noqa: BLE001 — health reports any failure, it never raises
        db["error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    stats = state.stats
    broker: dict[str, Any] = {"connected": stats.broker_ok}
    errors = [stats.broker_error, *(p["broker_error"] for p in stats.peers.values())]
    if any(errors):
        broker["error"] = next(e for e in errors if e)
    counters = stats.snapshot() | {"alerts_open": alerts_open}
    # Raw histogram for tools that need percentiles over an interval (benchmarks, dashboards).
    lag = {"bounds_ms": [b for b in LAG_BOUNDS_MS[:-1].round(3).tolist()],
           "counts": stats.lag_counts().tolist()}
    ok = db["connected"] and stats.broker_ok
    return {
        "status": "ok" if ok else "degraded",
        "broker": broker,
        "database": db,
        "counters": counters,
        "live_clients": state.bus.subscriber_count,
        "commit_lag_histogram": lag,
    }
