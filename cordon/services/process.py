"""Starting and stopping a service process we own, leaving nothing behind."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when our parent dies, so a service we own never
    outlives us, even when we are killed with SIGKILL and cannot stop it ourselves."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def spawn(args: list[str], log_file: Path, user: str | None = None) -> subprocess.Popen:
    """Start ``args`` in a session of its own (so a terminal's Ctrl-C reaches us, not it: we
    stop it in order), logging to ``log_file``; as ``user`` when given and we are root. The
    process gets SIGTERM if we die first."""
    log = open(log_file, "ab")  # noqa: SIM115 — owned by the child for its lifetime
    kwargs: dict = {}
    if user and os.geteuid() == 0:
        kwargs.update(user=user, group=user)
    try:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            **kwargs,
        )
    finally:
        log.close()


def terminate(
    proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 20
) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
