"""The FastAPI application: REST under ``/api/v1``, the live feed, and the map page."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from api.routes import (
    alerts,
    audit,
    auth,
    devices,
    health,
    jurisdictions,
    live,
    metrics,
    plans,
    positions,
    supervisees,
    tracks,
    users,
    zones,
)
from api.state import ApiState

STATIC_DIR = resources.files("api") / "static"


def create_app(state: ApiState) -> FastAPI:
    app = FastAPI(
        title="Cordon",
        version="0.1.0",
        description="Real-time GPS supervision engine for community corrections.",
    )
    app.state.cordon = state
    for module in (health, auth, users, jurisdictions, supervisees, devices, zones, plans,
                   positions, tracks, alerts, audit, live):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(metrics.router)

    @app.get("/api/v1/ui-config", include_in_schema=False)
    async def ui_config(request: Request) -> dict[str, Any]:
        return {"tile_url": request.app.state.cordon.map_tile_url}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC_DIR / "index.html"))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
