"""Users and their grants (admin role).

An admin manages only the accounts that lie wholly within their reach: **every** grant of the
account is on a jurisdiction at or below one where the admin holds the admin role. An account
that also holds a grant anywhere else — above the admin, or beside them — does not exist for
them (404), even where it holds grants they administer too: they neither list it, read it,
change its password, disable it, grant it a role nor revoke one (it could otherwise take over a
higher account, or strip it). An account with no grant belongs to no jurisdiction: like a plan
of the whole agency, only an admin at the root (of every top jurisdiction) manages it. Each
admin sees and may change their own account (its password, not its grants, nor disable it).

``GET /users`` lists exactly the accounts the caller manages, and the caller: an account they
merely share a jurisdiction with is left out, since its other grants would tell of
jurisdictions that do not exist for them.

Granting needs the admin role on the jurisdiction granted, so a managed account stays within
reach; a new account needs at least one grant unless its maker is an admin at the root. Each
check is made in the transaction that writes, on the account's row locked, so a grant another
admin adds meanwhile cannot slip between the check and the change.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from api.auth import Caller, admin_at_root, forbidden, hash_password, invalid, not_found
from api.schemas import NewUserOut, OneUser, Users
from store import audit
from store.accounts import (
    AccountError,
    create_user,
    grant,
    grants_of,
    list_users,
    lock_user,
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


def _within_reach(caller: Caller, grants: list[dict[str, Any]], at_root: bool) -> bool:
    """Whether an account with these grants is the caller's to manage (see the module's
    docstring).

    >>> from api.auth import Principal
    >>> township = Principal(1, "tina", {"tx-travis-pf": "admin"})
    >>> _within_reach(township, [{"jurisdiction_id": "tx-travis-pf", "role": "officer"}], False)
    True
    >>> _within_reach(township, [{"jurisdiction_id": "tx-travis-pf", "role": "officer"},
    ...                          {"jurisdiction_id": "tx-travis", "role": "supervisor"}], False)
    False
    >>> _within_reach(township, [], False)
    False
    """
    if not grants:
        return at_root
    return all(caller.may(g["jurisdiction_id"], "admin") for g in grants)


async def _managed_user(conn: psycopg.AsyncConnection, caller: Caller, user_id: int, *,
                        lock: bool = False) -> dict[str, Any]:
    """A user the caller manages (or the caller themself); 404 for anyone else. ``lock``: hold
    the account's row until the transaction ends."""
    if not caller.with_role("admin"):
        raise not_found(f"user {user_id}")
    user = await (lock_user(conn, user_id) if lock else user_by_id(conn, user_id))
    if user is None:
        raise not_found(f"user {user_id}")
    grants = [{"jurisdiction_id": g.jurisdiction_id, "role": g.role}
              for g in await grants_of(conn, user_id)]
    if user.id != caller.user_id and not _within_reach(
            caller, grants, not grants and await admin_at_root(conn, caller)):
        raise not_found(f"user {user_id}")
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "disabled": user.disabled, "grants": grants}


@router.get("/users", response_model=Users)
async def users(request: Request, caller: Caller) -> dict[str, Any]:
    """The accounts the caller manages, and the caller."""
    if not caller.with_role("admin"):
        raise forbidden("admin")
    async with request.app.state.cordon.pool.connection() as conn:
        everyone = await list_users(conn)
        at_root = await admin_at_root(conn, caller)
    return {"users": [u for u in everyone if u["id"] == caller.user_id
                      or _within_reach(caller, u["grants"], at_root)]}


@router.get("/users/{user_id}", response_model=OneUser)
async def one_user(request: Request, caller: Caller, user_id: int) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        return {"user": await _managed_user(conn, caller, user_id)}


@router.post("/users", status_code=201, response_model=NewUserOut)
async def new_user(request: Request, caller: Caller, body: NewUser) -> dict[str, Any]:
    if not caller.with_role("admin"):
        raise forbidden("admin")
    for g in body.grants:
        _admin_of(caller, g.jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        if not body.grants and not await admin_at_root(conn, caller):
            raise invalid(("body", "grants"), "give the account a role on a jurisdiction you "
                                              "administer: one with no grant is managed at the "
                                              "root")
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
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        user = await _managed_user(conn, caller, user_id, lock=True)
        if user_id == caller.user_id and body.disabled:
            raise HTTPException(409, "you cannot disable your own account")
        if body.password is not None:
            await set_password(conn, user_id, hash_password(body.password))
        if body.disabled is not None:
            await set_disabled(conn, user_id, body.disabled)
        await audit.record(conn, caller.username, "user.changed", user["username"],
                           {"password": body.password is not None, "disabled": body.disabled})
        return {"user": await _managed_user(conn, caller, user_id)}


@router.put("/users/{user_id}/grants", response_model=OneUser)
async def add_grant(request: Request, caller: Caller, user_id: int,
                    body: GrantBody) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        user = await _managed_user(conn, caller, user_id, lock=True)
        if user_id == caller.user_id:
            raise HTTPException(409, "you cannot change your own grants; ask another admin")
        _admin_of(caller, body.jurisdiction_id)
        await grant(conn, user_id, body.jurisdiction_id, body.role)
        await audit.record(conn, caller.username, "grant.added", user["username"],
                           body.model_dump())
        return {"user": await _managed_user(conn, caller, user_id)}


@router.delete("/users/{user_id}/grants/{jurisdiction_id}", status_code=204)
async def remove_grant(request: Request, caller: Caller, user_id: int,
                       jurisdiction_id: str) -> None:
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        await _managed_user(conn, caller, user_id, lock=True)
        if user_id == caller.user_id:
            raise HTTPException(409, "you cannot remove your own grants; ask another admin")
        _admin_of(caller, jurisdiction_id)
        if not await revoke_grant(conn, user_id, jurisdiction_id):
            raise not_found(f"grant of user {user_id} on {jurisdiction_id}")
        await audit.record(conn, caller.username, "grant.removed", str(user_id),
                           {"jurisdiction_id": jurisdiction_id})
