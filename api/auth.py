"""Who is asking, and what they may see: sign-in, tokens, and the caller's reach.

- **Passwords** are hashed with argon2id (:data:`HASHER`).
- **Access tokens** are short-lived JWTs (HS256, signed with a key every engine process reads
  from the database), sent as ``Authorization: Bearer …``. They carry only the user's id: the
  grants are read on every request, so a revoked grant takes effect at once.
- **Refresh tokens** are random, stored as digests, good once (each use returns a new one).
- **API tokens** (``cdn_…``) are long-lived bearer tokens for integrations, acting as the user
  who made them, until revoked or expired.
- **Throttling**: after :data:`MAX_FAILURES` failed sign-ins for a username within
  :data:`FAILURE_WINDOW_S`, further attempts answer 429 until the window passes.

A :class:`Principal` is the caller with their *reach*: every jurisdiction they may see, with the
highest role they hold there. Anything outside the reach answers 404, as if it did not exist.

**Sign-in is the default.** The app runs :func:`signed_in_unless_public` before every route:
a route answers without sign-in only if it is in :data:`PUBLIC_ROUTES`, the one allow-list
(``tests/test_security_access.py`` walks every route of the app against it). A route added
later needs sign-in whether or not it asks for the :data:`Caller`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, WebSocketException
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from psycopg import AsyncConnection
from starlette.requests import HTTPConnection

from store.accounts import (
    ROLE_RANK,
    api_token_user,
    reach_of,
    shared_secret,
    user_by_id,
)
from store.caseload import root_jurisdictions
from store.kiosks import KIOSK_PREFIX, kiosk_for_token

HASHER = PasswordHasher()
ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 14 * 86400
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
_ALGORITHM = "HS256"
_API_TOKEN_PREFIX = "cdn_"

# (method, path) of every route answered without sign-in: ``WEBSOCKET`` for a socket, ``MOUNT``
# for a mounted app. Everything else needs a bearer token.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/v1/health"),        # operators and load balancers; names nobody
    ("GET", "/metrics"),              # Prometheus scrapes; names nobody
    ("POST", "/api/v1/auth/token"),   # signing in
    ("WEBSOCKET", "/api/v1/live"),    # signs in with its ?token= itself (api/routes/live.py)
    ("GET", "/osmand"),               # devices: their own password (ingest/http.py)
    ("POST", "/osmand"),
    ("GET", "/"),                     # the console's page, which then asks to sign in
    ("GET", "/favicon.ico"),
    ("MOUNT", "/static"),             # the console's scripts and styles
    ("GET", "/openapi.json"),         # the API's description
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
})

# (method, route template) of the only routes a kiosk credential (``kio_…``, the command
# centre's wall: store/kiosks.py) is accepted on; the route checks the jurisdiction itself
# (api/routes/wall.py). Everywhere else it is refused (403). Its live feed is /api/v1/live.
KIOSK_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/v1/wall/{jurisdiction_id}"),
})

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user and their reach (jurisdiction id → highest role there)."""

    user_id: int
    username: str
    reach: dict[str, str]
    auth_version: int = 0  # of the account when it signed in (see api/session_watch.py)
    expires_at: float | None = None  # when its credential expires (epoch s); None: never

    def sees(self, jurisdiction_id: str | None) -> bool:
        return jurisdiction_id is not None and jurisdiction_id in self.reach

    def may(self, jurisdiction_id: str | None, role: str) -> bool:
        """Whether the caller holds ``role`` or a higher one on the jurisdiction.

        >>> p = Principal(1, "ana", {"travis": "officer", "hays": "supervisor"})
        >>> p.may("travis", "officer"), p.may("travis", "supervisor"), p.may("bexar", "officer")
        (True, False, False)
        """
        held = self.reach.get(jurisdiction_id or "")
        return held is not None and ROLE_RANK[held] >= ROLE_RANK[role]

    def with_role(self, role: str) -> list[str]:
        """The jurisdictions where the caller holds ``role`` or higher."""
        return sorted(j for j, r in self.reach.items() if ROLE_RANK[r] >= ROLE_RANK[role])

    @property
    def jurisdictions(self) -> list[str]:
        return sorted(self.reach)

    def scope(self, jurisdiction_id: str | None) -> list[str]:
        """The jurisdictions a list asks about: all the caller reaches, or the one named if
        they reach it (none if not — it does not exist for them).

        >>> p = Principal(1, "ana", {"travis": "officer"})
        >>> p.scope(None), p.scope("travis"), p.scope("hays")
        (['travis'], ['travis'], [])
        """
        if jurisdiction_id is None:
            return self.jurisdictions
        return [jurisdiction_id] if self.sees(jurisdiction_id) else []


class TokenKeys:
    """The signing key, read once from the database (shared by every engine process)."""

    def __init__(self) -> None:
        self._key: bytes | None = None

    async def key(self, request_or_ws: HTTPConnection) -> bytes:
        if self._key is None:
            async with request_or_ws.app.state.cordon.pool.connection() as conn:
                self._key = await shared_secret(conn, "access_token_key")
        return self._key


