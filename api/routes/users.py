"""Users and their grants (admin role). An admin manages accounts only within their reach: they
may grant roles on jurisdictions where they are admin, and see users who hold a grant there."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from api.auth import Caller, forbidden, hash_password, not_found
from api.schemas import NewUserOut, OneUser, Users
from store import audit
from store.accounts import (
    AccountError,
    create_user,
    grant,
    grants_of,
    list_users,
    revoke_grant,
    set_disabled,
    set_password,
    user_by_id,
)

router = APIRouter(tags=["accounts"])
Role = Literal["officer", "supervisor", "admin"]


class GrantBody(BaseModel):
    jurisdiction_id: str = Field(min_length=1, max_length=200)
    role: Role


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=12, max_length=1000)
    display_name: str = Field("", max_length=200)
    grants: list[GrantBody] = Field(default_factory=list, max_length=1000)


class UserChange(BaseModel):
    password: str | None = Field(None, min_length=12, max_length=1000)
    disabled: bool | None = None


def _admin_of(caller: Caller, jurisdiction_id: str) -> None:
    if not caller.sees(jurisdiction_id):
        raise not_found(f"jurisdiction {jurisdiction_id}")
    if not caller.may(jurisdiction_id, "admin"):
        raise forbidden("admin")


async def _managed_user(request: Request, caller: Caller, user_id: int) -> dict[str, Any]:
    """A user the caller administers: one with a grant where the caller is admin (or the
    caller themself)."""
    async with request.app.state.cordon.pool.connection() as conn:
        user = await user_by_id(conn, user_id)
        grants = await grants_of(conn, user_id) if user else []
    admin_of = set(caller.with_role("admin"))
    if user is None or not admin_of or not (
            user.id == caller.user_id or any(g.jurisdiction_id in admin_of for g in grants)):
        raise not_found(f"user {user_id}")
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "disabled": user.disabled,
            "grants": [{"jurisdiction_id": g.jurisdiction_id, "role": g.role} for g in grants]}


@router.get("/users", response_model=Users)
async def users(request: Request, caller: Caller) -> dict[str, Any]:
    admin_of = set(caller.with_role("admin"))
    if not admin_of:
        raise forbidden("admin")
    async with request.app.state.cordon.pool.connection() as conn:
        everyone = await list_users(conn)
    return {"users": [u for u in everyone if u["id"] == caller.user_id
                      or any(g["jurisdiction_id"] in admin_of for g in u["grants"])]}


@router.get("/users/{user_id}", response_model=OneUser)
async def one_user(request: Request, caller: Caller, user_id: int) -> dict[str, Any]:
    return {"user": await _managed_user(request, caller, user_id)}


@router.post("/users", status_code=201, response_model=NewUserOut)
async def new_user(request: Request, caller: Caller, body: NewUser) -> dict[str, Any]:
    if not caller.with_role("admin"):
        raise forbidden("admin")
    for g in body.grants:
        _admin_of(caller, g.jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        try:
            user_id = await create_user(conn, body.username, hash_password(body.password),
                                        body.display_name)
            for g in body.grants:
                await grant(conn, user_id, g.jurisdiction_id, g.role)
        except AccountError as exc:
            raise HTTPException(409, str(exc)) from None
        await audit.record(conn, caller.username, "user.created", body.username,
                           {"grants": [g.model_dump() for g in body.grants]})
    return {"user": {"id": user_id, "username": body.username,
                     "grants": [g.model_dump() for g in body.grants]}}


@router.patch("/users/{user_id}", response_model=OneUser)
async def change_user(request: Request, caller: Caller, user_id: int,
                      body: UserChange) -> dict[str, Any]:
    user = await _managed_user(request, caller, user_id)
    if user_id == caller.user_id and body.disabled:
        raise HTTPException(409, "you cannot disable your own account")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        if body.password is not None:
            await set_password(conn, user_id, hash_password(body.password))
        if body.disabled is not None:
            await set_disabled(conn, user_id, body.disabled)
        await audit.record(conn, caller.username, "user.changed", user["username"],
                           {"password": body.password is not None, "disabled": body.disabled})
    return {"user": await _managed_user(request, caller, user_id)}


@router.put("/users/{user_id}/grants", response_model=OneUser)
async def add_grant(request: Request, caller: Caller, user_id: int,
                    body: GrantBody) -> dict[str, Any]:
    _admin_of(caller, body.jurisdiction_id)
    if user_id == caller.user_id:
        raise HTTPException(409, "you cannot change your own grants; ask another admin")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        user = await user_by_id(conn, user_id)
        if user is None:
            raise not_found(f"user {user_id}")
        await grant(conn, user_id, body.jurisdiction_id, body.role)
        await audit.record(conn, caller.username, "grant.added", user.username,
                           body.model_dump())
    return {"user": await _managed_user(request, caller, user_id)}


@router.delete("/users/{user_id}/grants/{jurisdiction_id}", status_code=204)
async def remove_grant(request: Request, caller: Caller, user_id: int,
                       jurisdiction_id: str) -> None:
    _admin_of(caller, jurisdiction_id)
    if user_id == caller.user_id:
        raise HTTPException(409, "you cannot remove your own grants; ask another admin")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        if not await revoke_grant(conn, user_id, jurisdiction_id):
            raise not_found(f"grant of user {user_id} on {jurisdiction_id}")
        await audit.record(conn, caller.username, "grant.removed", str(user_id),
                           {"jurisdiction_id": jurisdiction_id})
