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
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer

from store.accounts import (
    ROLE_RANK,
    api_token_user,
    reach_of,
    shared_secret,
    user_by_id,
)

HASHER = PasswordHasher()
ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 14 * 86400
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
_ALGORITHM = "HS256"
_API_TOKEN_PREFIX = "cdn_"

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

    async def key(self, request_or_ws: Request | WebSocket) -> bytes:
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


async def principal_for_token(request_or_ws: Request | WebSocket, token: str | None
                              ) -> Principal:
    """The caller a bearer token (access JWT or API token) speaks for; 401 if none."""
    if not token:
        raise _unauthorized("not signed in")
    state = request_or_ws.app.state.cordon
    async with state.pool.connection() as conn:
        if token.startswith(_API_TOKEN_PREFIX):
            user_id = await api_token_user(conn, token)
            if user_id is None:
                raise _unauthorized("unknown, revoked or expired API token")
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
            user_id = int(claims["sub"])
        user = await user_by_id(conn, user_id)
        if user is None or user.disabled:
            raise _unauthorized("account disabled")
        return Principal(user.id, user.username, await reach_of(conn, user.id))


async def current_principal(request: Request,
                            token: Annotated[str | None, Depends(bearer)]) -> Principal:
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


def forbidden(role: str) -> HTTPException:
    return HTTPException(403, f"needs the {role} role here")
