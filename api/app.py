"""The FastAPI application: REST under ``/api/v1``, the live feed, and the map page."""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from api.auth import signed_in_unless_public
from api.headers import SecurityHeaders
from api.routes import (
    alerts,
    audit,
    auth,
    casework,
    check_ins,
    devices,
    health,
    history,
    jurisdictions,
    leave,
    live,
    metrics,
    orders,
    plans,
    positions,
    replay,
    reports,
    supervisees,
    tracks,
    users,
    wall,
    zones,
)
from api.state import ApiState

STATIC_DIR = resources.files("api") / "static"


def create_app(state: ApiState) -> FastAPI:
    app = FastAPI(
        title="Cordon",
        version="0.1.0",
        description="Real-time GPS supervision engine for community corrections.",
        # Sign-in is the default of every route, this app's and any included later (the
        # OsmAnd intake); api.auth.PUBLIC_ROUTES is the one allow-list.
        dependencies=[Depends(signed_in_unless_public)],
    )
    app.state.cordon = state
    app.add_middleware(SecurityHeaders, tile_url=state.map_tile_url)
    for module in (health, auth, users, jurisdictions, supervisees, casework, orders, devices,
                   zones, plans, positions, tracks, history, replay, alerts, audit, live, wall):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(check_ins.router, prefix="/api/v1")
    app.include_router(leave.router, prefix="/api/v1")
    app.include_router(reports.router, prefix="/api/v1")
    app.include_router(metrics.router)

    @app.exception_handler(psycopg.DataError)
    async def refused_by_the_database(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Input the database cannot hold (a NUL character in a text, a number out of range):
        # the caller's mistake, and nothing was stored — the transaction rolled back. Answered
        # in the shape of FastAPI's own 422, as the OpenAPI document says.
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        return JSONResponse({"detail": [{"loc": ["request"], "msg": message,
                                         "type": "value_error"}]}, status_code=422)

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
