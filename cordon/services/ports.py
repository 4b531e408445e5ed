"""Local TCP ports: find a free one, or refuse clearly when one is taken."""

from __future__ import annotations

import socket
import time


class PortInUse(RuntimeError):
    pass


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str, flag: str, host: str = "127.0.0.1") -> None:
    """Raise :class:`PortInUse` with an actionable message when ``port`` is taken."""
    if not port_is_free(port, host):
        raise PortInUse(
            f"{what} port {port} on {host} is already in use; choose another with {flag} PORT"
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
