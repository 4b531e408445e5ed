"""Casework writes: enrolment, devices (assign, swap, retire, with their history), pairing,
protection orders, positioning orders, and release (解矫).

Every function runs inside the caller's transaction, which also writes the audit entry: a change
and its record stand or fall together. Device assignment history is kept by the database itself
(migration 0010's trigger); :func:`act_as` tells it who acts, and why.
"""

from __future__ import annotations

from typing import Any

import psycopg

from store.accounts import ROLE_RANK, reach_of, user_by_name

# The grounds of a positioning order, as the statute lists them (社区矫正法 art. 29): code →
# (zh-CN, English).
ORDER_GROUNDS: dict[str, tuple[str, str]] = {
    "court_prohibition_breach": ("违反人民法院禁止令", "breach of a court prohibition order"),
    "left_area_without_approval": ("无正当理由，未经批准离开所居住的市、县",
                                   "leaving the city or county of residence without approval"),
    "refused_report_after_warning": ("拒不按照规定报告自己的活动情况，被给予警告",
                                     "refusing to report after a warning"),
    "public_security_penalty": ("违反监督管理规定，被给予治安管理处罚",
                                "a public-security penalty for breaching supervision rules"),
    "revocation_sought": ("拟提请撤销缓刑、假释或者暂予监外执行",
                          "revocation of probation, parole or medical parole being sought"),
}


async def act_as(conn: psycopg.AsyncConnection, actor: str, reason: str | None = None) -> None:
    """Name who acts (and why) for the database's history triggers, for this transaction."""
    await conn.execute("SELECT set_config('cordon.actor', %s, true), "
                       "set_config('cordon.reason', %s, true)", (actor, reason or ""))


async def supervisee_row(conn: psycopg.AsyncConnection, supervisee_id: str
                         ) -> dict[str, Any] | None:
    """The person's jurisdiction and whether released, their row locked until the transaction
    ends (two writes to one person are served one after the other)."""
    cur = await conn.execute(
        "SELECT jurisdiction_id, released_at FROM supervisees WHERE id = %s FOR UPDATE",
        (supervisee_id,))
    row = await cur.fetchone()
    return None if row is None else {"jurisdiction_id": row[0], "released": row[1] is not None}


async def insert_supervisee(conn: psycopg.AsyncConnection, supervisee_id: str, name: str,
                            jurisdiction_id: str, plan_id: str | None) -> bool:
    """A new supervisee; False (nothing changed) if the id is taken."""
    cur = await conn.execute(
        "INSERT INTO supervisees (id, name, jurisdiction_id, plan_id) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING", (supervisee_id, name, jurisdiction_id, plan_id))
    return cur.rowcount > 0


async def update_supervisee(conn: psycopg.AsyncConnection, supervisee_id: str,
                            fields: dict[str, Any]) -> None:
    """Set ``name``, ``plan_id`` and/or ``home_zone_id`` (the keys given)."""
    for column in ("name", "plan_id", "home_zone_id"):
        if column in fields:
            await conn.execute(f"UPDATE supervisees SET {column} = %s WHERE id = %s",
                               (fields[column], supervisee_id))