def issue_access_token(key: bytes, user_id: int, ttl_s: float = ACCESS_TTL_S) -> str:
    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "iat": now, "exp": now + int(ttl_s),
                       "typ": "access"}, key, algorithm=_ALGORITHM)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def principal_for_token(request_or_ws: HTTPConnection, token: str | None) -> Principal:
    """The caller a bearer token (access JWT or API token) speaks for; 401 if none."""
    if not token:
        raise _unauthorized("not signed in")
    if token.startswith(KIOSK_PREFIX):
        raise HTTPException(403, "a kiosk credential reads only its wall view")
    state = request_or_ws.app.state.cordon
    async with state.pool.connection() as conn:
        if token.startswith(_API_TOKEN_PREFIX):
            found = await api_token_user(conn, token)
            if found is None:
                raise _unauthorized("unknown, revoked or expired API token")
            user_id, expires_at = found
        else:
            try:
                claims = jwt.decode(token, await state.token_keys.key(request_or_ws),
                                    algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]})
            except jwt.ExpiredSignatureError:
                raise _unauthorized("token expired") from None
            except jwt.PyJWTError:
                raise _unauthorized("invalid token") from None
            if claims.get("typ") != "access":
                raise _unauthorized("invalid token")
            user_id, expires_at = int(claims["sub"]), float(claims["exp"])
        # The account (and its auth version) before the reach: a grant changed in between
        # moves the version past the one kept, and a watching socket checks again.
        user = await user_by_id(conn, user_id)
        if user is None or user.disabled:
            raise _unauthorized("account disabled")
        return Principal(user.id, user.username, await reach_of(conn, user.id),
                         user.auth_version, expires_at)


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def signed_in_unless_public(connection: HTTPConnection) -> None:
    """The app's default dependency, run before every route: sign-in is required unless the
    route is in :data:`PUBLIC_ROUTES`. The caller found is kept for :func:`current_principal`."""
    scope = connection.scope
    method = "WEBSOCKET" if scope["type"] == "websocket" else scope["method"]
    path, root = scope["path"], scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    # The path asked for, not the route's template (an included router's route knows only its
    # own part of it): public only when the route matched has no parameters, so that the path
    # is its template.
    template = getattr(scope.get("route"), "path", "")
    if (method, path) in PUBLIC_ROUTES and "{" not in template:
        return
    token = _bearer_token(connection.headers.get("authorization"))
    if token and token.startswith(KIOSK_PREFIX) and _kiosk_route(method, path, template):
        async with connection.app.state.cordon.pool.connection() as conn:
            kiosk = await kiosk_for_token(conn, token)
        if kiosk is None:
            raise _unauthorized("unknown or revoked kiosk credential")
        connection.state.kiosk = kiosk
        return
    try:
        connection.state.principal = await principal_for_token(connection, token)
    except HTTPException as exc:
        if method == "WEBSOCKET":
            raise WebSocketException(4401, str(exc.detail)) from None
        raise


def _kiosk_route(method: str, path: str, template: str) -> bool:
    """Whether the path asked for is one of :data:`KIOSK_ROUTES` (the route matched knows only
    its own part of the template: it must end it).

    >>> _kiosk_route("GET", "/api/v1/wall/tx-travis", "/wall/{jurisdiction_id}")
    True
    >>> _kiosk_route("GET", "/api/v1/wall/tx/kiosks", "/wall/{jurisdiction_id}/kiosks")
    False
    """
    return any(method == m and template and t.endswith(template)
               and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)
               for m, t in KIOSK_ROUTES)


async def current_principal(request: Request,
                            token: Annotated[str | None, Depends(bearer)]) -> Principal:
    signed_in = getattr(request.state, "principal", None)
    if signed_in is not None:  # by signed_in_unless_public, earlier in this request
        return signed_in
    return await principal_for_token(request, token)


Caller = Annotated[Principal, Depends(current_principal)]


def not_found(what: str) -> HTTPException:
    """The answer for anything outside the caller's reach: as if it did not exist."""
    return HTTPException(404, f"no {what}")


def invalid(location: tuple[str, ...], message: str) -> RequestValidationError:
    """A refusal of bad input in the same shape as FastAPI's own 422 (``detail``: a list of
    ``{loc, msg, type}``), as the OpenAPI document promises.

    >>> invalid(("query", "start"), "needs a time zone").errors()[0]["loc"]
    ('query', 'start')
    """
    return RequestValidationError([{"loc": location, "msg": message, "type": "value_error"}])


def check_window(start: datetime, end: datetime, longest: timedelta) -> None:
    """Refuse (422) a time window without time zones, empty, or longer than ``longest``: the
    reads of a person's history all take one.

    >>> from datetime import UTC
    >>> check_window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
    ...              timedelta(days=31))
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise invalid(("query", "start"),
                      "start and end need a time zone (e.g. 2026-11-20T00:00:00Z)")
    if not start < end or end - start > longest:
        raise invalid(("query", "end"),
                      f"end must be after start, and at most {longest.days} days after it")


def forbidden(role: str) -> HTTPException:
    return HTTPException(403, f"needs the {role} role here")


async def admin_at_root(conn: AsyncConnection, caller: Principal) -> bool:
    """Whether the caller is admin over the whole tree (on every jurisdiction without a
    parent): what the agency's own records — a plan of no jurisdiction, an account with no
    grant — need."""
    roots = await root_jurisdictions(conn)
    return bool(roots) and all(caller.may(r, "admin") for r in roots)
