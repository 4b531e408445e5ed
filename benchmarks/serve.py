"""``cordon serve`` as a child process of a benchmark, against its private broker and database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from cordon.services import free_port

ROOT = Path(__file__).resolve().parent.parent


def health(base: str) -> dict:
    """The engine's health document, also when it answers 503 (not ready yet).

    The standard library's client: the benchmarks run from a plain install of Cordon."""
    try:
        with urllib.request.urlopen(f"{base}/api/v1/health", timeout=10) as answer:
            return orjson.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return orjson.loads(answer.read())


@contextmanager
def engine_process(work: Path, env: dict[str, str], ready: Callable[[dict], bool],
                   timeout_s: float = 120.0) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start the engine with ``CORDON_*`` settings ``env`` (its log in ``work/engine.log``),
    wait until its health satisfies ``ready``, yield (process, API base URL), then stop it.
    An engine that exits or is not ready in time raises with its log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"CORDON_HTTP_PORT": str(port), "CORDON_LOG_LEVEL": "WARNING"} | env
    with open(work / "engine.log", "wb") as log:
        engine = subprocess.Popen([sys.executable, "-m", "cordon", "serve"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    if ready(health(base)):
                        break
                except (OSError, orjson.JSONDecodeError):
                    pass  # not listening yet
                if engine.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "engine.log").read_text())
                time.sleep(0.2)
            yield engine, base
        finally:
            engine.terminate()
            engine.wait(30)
