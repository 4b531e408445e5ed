"""The command centre's wall: one view per jurisdiction, and the kiosk credentials of its
screens.

- ``GET /wall/{jurisdiction_id}``: every figure the wall shows, in one answer, computed by
  :mod:`store.figures` at one instant on the engine's clock (the same module the monthly
  bulletin uses): the KPIs of the jurisdiction's subtree, the same figures per child (the map's
  regions) with their boundaries, 7-day trends per alert kind, and today's alerts. Open to
  anyone who reaches the jurisdiction (404 otherwise) and to a kiosk of it or of a
  jurisdiction above it.
- ``POST /wall/{jurisdiction_id}/kiosks`` / ``GET …/kiosks`` / ``DELETE /kiosks/{id}``: an admin
  of the jurisdiction makes, lists and revokes its kiosk credentials (audited).
- The wall's live alerts come from ``WS /api/v1/live``: with a kiosk's token it is served by
  :func:`kiosk_feed` — alerts only, of the kiosk's subtree, without device, zone or staff
  names, and without people's names unless the kiosk shows them; the socket closes (4401)
  within about a second of the kiosk being revoked.

A kiosk's token (``kio_…``) is refused by every other route (:mod:`api.auth`). A kiosk sees
locations rounded to about 100 m (:data:`KIOSK_DECIMALS`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect

from api.auth import Caller, Principal, current_principal, forbidden, not_found
from api.schemas import Kiosks, NewKioskOut, WallView
from api.sockets import drained, send_json
from store import audit
from store.alerts import list_alerts
from store.caseload import jurisdiction_boundaries
from store.figures import day_start, figures, recent_alerts, subtree
from store.kiosks import (
    Kiosk,
    create_kiosk,
    kiosk,
    kiosk_for_token,
    kiosk_is_live,
    kiosks,
    revoke_kiosk,
    touch_kiosk,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["wall"])
KIOSK_DECIMALS = 3  # ~100 m: where, not whose doorstep
RECHECK_S = 1.0
MISSED_LIMIT = 200
TOUCH_EVERY_S = 60.0


class Viewer:
    """Who looks at a wall: a signed-in person, or a kiosk."""

    def __init__(self, principal: Principal | None = None, kiosk: Kiosk | None = None):
        self.principal = principal
        self.kiosk = kiosk

    @property
    def show_names(self) -> bool:
        return self.kiosk.show_names if self.kiosk else True


async def wall_viewer(request: Request) -> Viewer:
    """The kiosk :func:`api.auth.signed_in_unless_public` let in, else the signed-in person."""
    found = getattr(request.state, "kiosk", None)
    if found is not None:
        return Viewer(kiosk=found)
    return Viewer(principal=await current_principal(request, None))


WallViewer = Annotated[Viewer, Depends(wall_viewer)]


def for_kiosk(alert: dict[str, Any], show_names: bool) -> dict[str, Any]:
    """What a wall may show of an alert: no device, zone or staff names, people's names only
    if allowed, the place rounded.

    >>> for_kiosk({"id": 1, "kind": "curfew", "supervisee_name": "Ann", "device_id": "br-1",
    ...            "subject_name": "Home of Bo", "lon": -97.123456, "lat": 30.5, "by": "sue"},
    ...           False)
    {'id': 1, 'kind': 'curfew', 'supervisee_name': None, 'lon': -97.123, 'lat': 30.5}
    """
    kept = {k: v for k, v in alert.items()
            if k not in ("device_id", "subject", "subject_name", "by")}
    if "supervisee_name" in kept and not show_names:
        kept["supervisee_name"] = None
    for k in ("lon", "lat"):
        if isinstance(kept.get(k), float):
            kept[k] = round(kept[k], KIOSK_DECIMALS)
    return kept


async def _reachable(conn: psycopg.AsyncConnection, viewer: Viewer, jurisdiction_id: str
                     ) -> tuple[bool, set[str]]:
    """Whether the viewer may see this jurisdiction's wall, and the jurisdictions it reaches."""
    if viewer.principal is not None:
        return viewer.principal.sees(jurisdiction_id), set(viewer.principal.reach)
    assert viewer.kiosk is not None
    reach = {r["id"] for r in await subtree(conn, viewer.kiosk.jurisdiction_id)}
    return jurisdiction_id in reach, reach


