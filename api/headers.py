"""Security headers on every HTTP response: a strict Content-Security-Policy, ``nosniff``,
no referrer, no framing.

The console (``/`` and ``/static``) runs only its own files: no inline script, no inline event
handler, no ``eval``, nothing from another origin — so a name that reaches the page as markup
by mistake cannot run script even then. Images may come from the page's own origin, ``data:``
and ``blob:`` URLs, and the tile server of ``map_tile_url`` when one is set; connections go to
the page's own origin and its live feed (``ws:``/``wss:`` on the same host).

FastAPI's own documentation pages (``/docs``, ``/docs/oauth2-redirect``, ``/redoc``) load Swagger
UI and ReDoc from a CDN and start them with an inline script; they get a policy of their own
that allows that (see :data:`DOCS_POLICY`). They show the OpenAPI document, no stored data.

A response that already carries one of these headers keeps its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

DOCS_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "font-src 'self' data: https://fonts.gstatic.com",
    "img-src 'self' data: blob: https:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_SOURCE = re.compile(r"^(?:https?:|https?://(?:\*\.)?(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?)$")


def tile_source(url: str | None) -> str | None:
    """The CSP source expression that admits the tiles of a Leaflet URL template, or None
    when 'self' covers them (or there is none). A first label of the host with a placeholder
    (``{s}``) becomes a wildcard; a placeholder anywhere else admits the whole scheme.

    >>> tile_source("https://tiles.example.org/{z}/{x}/{y}.png")
    'https://tiles.example.org'
    >>> tile_source("https://{s}.tile.openstreetmap.org:8443/{z}/{x}/{y}.png")
    'https://*.tile.openstreetmap.org:8443'
    >>> tile_source("http://tiles-{s}.example.org/{z}/{x}/{y}.png")
    'http://*.example.org'
    >>> tile_source("https://tiles.{s}.example.org/{z}/{x}/{y}.png")
    'https:'
    >>> tile_source("/tiles/{z}/{x}/{y}.png") is None
    True
    """
    m = re.match(r"^(https?)://([^/?#]+)", (url or "").strip(), re.IGNORECASE)
    if not m:
        return None
    scheme, netloc = m.group(1).lower(), m.group(2).rsplit("@", 1)[-1].lower()
    host, _, rest = netloc.partition(".")
    if "{" in host and rest and "{" not in rest:
        netloc = f"*.{rest}"
    source = f"{scheme}://{netloc}" if "{" not in netloc else f"{scheme}:"
    return source if _SOURCE.match(source) else f"{scheme}:"


def console_policy(tile_url: str | None = None, host: str | None = None) -> str:
    """The strict policy. ``host``: the request's Host header, for the live feed's
    ``ws:``/``wss:`` address (CSP Level 3 lets 'self' match it, but not every browser does)."""
    images = ["'self'", "data:", "blob:"]
    if (tiles := tile_source(tile_url)) is not None:
        images.append(tiles)
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {' '.join(images)}",
        f"connect-src {' '.join(connect)}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


class SecurityHeaders:
    """ASGI middleware: the headers above on each HTTP response (WebSockets pass through)."""

    def __init__(self, app: ASGIApp, tile_url: str | None = None,
                 docs_paths: Iterable[str] = DOCS_PATHS) -> None:
        self.app = app
        self.tile_url = tile_url
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            policy = DOCS_POLICY
        else:
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                         if k == b"host"), None)
            policy = console_policy(self.tile_url, host)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
