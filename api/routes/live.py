"""``WS /api/v1/live``: alert changes at once, positions coalesced to the latest per device.

Sign in with ``?token=<access or API token>`` (browsers cannot set headers on a WebSocket); a
missing or bad token closes the socket with code 4401. The sign-in is checked again for as long
as the socket is open (:mod:`api.session_watch`): within about two seconds of the token expiring
or being revoked, or the account being disabled, the socket closes with 4401; when the caller's
grants change it closes with 4403 — reconnect to be served the new reach.

The server says ``hello`` with the caller's reach, then sends what the subscription lets
through — by default everything in the caller's reach. A client narrows it, at any time, with::

    {"type": "subscribe", "jurisdictions": ["tx-travis"], "bbox": [w, s, e, n],
     "since_alert_id": 1234}

(each key optional; the same may be given as query parameters ``jurisdictions=a,b``,
``bbox=w,s,e,n`` and ``since_alert_id``). Jurisdictions outside the reach are ignored, as if they
did not exist. The bounding box applies to positions and to alerts that have a place. With
``since_alert_id`` the client first gets ``{"type": "missed", "alerts": [...]}``: every alert
raised after that id that it may see, oldest first — what it missed while away.

``"positions": false`` (or ``positions=false``) leaves positions out: alerts only (the command
centre's wall). A kiosk's token (``kio_…``, :mod:`api.routes.wall`) is served the kiosk's own
feed: alerts of its jurisdiction only, without names unless its screen shows them.

Positions are sent at most once per ``position_interval_s`` per client; a client too slow to keep
its queue drained is dropped by the bus (close code 1013: reconnect with ``since_alert_id``),
never slowing ingest.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from api.auth import Principal, principal_for_token
from api.routes.wall import kiosk_feed
from api.session_watch import Watched
from api.sockets import drained, send_json
from store import audit
from store.alerts import list_alerts
from store.kiosks import KIOSK_PREFIX

log = logging.getLogger(__name__)
router = APIRouter()
MISSED_LIMIT = 1000
RECHECK_S = 1.0  # how often at least an open socket checks it may still be open


@dataclass(slots=True)
class Subscription:
    """What one client asked to see, within what it may."""

    jurisdictions: frozenset[str]
    bbox: tuple[float, float, float, float] | None = None
    positions: bool = True  # false: alerts only (the command centre's wall)

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether an event passes the filter.

        >>> sub = Subscription(frozenset({"travis"}), (-98.0, 30.0, -97.0, 31.0))
        >>> sub.wants({"type": "position", "jurisdiction_id": "travis", "lon": -97.7,
        ...            "lat": 30.3})
        True
        >>> sub.wants({"type": "position", "jurisdiction_id": "hays", "lon": -97.7, "lat": 30.3})
        False
        >>> sub.wants({"type": "alert", "alert": {"jurisdiction_id": "travis", "lon": None}})
        True
        """
        if event["type"] == "position" and not self.positions:
            return False
        body = event.get("alert", event)
        if body.get("jurisdiction_id") not in self.jurisdictions:
            return False
        if self.bbox is None:
            return True
        lon, lat = body.get("lon"), body.get("lat")
        if lon is None or lat is None or (isinstance(lon, float) and math.isnan(lon)):
            return event["type"] != "position"
        w, s, e, n = self.bbox
        return w <= lon <= e and s <= lat <= n


def _parse_bbox(value: Any) -> tuple[float, float, float, float] | None:
    if value is None or value == "":
        return None
    parts = value.split(",") if isinstance(value, str) else value
    try:
        w, s, e, n = (float(x) for x in parts)
    except (TypeError, ValueError):
        raise ValueError("bbox must be four numbers: west, south, east, north") from None
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ValueError("bbox must be west <= east and south <= north, in degrees")
    return w, s, e, n


def _subscription(caller: Principal, request: dict[str, Any],
                  current: Subscription | None) -> Subscription:
    wanted = request.get("jurisdictions")
    if isinstance(wanted, str):
        wanted = [j for j in wanted.split(",") if j]
    reach = frozenset(caller.reach)
    jurisdictions = reach if not wanted else reach & frozenset(str(j) for j in wanted)
    bbox = _parse_bbox(request["bbox"]) if "bbox" in request else (
        current.bbox if current else None)
    positions = request.get("positions", current.positions if current else True)
    return Subscription(jurisdictions, bbox,
                        positions not in (False, "0", "false", "no"))



