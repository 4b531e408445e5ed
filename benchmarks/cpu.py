"""CPU time of a process and everything it started, read from ``/proc`` (Linux).

A database server forks a backend per connection and reaps it when the connection closes; a
backend's CPU then moves into its parent's *children's* times (``cutime``, ``cstime``). Summing
the live processes alone would lose what the exited ones spent, and a difference of two such
sums could even be negative. :func:`tree_cpu_s` counts each process's own time, the times of
the children it has reaped, and recurses into its live children, so it only ever grows.

>>> import os
>>> tree_cpu_s(os.getpid()) > 0
True
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return text.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def own_cpu_s(pid: int) -> float:
    """User + system seconds of ``pid`` itself (0 when it is gone)."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_s(pid: int) -> float:
    """User + system seconds of ``pid``, its reaped children and its live descendants."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / _TICK  # utime, stime, cutime, cstime
    return own + sum(tree_cpu_s(child) for child in _children(pid))
