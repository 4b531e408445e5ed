"""The agency's lists of why alerts happen and what was done about them (发生原因 / 处置结果),
from which an officer picks when resolving an alert (migration 0007)."""

from __future__ import annotations

from typing import Any

import psycopg

LISTS = ("cause", "outcome")


async def resolution_codes(conn: psycopg.AsyncConnection, *, active_only: bool = True
                           ) -> dict[str, list[dict[str, Any]]]:
    """``{"cause": [...], "outcome": [...]}``, each entry ``{"code", "labels": {"en",
    "zh-CN"}}`` in the agency's order."""
    cur = await conn.execute(
        "SELECT list, code, label_en, label_zh FROM alert_resolution_codes "
        "WHERE active OR NOT %s ORDER BY list, position, code", (active_only,))
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in LISTS}
    for list_name, code, en, zh in await cur.fetchall():
        out[list_name].append({"code": code, "labels": {"en": en, "zh-CN": zh}})
    return out
