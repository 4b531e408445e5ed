"""``WS /api/v1/live``: alert changes at once, positions coalesced to the latest per device.

Positions are sent at most once per ``position_interval_s`` per client; a client too slow to keep
its queue drained is dropped by the bus (it reconnects and reloads), never slowing ingest.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

router = APIRouter()


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    state = ws.app.state.cordon
    await ws.accept()
    pending: dict[str, dict[str, Any]] = {}
    interval = state.position_interval_s
    next_flush = time.monotonic() + interval
    try:
        with state.bus.subscribe() as sub:
            await ws.send_text(orjson.dumps({"type": "hello"}).decode())
            while not sub.overflowed:
                timeout = max(0.0, next_flush - time.monotonic())
                event = None
                try:
                    async with asyncio.timeout(timeout):
                        event = await sub.queue.get()
                except TimeoutError:
                    pass
                if event is not None:
                    if event["type"] == "position":
                        pending[event["device_id"]] = event
                    else:
                        await ws.send_text(orjson.dumps(event).decode())
                if time.monotonic() >= next_flush:
                    if pending:
                        batch = {"type": "positions", "positions": list(pending.values())}
                        await ws.send_text(orjson.dumps(batch).decode())
                        pending.clear()
                    next_flush = time.monotonic() + interval
            await ws.close(code=1013, reason="client too slow; reconnect")
    except WebSocketDisconnect:
        return
