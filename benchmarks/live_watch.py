"""An officer's screen, as the benchmarks see it: a signed-in client of the live feed that notes
when each alert arrives.

:func:`sign_in_watcher` makes an account with a grant on one jurisdiction (straight in the
database, as ``cordon user add`` does). :class:`LiveWatcher` runs ``python -m
benchmarks.live_watch`` beside the benchmark — a process of its own, as a screen is a machine of
its own: in the benchmark's process the load generator would starve it of the interpreter, and
the feed would drop it as too slow. It signs in over the API, holds ``WS /api/v1/live`` open and
writes ``[arrival time, alert event]`` a line for every alert event to a file; positions are
read and dropped, as a screen would draw and forget them.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import psycopg
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.auth import hash_password
from store.accounts import create_user, grant


async def sign_in_watcher(db_url: str, jurisdiction_id: str) -> tuple[str, str]:
    """A new officer account granted on ``jurisdiction_id``: (username, password)."""
    username, password = "bench-watcher", secrets.token_urlsafe(18)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        user_id = await create_user(conn, username, hash_password(password), "benchmark")
        await grant(conn, user_id, jurisdiction_id, "officer")
    return username, password


class LiveWatcher:
    """``with LiveWatcher(base, username, password, work) as w:`` … ``w.alerts()``: every alert
    event received, with the wall-clock time it arrived."""

    def __init__(self, base: str, username: str, password: str, work: Path):
        self._out = work / "live-alerts.jsonl"
        self._log = work / "live-watch.log"
        self._args = [sys.executable, "-m", "benchmarks.live_watch", base, username,
                      str(self._out)]
        self._password = password
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> LiveWatcher:
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(self._args, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=log,
                                          cwd=Path(__file__).resolve().parent.parent)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(self._password.encode() + b"\n")
        self._proc.stdin.close()
        if self._proc.stdout.readline().strip() != b"ready":
            self._proc.wait(10)
            raise RuntimeError(f"the screen could not sign in: {self._log.read_text()}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    def alerts(self) -> list[tuple[float, dict[str, Any]]]:
        if not self._out.exists():
            return []
        return [tuple(orjson.loads(line)) for line in self._out.read_bytes().splitlines()]

    def closed_by_server(self) -> str | None:
        """Why the feed closed the socket, if it did."""
        text = self._log.read_text() if self._log.exists() else ""
        return text.strip() or None


def watch(base: str, username: str, password: str, out: Path) -> None:
    form = urllib.parse.urlencode({"grant_type": "password", "username": username,
                                   "password": password}).encode()
    with urllib.request.urlopen(f"{base}/api/v1/auth/token", form, timeout=30) as answer:
        token = orjson.loads(answer.read())["access_token"]
    ws_base = base.replace("http://", "ws://", 1)
    with connect(f"{ws_base}/api/v1/live?token={urllib.parse.quote(token)}", max_size=None,
                 open_timeout=30) as ws, open(out, "ab") as sink:
        hello = orjson.loads(ws.recv(timeout=30))
        if hello.get("type") != "hello":
            raise RuntimeError(f"the live feed did not say hello: {hello}")
        print("ready", flush=True)
        try:
            for message in ws:
                arrived = time.time()
                # Alert events are few and small; the once-a-second positions are not parsed.
                if isinstance(message, str) and message.startswith('{"type":"alert"'):
                    sink.write(orjson.dumps([arrived, orjson.loads(message)]) + b"\n")
                    sink.flush()
        except ConnectionClosed as exc:
            print(f"closed by the server: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    watch(sys.argv[1], sys.argv[2], sys.stdin.readline().strip(), Path(sys.argv[3]))