async def set_zones(conn: psycopg.AsyncConnection, supervisee_id: str,
                    zone_ids: list[str]) -> None:
    await conn.execute("DELETE FROM supervisee_zones WHERE supervisee_id = %s", (supervisee_id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO supervisee_zones (supervisee_id, zone_id) VALUES (%s, %s)",
            [(supervisee_id, z) for z in sorted(set(zone_ids))])


async def zone_owners(conn: psycopg.AsyncConnection, zone_ids: list[str]
                      ) -> dict[str, str | None]:
    """Zone id → its jurisdiction (None: shared), of the zones that exist."""
    cur = await conn.execute("SELECT id, jurisdiction_id FROM zones WHERE id = ANY(%s)",
                             (zone_ids,))
    return {r[0]: r[1] for r in await cur.fetchall()}


async def zone_exists(conn: psycopg.AsyncConnection, zone_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM zones WHERE id = %s", (zone_id,))
    return await cur.fetchone() is not None


# --- devices ------------------------------------------------------------------------------------


async def device_row(conn: psycopg.AsyncConnection, device_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT kind, supervisee_id, victim_id, retired_at IS NOT NULL FROM devices "
        "WHERE id = %s FOR UPDATE", (device_id,))
    row = await cur.fetchone()
    return None if row is None else {"kind": row[0], "supervisee_id": row[1],
                                     "victim_id": row[2], "retired": row[3]}


async def assign_device(conn: psycopg.AsyncConnection, supervisee_id: str, device_id: str,
                        kind: str, report_interval_s: float | None) -> str | None:
    """Give a device to the person: a new one, or a retired one back in service. Returns why
    not (a device in service, or a victim's), or None when done."""
    found = await device_row(conn, device_id)
    if found is None:
        await conn.execute(
            "INSERT INTO devices (id, supervisee_id, kind, report_interval_s) "
            "VALUES (%s, %s, %s, %s)", (device_id, supervisee_id, kind, report_interval_s))
        return None
    if found["victim_id"] is not None:
        return f"device {device_id} is a protected victim's phone"
    if not found["retired"]:
        return (f"device {device_id} is in service (worn by "
                f"{'this person' if found['supervisee_id'] == supervisee_id else 'someone'}"
                "): retire or swap it first")
    await conn.execute(
        "UPDATE devices SET supervisee_id = %s, kind = %s, report_interval_s = %s, "
        "retired_at = NULL WHERE id = %s", (supervisee_id, kind, report_interval_s, device_id))
    return None


async def retire_device(conn: psycopg.AsyncConnection, device_id: str) -> None:
    """Out of service: leaves the engine and the broker; its pairing goes with it."""
    await conn.execute("UPDATE devices SET retired_at = now() WHERE id = %s "
                       "AND retired_at IS NULL", (device_id,))
    await conn.execute("DELETE FROM pairings WHERE bracelet_id = %s OR phone_id = %s",
                       (device_id, device_id))


async def pairing_of(conn: psycopg.AsyncConnection, device_id: str) -> tuple[str, str] | None:
    cur = await conn.execute("SELECT bracelet_id, phone_id FROM pairings "
                             "WHERE bracelet_id = %s OR phone_id = %s", (device_id, device_id))
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def set_pairing(conn: psycopg.AsyncConnection, supervisee_id: str, bracelet_id: str,
                      phone_id: str) -> None:
    await conn.execute("DELETE FROM pairings WHERE supervisee_id = %s OR bracelet_id = %s "
                       "OR phone_id = %s", (supervisee_id, bracelet_id, phone_id))
    await conn.execute("INSERT INTO pairings (supervisee_id, bracelet_id, phone_id) "
                       "VALUES (%s, %s, %s)", (supervisee_id, bracelet_id, phone_id))


async def device_history(conn: psycopg.AsyncConnection, supervisee_id: str
                         ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT a.device_id, d.kind, extract(epoch FROM a.from_at)::float8, "
        "extract(epoch FROM a.to_at)::float8, a.assigned_by, a.ended_by, a.end_reason "
        "FROM device_assignments a JOIN devices d ON d.id = a.device_id "
        "WHERE a.supervisee_id = %s ORDER BY a.from_at, a.id", (supervisee_id,))
    return [{"device_id": r[0], "kind": r[1], "from": r[2], "to": r[3], "assigned_by": r[4],
             "ended_by": r[5], "end_reason": r[6]} for r in await cur.fetchall()]


# --- victims and protection orders -------------------------------------------------------------


async def add_protection_order(conn: psycopg.AsyncConnection, supervisee_id: str,
                               jurisdiction_id: str, victim_id: str, victim_name: str,
                               device_id: str, enter_m: float, exit_m: float) -> str | None:
    """A protected victim carrying ``device_id`` (a phone, registered here if new); returns why
    not, or None."""
    cur = await conn.execute("SELECT jurisdiction_id FROM victims WHERE id = %s", (victim_id,))
    row = await cur.fetchone()
    if row is not None and row[0] != jurisdiction_id:
        return f"victim {victim_id} is registered in another jurisdiction"
    await conn.execute(
        "INSERT INTO victims (id, name, jurisdiction_id) VALUES (%s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name", (victim_id, victim_name,
                                                                 jurisdiction_id))
    found = await device_row(conn, device_id)
    if found is None:
        await conn.execute("INSERT INTO devices (id, victim_id, kind) VALUES (%s, %s, 'phone')",
                           (device_id, victim_id))
    elif found["victim_id"] != victim_id:
        return f"device {device_id} is not the phone of victim {victim_id}"
    elif found["retired"]:
        await conn.execute("UPDATE devices SET retired_at = NULL WHERE id = %s", (device_id,))
    await conn.execute(
        "INSERT INTO protection_orders (supervisee_id, victim_id, device_id, enter_m, exit_m) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (supervisee_id, victim_id) DO UPDATE SET "
        "device_id = excluded.device_id, enter_m = excluded.enter_m, exit_m = excluded.exit_m",
        (supervisee_id, victim_id, device_id, enter_m, exit_m))
    return None


async def remove_protection_order(conn: psycopg.AsyncConnection, supervisee_id: str,
                                  victim_id: str) -> bool:
    cur = await conn.execute("DELETE FROM protection_orders WHERE supervisee_id = %s AND "
                             "victim_id = %s RETURNING device_id", (supervisee_id, victim_id))
    row = await cur.fetchone()
    if row is None:
        return False
    await _retire_unused_victim_phones(conn, [row[0]])
    return True


async def _retire_unused_victim_phones(conn: psycopg.AsyncConnection,
                                       device_ids: list[str]) -> None:
    """A victim's phone protects from nobody any more: out of service."""
    await conn.execute(
        "UPDATE devices d SET retired_at = now() WHERE d.id = ANY(%s) AND d.retired_at IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM protection_orders o JOIN supervisees s "
        "ON s.id = o.supervisee_id WHERE o.device_id = d.id AND s.released_at IS NULL)",
        (device_ids,))


async def protection_orders(conn: psycopg.AsyncConnection, supervisee_id: str
                            ) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT o.victim_id, v.name, o.device_id, o.enter_m, o.exit_m FROM protection_orders o "
        "JOIN victims v ON v.id = o.victim_id WHERE o.supervisee_id = %s ORDER BY o.victim_id",
        (supervisee_id,))
    return [{"victim_id": r[0], "victim_name": r[1], "device_id": r[2], "enter_m": r[3],
             "exit_m": r[4]} for r in await cur.fetchall()]


_NEWEST_FIX = (
    "LEFT JOIN LATERAL (SELECT f.device_id, extract(epoch FROM f.ts)::float8 AS ts, f.lon, "
    "f.lat, f.accuracy_m FROM fixes f WHERE f.device_id = {dev} "
    "AND f.ts > now() - make_interval(secs => %s) ORDER BY f.ts DESC LIMIT 1) f ON true")


def _fix(row: tuple[Any, ...]) -> dict[str, Any] | None:
    if row[0] is None:
        return None
    return {"device_id": row[0], "ts": row[1], "lon": row[2], "lat": row[3],
            "accuracy_m": row[4]}


async def victim_zones(conn: psycopg.AsyncConnection, supervisee_id: str, since_s: float
                       ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The person's newest fix (any of their devices in service), and for each protection
    order the victim's phone's newest fix, both within ``since_s``: the moving zone."""
    cur = await conn.execute(
        "SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM devices d "
        + _NEWEST_FIX.format(dev="d.id")
        + " WHERE d.supervisee_id = %s AND d.retired_at IS NULL AND f.device_id IS NOT NULL "
        "ORDER BY f.ts DESC LIMIT 1", (since_s, supervisee_id))
    row = await cur.fetchone()
    person = _fix(row) if row else None
    cur = await conn.execute(
        "SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m, o.victim_id, o.device_id, "
        "o.enter_m, o.exit_m FROM protection_orders o " + _NEWEST_FIX.format(dev="o.device_id")
        + " WHERE o.supervisee_id = %s ORDER BY o.victim_id", (since_s, supervisee_id))
    orders = [{"victim_id": r[5], "device_id": r[6], "enter_m": r[7], "exit_m": r[8],
               "fix": _fix(r[:5])} for r in await cur.fetchall()]
    return person, orders


# --- release ------------------------------------------------------------------------------------


async def release(conn: psycopg.AsyncConnection, supervisee_id: str, actor: str,
                  reason: str) -> dict[str, Any]:
    """End supervision (解矫): the record stays, read-only; every device is retired (it leaves
    the engine and the broker's credentials at the registry's next check), pairings go,
    positioning orders in force end, victims' phones that protect from nobody else are
    retired, and live alerts are resolved by the releasing officer."""
    await act_as(conn, actor, f"released: {reason}")
    await conn.execute("UPDATE supervisees SET released_at = now(), release_reason = %s, "
                       "released_by = %s WHERE id = %s", (reason, actor, supervisee_id))
    cur = await conn.execute("UPDATE devices SET retired_at = now() WHERE supervisee_id = %s "
                             "AND retired_at IS NULL RETURNING id", (supervisee_id,))
    retired = sorted(r[0] for r in await cur.fetchall())
    await conn.execute("DELETE FROM pairings WHERE supervisee_id = %s", (supervisee_id,))
    cur = await conn.execute("SELECT device_id FROM protection_orders WHERE supervisee_id = %s",
                             (supervisee_id,))
    await _retire_unused_victim_phones(conn, [r[0] for r in await cur.fetchall()])
    cur = await conn.execute(
        "UPDATE positioning_orders SET removed_at = now(), removal_reason = %s "
        "WHERE supervisee_id = %s AND removed_at IS NULL AND ends_at > now() RETURNING id",
        (f"released: {reason}", supervisee_id))
    ended = sorted(r[0] for r in await cur.fetchall())
    cur = await conn.execute(
        "UPDATE alerts SET status = 'resolved', updated_at = now() WHERE supervisee_id = %s "
        "AND status IN ('open', 'acknowledged') RETURNING id", (supervisee_id,))
    resolved = sorted(r[0] for r in await cur.fetchall())
    async with conn.cursor() as c:
        await c.executemany(
            "INSERT INTO alert_events (alert_id, action, actor, note) "
            "VALUES (%s, 'resolved', %s, %s)",
            [(a, actor, f"supervision ended (released): {reason}") for a in resolved])
    return {"devices_retired": retired, "orders_ended": ended, "alerts_resolved": resolved}


# --- positioning orders -------------------------------------------------------------------------


async def approver_may(conn: psycopg.AsyncConnection, username: str,
                       jurisdiction_id: str) -> bool:
    """Whether the named account exists, is enabled, and holds the supervisor or admin role
    on the jurisdiction (there or above it)."""
    user = await user_by_name(conn, username)
    if user is None or user.disabled:
        return False
    role = (await reach_of(conn, user.id)).get(jurisdiction_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK["supervisor"]


_ORDER = (
    "SELECT o.id, o.supervisee_id, s.name, s.jurisdiction_id, o.ground, o.approver, "
    "extract(epoch FROM o.starts_at)::float8, extract(epoch FROM o.ends_at)::float8, o.renews, "
    "o.assessment, o.note, extract(epoch FROM o.removed_at)::float8, o.removal_reason, "
    "o.created_by, extract(epoch FROM o.created_at)::float8, "
    "o.starts_at <= now() AND now() < least(o.ends_at, o.removed_at) "
    "FROM positioning_orders o JOIN supervisees s ON s.id = o.supervisee_id "
)


def _order(r: tuple) -> dict[str, Any]:
    zh, en = ORDER_GROUNDS[r[4]]
    return {"id": r[0], "supervisee_id": r[1], "supervisee_name": r[2], "jurisdiction_id": r[3],
            "ground": r[4], "ground_label": {"zh-CN": zh, "en": en}, "approver": r[5],
            "starts_at": r[6], "ends_at": r[7], "renews": r[8], "assessment": r[9],
            "note": r[10], "removed_at": r[11], "removal_reason": r[12], "created_by": r[13],
            "created_at": r[14], "in_force": bool(r[15])}


async def insert_order(conn: psycopg.AsyncConnection, supervisee_id: str, ground: str,
                       approver: str, starts_at: float, ends_at: float, actor: str, *,
                       renews: int | None = None, assessment: str | None = None,
                       note: str | None = None) -> int:
    cur = await conn.execute(
        "INSERT INTO positioning_orders (supervisee_id, ground, approver, starts_at, ends_at, "
        "renews, assessment, note, created_by) VALUES (%s, %s, %s, to_timestamp(%s), "
        "to_timestamp(%s), %s, %s, %s, %s) RETURNING id",
        (supervisee_id, ground, approver, starts_at, ends_at, renews, assessment, note, actor))
    return (await cur.fetchone())[0]


async def order(conn: psycopg.AsyncConnection, order_id: int, *, lock: bool = False
                ) -> dict[str, Any] | None:
    cur = await conn.execute(_ORDER + "WHERE o.id = %s" + (" FOR UPDATE OF o" if lock else ""),
                             (order_id,))
    row = await cur.fetchone()
    return _order(row) if row else None


async def renewed(conn: psycopg.AsyncConnection, order_id: int) -> bool:
    """Whether a renewal of the order, not removed, exists."""
    cur = await conn.execute("SELECT 1 FROM positioning_orders WHERE renews = %s AND "
                             "removed_at IS NULL", (order_id,))
    return await cur.fetchone() is not None


async def remove_order(conn: psycopg.AsyncConnection, order_id: int, reason: str) -> None:
    await conn.execute("UPDATE positioning_orders SET removed_at = greatest(now(), starts_at), "
                       "removal_reason = %s WHERE id = %s", (reason, order_id))


async def orders(conn: psycopg.AsyncConnection, within: list[str], *,
                 supervisee_id: str | None = None, in_force: bool = True,
                 limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    """Orders of supervisees of those jurisdictions: only those in force now (a report per
    county), or every order of one person (``in_force=False``)."""
    cur = await conn.execute(
        _ORDER + "WHERE s.jurisdiction_id = ANY(%s) "
        "AND (%s::text IS NULL OR o.supervisee_id = %s) "
        "AND (NOT %s OR (o.starts_at <= now() AND now() < least(o.ends_at, o.removed_at))) "
        "ORDER BY s.jurisdiction_id, o.ends_at, o.id LIMIT %s OFFSET %s",
        (within, supervisee_id, supervisee_id, in_force, limit, offset))
    return [_order(r) for r in await cur.fetchall()]