@router.get("/wall/{jurisdiction_id}", response_model=WallView)
async def wall(request: Request, viewer: WallViewer, jurisdiction_id: str,
               boundaries: bool = Query(True, description="include the regions' boundaries "
                                                          "(a screen that has them says false)"),
               ) -> dict[str, Any]:
    """Every figure of the wall of one jurisdiction (see :mod:`store.figures`)."""
    state = request.app.state.cordon
    at = state.clock()
    async with state.pool.connection() as conn:
        # One snapshot for every figure: they agree with each other at ``at``.
        async with conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            allowed, reach = await _reachable(conn, viewer, jurisdiction_id)
            if not allowed:
                raise not_found(f"jurisdiction {jurisdiction_id}")
            view = await figures(conn, jurisdiction_id, at)
            if view is None:
                raise not_found(f"jurisdiction {jurisdiction_id}")
            recent = await recent_alerts(conn, view["subtree"],
                                         day_start(at, view["timezone"]), at)
            features: list[dict[str, Any]] = []
            if boundaries:
                ids = [c["id"] for c in view["children"] if c["has_boundary"]]
                features = await jurisdiction_boundaries(conn, ids or [jurisdiction_id])
        if viewer.kiosk is not None:
            await _touch(conn, viewer.kiosk.id)
    if viewer.kiosk is not None or not viewer.show_names:
        recent = [for_kiosk(a, viewer.show_names) for a in recent]
    return view | {"recent": recent, "boundaries": features, "show_names": viewer.show_names,
                   "parent_reachable": view["jurisdiction"]["parent_id"] in reach}


_touched: dict[int, float] = {}


async def _touch(conn: psycopg.AsyncConnection, kiosk_id: int) -> None:
    """Mark the kiosk seen, at most once a minute (a wall refreshes every few seconds)."""
    now = time.monotonic()
    if now - _touched.get(kiosk_id, -TOUCH_EVERY_S) >= TOUCH_EVERY_S:
        _touched[kiosk_id] = now
        async with conn.transaction():
            await touch_kiosk(conn, kiosk_id)


# --- kiosk credentials ------------------------------------------------------------------------


class NewKiosk(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="e.g. 'Hall screen, 3rd floor'")
    show_names: bool = Field(False, description="show people's names on this screen")


def _admin_here(caller: Principal, jurisdiction_id: str) -> None:
    if not caller.sees(jurisdiction_id):
        raise not_found(f"jurisdiction {jurisdiction_id}")
    if not caller.may(jurisdiction_id, "admin"):
        raise forbidden("admin")


