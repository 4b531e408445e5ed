"""``GET /api/v1/audit``: the audit trail, for admins — read-only; nothing in the API changes
it. An admin sees the entries about the jurisdictions where they are admin, and every entry
made by or about accounts they administer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from api.auth import Caller, forbidden
from api.schemas import AuditTrail
from store.audit import entries

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditTrail)
async def audit_trail(
    request: Request,
    caller: Caller,
    actor: str | None = Query(None, max_length=200),
    action: str | None = Query(None, max_length=100),
    subject: str | None = Query(None, max_length=200),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(200, ge=1, le=5000),
) -> dict[str, Any]:
    admin_of = caller.with_role("admin")
    if not admin_of:
        raise forbidden("admin")
    async with request.app.state.cordon.pool.connection() as conn:
        rows = await entries(conn, actor=actor, action=action, subject=subject, since=since,
                             until=until, limit=limit, jurisdictions=admin_of)
    return {"entries": rows}