async def _send_missed(ws: WebSocket, sub: Subscription, since: Any) -> None:
    try:
        after = int(since)
    except (TypeError, ValueError):
        await send_json(ws, {"type": "error", "detail": "since_alert_id must be an integer"})
        return
    async with ws.app.state.cordon.pool.connection() as conn:
        rows = await list_alerts(conn, None, MISSED_LIMIT, jurisdictions=sorted(sub.jurisdictions),
                                 after_id=after)
    rows = [r for r in rows if sub.wants({"type": "alert", "alert": r})]
    await send_json(ws, {"type": "missed", "alerts": rows})


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    state = ws.app.state.cordon
    await ws.accept()
    params = dict(ws.query_params)
    token = params.get("token")
    if token and token.startswith(KIOSK_PREFIX):  # a wall's screen: its own feed
        await kiosk_feed(ws, token)
        return
    try:
        caller = await principal_for_token(ws, token)
    except HTTPException as exc:
        await ws.close(code=4401, reason=str(exc.detail))
        return
    try:
        sub = _subscription(caller, params, None)
    except ValueError as exc:
        await ws.close(code=4400, reason=str(exc))
        return
    async with state.pool.connection() as conn:
        await audit.record(conn, caller.username, "live.subscribe", caller.username,
                           {"jurisdictions": sorted(sub.jurisdictions), "bbox": sub.bbox})
    pending: dict[str, dict[str, Any]] = {}
    interval = state.position_interval_s
    next_flush = time.monotonic() + interval
    inbox: asyncio.Future[str] | None = None
    getter: asyncio.Future[dict[str, Any]] | None = None
    try:
        with state.bus.subscribe() as bus, \
                state.sessions.watch(state.pool, caller.user_id, caller.auth_version) as session:
            await send_json(ws, {"type": "hello", "user": caller.username, "reach": caller.reach})
            if "since_alert_id" in params:
                await _send_missed(ws, sub, params["since_alert_id"])
            inbox = asyncio.ensure_future(ws.receive_text())
            while not bus.overflowed:
                refusal = await _still_signed_in(ws, token, caller, session)
                if refusal is not None:
                    await ws.close(code=refusal[0], reason=refusal[1])
                    return
                timeout = max(0.0, min(next_flush - time.monotonic(), RECHECK_S))
                getter = asyncio.ensure_future(bus.queue.get())
                done, _ = await asyncio.wait({getter, inbox}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    for event in drained(getter.result(), bus.queue):
                        if sub.wants(event):
                            if event["type"] == "position":
                                pending[event["device_id"]] = event
                            else:
                                await send_json(ws, event)
                else:
                    getter.cancel()
                if inbox in done:
                    sub = await _on_message(ws, caller, sub, inbox.result())
                    inbox = asyncio.ensure_future(ws.receive_text())
                if time.monotonic() >= next_flush:
                    if pending:
                        await send_json(ws, {"type": "positions",
                                             "positions": list(pending.values())})
                        pending.clear()
                    next_flush = time.monotonic() + interval
            await ws.close(code=1013, reason="client too slow; reconnect")
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        for waiting in (inbox, getter):
            if waiting is not None:
                waiting.cancel()



async def _still_signed_in(ws: WebSocket, token: str | None, caller: Principal,
                           session: Watched) -> tuple[int, str] | None:
    """None while the socket may go on as it began; else the close code and reason: 4401 when
    its credential expired or was revoked or the account was disabled, 4403 when the caller's
    reach changed (reconnect for the new one), 1011 when it cannot be checked."""
    if caller.expires_at is not None and time.time() >= caller.expires_at:
        return 4401, "token expired"
    if not session.changed.is_set():
        return None
    session.changed.clear()
    try:
        now = await principal_for_token(ws, token)
    except HTTPException as exc:
        return 4401, str(exc.detail)
    except psycopg.Error:
        log.warning("could not check the session of %s", caller.username, exc_info=True)
        return 1011, "could not check your session; reconnect"
    if now.reach != caller.reach:
        return 4403, "your grants changed; reconnect"
    session.version = now.auth_version
    return None


async def _on_message(ws: WebSocket, caller: Principal, sub: Subscription,
                      text: str) -> Subscription:
    try:
        message = orjson.loads(text)
        if not isinstance(message, dict) or message.get("type") != "subscribe":
            raise ValueError('send {"type": "subscribe", ...}')
        new = _subscription(caller, message, sub)
    except (orjson.JSONDecodeError, ValueError) as exc:
        await send_json(ws, {"type": "error", "detail": str(exc)})
        return sub
    await send_json(ws, {"type": "subscribed", "jurisdictions": sorted(new.jurisdictions),
                         "bbox": new.bbox})
    if "since_alert_id" in message:
        await _send_missed(ws, new, message["since_alert_id"])
    return new
