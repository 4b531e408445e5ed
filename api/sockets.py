"""What the live feeds (an officer's, ``api/routes/live.py``, and a wall kiosk's,
``api/routes/wall.py``) do alike on a WebSocket: send a message as JSON, and take every event
already waiting on the bus at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import WebSocket


async def send_json(ws: WebSocket, message: dict[str, Any]) -> None:
    await ws.send_text(orjson.dumps(message).decode())


def drained(first: dict[str, Any], queue: asyncio.Queue[dict[str, Any]]
            ) -> Iterator[dict[str, Any]]:
    """``first`` and every event already waiting behind it. Positions come by the ten thousand
    a second: one pass of a feed's loop (a future, a wait, a sign-in check) for each of them
    cost more than the client's whole share of the CPU, and a busy moment then overflowed its
    queue and dropped it as too slow."""
    yield first
    while True:
        try:
            yield queue.get_nowait()
        except asyncio.QueueEmpty:
            return
