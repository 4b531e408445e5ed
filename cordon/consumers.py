"""The other engine processes: started, watched and stopped by the API process.

``consumers = N`` in the settings runs N engine processes on this machine. The one started as
``cordon serve`` is consumer 0: it serves the API and starts consumers 1…N-1 as
``cordon serve --consumer i`` with the same settings, restarts one that dies, and stops them
when it stops. Linux sends each a SIGTERM if consumer 0 is killed outright, so none outlives
it. On several machines, run ``cordon serve --consumer i`` on each instead (the API on one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

from cordon.services.process import _die_with_parent
from cordon.settings import Settings, settings_env

log = logging.getLogger(__name__)


async def run_consumers(settings: Settings, restart_delay_s: float = 1.0) -> None:
    """Run consumers 1…N-1 until cancelled; then stop them."""
    env = os.environ | settings_env(settings)
    procs: dict[int, subprocess.Popen] = {}

    def start(i: int) -> None:
        procs[i] = subprocess.Popen(
            [sys.executable, "-m", "cordon", "serve", "--consumer", str(i)], env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        log.info("consumer %d started (pid %d)", i, procs[i].pid)

    try:
        for i in range(1, settings.consumers):
            start(i)
        while True:
            await asyncio.sleep(restart_delay_s)
            for i, p in list(procs.items()):
                if p.poll() is not None:
                    log.error("consumer %d exited with %s; restarting it", i, p.returncode)
                    start(i)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for i, p in procs.items():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.warning("consumer %d did not stop; killing it", i)
                p.kill()
                p.wait()
