"""The live bus: positions and alert changes, fanned out to subscribers (WebSocket clients).

Publishing never blocks and never waits for a subscriber: a subscriber whose queue is full is
marked overflowed and dropped, so a slow client can never slow ingest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Subscription:
    def __init__(self, maxsize: int):
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        self.overflowed = False


class LiveBus:
    def __init__(self, queue_size: int = 10_000):
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._taps: list[Callable[[dict[str, Any]], None]] = []

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription(self._queue_size)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    def add_tap(self, tap: Callable[[dict[str, Any]], None]) -> None:
        """Also hand every event to ``tap`` (which must not block), e.g. to relay it to the
        process that serves the live feed."""
        self._taps.append(tap)

    def publish(self, event: dict[str, Any]) -> None:
        for tap in self._taps:
            tap(event)
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True
                self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
