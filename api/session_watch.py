"""Keeping long-lived sessions honest after they signed in.

A REST request signs in on every call; a live socket signs in once, at connect, and may stay
open for days. So each open socket is *watched*: every account has an ``auth_version`` (migration
0006) that the database moves whenever what the account's sessions may do changes — a grant
added, changed or removed (or the jurisdiction tree below one), the account disabled or enabled,
one of its API tokens revoked. One task per process reads the versions of the accounts with open
sockets every :attr:`SessionWatch.interval_s` — one query, however many sockets — and flags each
socket whose account moved; the socket then signs in again with its token and closes if it may
no longer see what it saw (``api/routes/live.py``). A credential's expiry is checked by the
socket itself, on its own clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from store.accounts import auth_versions

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Watched:
    """One open session: its account, the account's auth version it last checked, and the flag
    raised when the account has moved past it."""

    user_id: int
    version: int
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class SessionWatch:
    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._open: dict[int, set[Watched]] = {}
        self._task: asyncio.Task[None] | None = None

    @contextmanager
    def watch(self, pool: AsyncConnectionPool, user_id: int, version: int) -> Iterator[Watched]:
        """Watch a session for as long as the block runs."""
        session = Watched(user_id, version)
        self._open.setdefault(user_id, set()).add(session)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(pool), name="session-watch")
        try:
            yield session
        finally:
            sessions = self._open.get(user_id)
            if sessions is not None:
                sessions.discard(session)
                if not sessions:
                    del self._open[user_id]

    async def _run(self, pool: AsyncConnectionPool) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self._open:
                return  # the next watch starts another
            users = list(self._open)
            try:
                async with pool.connection() as conn:
                    versions = await auth_versions(conn, users)
            except Exception:  # noqa: BLE001 — the next round tries again
                log.warning("could not read the accounts of open sessions", exc_info=True)
                continue
            for user_id in users:
                now = versions.get(user_id)  # None: the account is gone
                for session in self._open.get(user_id, ()):
                    if now != session.version:
                        session.changed.set()