@router.post("/wall/{jurisdiction_id}/kiosks", response_model=NewKioskOut, status_code=201)
async def new_kiosk(request: Request, caller: Caller, jurisdiction_id: str,
                    body: NewKiosk) -> dict[str, Any]:
    """A kiosk credential for this jurisdiction's wall (admin); the token is shown only now."""
    _admin_here(caller, jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        kiosk_id, token = await create_kiosk(conn, jurisdiction_id, body.name.strip(),
                                             body.show_names, caller.username)
        await audit.record(conn, caller.username, "kiosk.created", str(kiosk_id),
                           {"jurisdiction_id": jurisdiction_id, "name": body.name,
                            "show_names": body.show_names})
        made = await kiosk(conn, kiosk_id)
    return {"kiosk": made, "token": token,
            "url": f"/static/wall.html#j={jurisdiction_id}&kiosk={token}"}


@router.get("/wall/{jurisdiction_id}/kiosks", response_model=Kiosks)
async def list_kiosks(request: Request, caller: Caller, jurisdiction_id: str) -> dict[str, Any]:
    """The kiosks of this jurisdiction and below it that the caller administers (admin)."""
    _admin_here(caller, jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        below = [r["id"] for r in await subtree(conn, jurisdiction_id)]
        rows = await kiosks(conn, [j for j in below if caller.may(j, "admin")])
    return {"kiosks": rows}


@router.delete("/kiosks/{kiosk_id}", status_code=204)
async def remove_kiosk(request: Request, caller: Caller, kiosk_id: int) -> None:
    """Revoke a kiosk (admin of its jurisdiction): its screen's requests and socket stop."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        found = await kiosk(conn, kiosk_id)
        if found is None or not caller.sees(found["jurisdiction_id"]):
            raise not_found(f"kiosk {kiosk_id}")
        if not caller.may(found["jurisdiction_id"], "admin"):
            raise forbidden("admin")
        if not await revoke_kiosk(conn, kiosk_id, caller.username):
            raise HTTPException(409, f"kiosk {kiosk_id} is already revoked")
        await audit.record(conn, caller.username, "kiosk.revoked", str(kiosk_id),
                           {"jurisdiction_id": found["jurisdiction_id"]})


# --- the kiosk's live feed (served on WS /api/v1/live) ----------------------------------------



async def kiosk_feed(ws: WebSocket, token: str) -> None:
    """``WS /api/v1/live?token=kio_…`` (accepted already): the kiosk's alerts, nothing else.
    ``since_alert_id`` sends what it missed first, as for a person."""
    state = ws.app.state.cordon
    async with state.pool.connection() as conn:
        found = await kiosk_for_token(conn, token)
        reach = {r["id"] for r in await subtree(conn, found.jurisdiction_id)} if found else set()
    if found is None:
        await ws.close(code=4401, reason="unknown or revoked kiosk credential")
        return
    inbox: asyncio.Future[str] | None = None
    getter: asyncio.Future[dict[str, Any]] | None = None
    try:
        with state.bus.subscribe() as bus:
            await send_json(ws, {"type": "hello", "kiosk": found.name,
                                 "jurisdiction_id": found.jurisdiction_id})
            since = ws.query_params.get("since_alert_id")
            if since is not None:
                await _send_missed(ws, found, reach, since)
            inbox = asyncio.ensure_future(ws.receive_text())
            checked = time.monotonic()
            while not bus.overflowed:
                if time.monotonic() - checked >= RECHECK_S:
                    checked = time.monotonic()
                    try:
                        async with state.pool.connection() as conn:
                            live = await kiosk_is_live(conn, found.id)
                    except psycopg.Error:
                        await ws.close(code=1011, reason="could not check the kiosk; reconnect")
                        return
                    if not live:
                        await ws.close(code=4401, reason="kiosk credential revoked")
                        return
                getter = asyncio.ensure_future(bus.queue.get())
                done, _ = await asyncio.wait({getter, inbox}, timeout=RECHECK_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    for event in drained(getter.result(), bus.queue):
                        alert = event.get("alert") if event.get("type") == "alert" else None
                        if alert and alert.get("jurisdiction_id") in reach:
                            await send_json(ws, {"type": "alert", "action": event.get("action"),
                                                 "alert": for_kiosk(alert, found.show_names)})
                else:
                    getter.cancel()
                if inbox in done:
                    inbox.result()  # a kiosk has nothing to say; a closed socket raises here
                    inbox = asyncio.ensure_future(ws.receive_text())
            await ws.close(code=1013, reason="client too slow; reconnect")
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        for waiting in (inbox, getter):
            if waiting is not None:
                waiting.cancel()


async def _send_missed(ws: WebSocket, found: Kiosk, reach: set[str], since: str) -> None:
    try:
        after = int(since)
    except ValueError:
        await send_json(ws, {"type": "error", "detail": "since_alert_id must be an integer"})
        return
    async with ws.app.state.cordon.pool.connection() as conn:
        rows = await list_alerts(conn, None, MISSED_LIMIT, jurisdictions=sorted(reach),
                                 after_id=after)
    await send_json(ws, {"type": "missed",
                         "alerts": [for_kiosk(r, found.show_names) for r in rows]})
