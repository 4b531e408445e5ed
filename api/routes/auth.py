"""Signing in (OAuth2 password flow, refresh), the caller's own account, what changed in their
caseload since their previous sign-in, and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from pydantic import BaseModel, Field

from api.auth import (
    ACCESS_TTL_S,
    FAILURE_WINDOW_S,
    MAX_FAILURES,
    REFRESH_TTL_S,
    Caller,
    issue_access_token,
    password_matches,
)
from api.schemas import ApiTokens, Me, NewApiTokenOut, SinceLastSignIn, TokenResponse
from store import audit, since
from store.accounts import (
    clear_failures,
    create_api_token,
    grants_of,
    list_api_tokens,
    previous_sign_in,
    recent_failures,
    record_failure,
    record_sign_in,
    revoke_api_token,
    store_refresh_token,
    use_refresh_token,
    user_by_id,
    user_by_name,
)

router = APIRouter(tags=["accounts"])


@router.post("/auth/token", response_model=TokenResponse,
             responses={400: {"description": "wrong username or password, or a bad grant"},
                        429: {"description": "too many failed sign-ins"}})
async def token(
    request: Request,
    grant_type: Annotated[Literal["password", "refresh_token"], Form()],
    username: Annotated[str | None, Form(max_length=200)] = None,
    password: Annotated[str | None, Form(max_length=1000)] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
) -> TokenResponse:
    """OAuth2 token endpoint: ``grant_type=password`` with ``username`` and ``password``, or
    ``grant_type=refresh_token`` with a refresh token (spent; a new one comes back)."""
    state = request.app.state.cordon
    refused: HTTPException | None = None
    async with state.pool.connection() as conn, conn.transaction():
        # A refusal is decided inside the transaction but raised after it: the failed
        # sign-in it records must be kept, not rolled back.
        if grant_type == "refresh_token":
            user_id = await use_refresh_token(conn, refresh_token or "")
            user = await user_by_id(conn, user_id) if user_id is not None else None
            if user is None or user.disabled:
                refused = HTTPException(400, "invalid_grant: unknown, spent or expired refresh "
                                             "token")
        elif not username or password is None:
            refused = HTTPException(400, "invalid_request: username and password are required")
        elif await recent_failures(conn, username, FAILURE_WINDOW_S) >= MAX_FAILURES:
            refused = HTTPException(429, "too many failed sign-ins; try again later",
                                    headers={"Retry-After": str(FAILURE_WINDOW_S)})
        else:
            user = await user_by_name(conn, username)
            if user is None or user.disabled or not password_matches(user.password_hash,
                                                                     password):
                await record_failure(conn, username)
                await audit.record(conn, username, "login.failed", username)
                refused = HTTPException(400, "invalid_grant: wrong username or password")
            else:
                await clear_failures(conn, username)
                await record_sign_in(conn, user.id)
                await audit.record(conn, username, "login", username)
        if refused is None:
            assert user is not None
            refresh = await store_refresh_token(conn, user.id, REFRESH_TTL_S)
    if refused is not None:
        raise refused
    key = await state.token_keys.key(request)
    return TokenResponse(access_token=issue_access_token(key, user.id), expires_in=ACCESS_TTL_S,
                         refresh_token=refresh)


@router.get("/me", response_model=Me)
async def me(request: Request, caller: Caller) -> dict[str, Any]:
    """The caller: their grants and every jurisdiction they reach, with their role there."""
    async with request.app.state.cordon.pool.connection() as conn:
        grants = await grants_of(conn, caller.user_id)
    return {"id": caller.user_id, "username": caller.username,
            "grants": [{"jurisdiction_id": g.jurisdiction_id, "role": g.role} for g in grants],
            "reach": caller.reach}


@router.get("/me/since-last-sign-in", response_model=SinceLastSignIn)
async def since_last_sign_in(request: Request, caller: Caller) -> dict[str, Any]:
    """What changed in the caller's reach after their previous password sign-in (a day, at
    the first): alerts raised, escalated, resolved by someone else and cleared; people enrolled
    and released; positioning orders ended or ending within a week."""
    now = datetime.now(UTC)
    async with request.app.state.cordon.pool.connection() as conn:
        previous = await previous_sign_in(conn, caller.user_id)
        start = previous or now - timedelta(days=1)
        scope = caller.jurisdictions
        steps = await since.alert_steps(conn, scope, start, caller.username)
        people = await since.people(conn, scope, start)
        orders = await since.orders_ending(conn, scope, start, now, timedelta(days=7))
    return {"since": start.timestamp(), "first_sign_in": previous is None,
            "until": now.timestamp(), "raised": steps["opened"],
            "escalated": steps["escalated"], "resolved_by_others": steps["resolved"],
            "cleared": steps["cleared"], **people, "orders_ending": orders}


class NewApiToken(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="what the token is for")
    expires_in_days: float | None = Field(None, gt=0, le=3650)


@router.post("/me/api-tokens", status_code=201, response_model=NewApiTokenOut)
async def new_api_token(request: Request, caller: Caller, body: NewApiToken) -> dict[str, Any]:
    """A long-lived token for an integration, acting as the caller. Shown once."""
    ttl = body.expires_in_days * 86400 if body.expires_in_days else None
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        token_id, secret = await create_api_token(conn, caller.user_id, body.name, ttl)
        await audit.record(conn, caller.username, "api_token.created", str(token_id),
                           {"name": body.name})
    return {"id": token_id, "name": body.name, "token": secret}


@router.get("/me/api-tokens", response_model=ApiTokens)
async def api_tokens(request: Request, caller: Caller) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"tokens": await list_api_tokens(conn, caller.user_id)}


@router.delete("/me/api-tokens/{token_id}", status_code=204)
async def revoke(request: Request, caller: Caller, token_id: int) -> None:
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        if not await revoke_api_token(conn, caller.user_id, token_id):
            raise HTTPException(404, f"no live API token {token_id}")
        await audit.record(conn, caller.username, "api_token.revoked", str(token_id))
