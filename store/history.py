"""Reading fixes back for history: one person's fixes as arrays (binary COPY out, parsed by
NumPy: a month of a person is ~90,000 rows, too many to build as Python tuples within the
100 ms a track may take), the candidates of a "who was near" search from the cell index, and
the gaps in people's coverage."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql

from history.near import Candidates

_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)
_ROW = np.dtype([
    ("n", ">i2"),
    ("ts_len", ">i4"), ("ts", ">f8"),
    ("lon_len", ">i4"), ("lon", ">f8"),
    ("lat_len", ">i4"), ("lat", ">f8"),
    ("acc_len", ">i4"), ("acc", ">f8"),
    ("battery_len", ">i4"), ("battery", ">f8"),
    ("device_len", ">i4"), ("device", ">i4"),
])


class DeviceFixes:
    """Fixes of several devices as columns, in (device, time) order; ``device`` indexes
    ``device_ids``."""

    def __init__(self, device_ids: Sequence[str], rows: np.ndarray):
        self.device_ids = list(device_ids)
        self.device = rows["device"].astype(np.int64)
        self.ts = rows["ts"].astype(np.float64)
        self.lon = rows["lon"].astype(np.float64)
        self.lat = rows["lat"].astype(np.float64)
        self.accuracy_m = rows["acc"].astype(np.float64)
        self.battery = rows["battery"].astype(np.float64)

    def __len__(self) -> int:
        return len(self.ts)


async def device_fixes(conn: psycopg.AsyncConnection, device_ids: Sequence[str],
                       start: datetime, end: datetime, limit: int) -> DeviceFixes:
    """The fixes of ``device_ids`` in ``[start, end)``, at most ``limit`` (the earliest by
    device, then time)."""
    if not device_ids:
        return DeviceFixes([], np.zeros(0, dtype=_ROW))
    query = sql.SQL(
        "COPY (SELECT extract(epoch FROM f.ts)::float8, f.lon, f.lat, f.accuracy_m::float8, "
        "coalesce(f.battery, 'NaN'::real)::float8, d.no::int4 FROM unnest({ids}::text[]) "
        "WITH ORDINALITY AS d(id, no) CROSS JOIN LATERAL (SELECT * FROM fixes f "
        "WHERE f.device_id = d.id AND f.ts >= {start} AND f.ts < {end} ORDER BY f.ts) f "
        "ORDER BY d.no, f.ts LIMIT {limit}) TO STDOUT (FORMAT BINARY)"
    ).format(ids=sql.Literal(list(device_ids)), start=sql.Literal(start),
             end=sql.Literal(end), limit=sql.Literal(int(limit)))
    chunks = []
    async with conn.cursor() as cur, cur.copy(query) as copy:
        async for data in copy:
            chunks.append(bytes(data))
    buf = b"".join(chunks)
    body = buf[_COPY_HEADER:len(buf) - 2] if len(buf) > _COPY_HEADER else b""
    rows = np.frombuffer(body, dtype=_ROW)
    out = rows.copy()
    out["device"] -= 1  # ORDINALITY counts from 1
    return DeviceFixes(device_ids, out)


async def supervisee_devices(conn: psycopg.AsyncConnection, supervisee_id: str) -> list[str]:
    cur = await conn.execute("SELECT id FROM devices WHERE supervisee_id = %s ORDER BY id",
                             (supervisee_id,))
    return [r[0] for r in await cur.fetchall()]


async def near_candidates(conn: psycopg.AsyncConnection, cells: Sequence[int], lon: float,
                          lat: float, radius_m: float, start: datetime, end: datetime,
                          jurisdictions: Sequence[str]) -> Candidates:
    """Fixes of supervisees of ``jurisdictions`` in ``[start, end)`` lying in ``cells`` (the
    cover of the disk, see :func:`history.cells.disk_cover`) and in the disk's bounding box —
    plus fixes stored without a cell (before migration 0008) in that box: a superset of the
    disk that :func:`history.near.nearby` narrows to the exact distance."""
    dlat = (radius_m + 5.0) / 110_500.0
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    params = {"cells": list(cells), "start": start, "end": end, "w": lon - dlon,
              "e": lon + dlon, "s": lat - dlat, "n": lat + dlat, "jur": list(jurisdictions)}
    # The fixes first, by the cell index (or, for fixes without a cell, by time), then whose
    # they are: a materialised CTE keeps the planner from walking every device's primary key.
    box = ("f.ts >= %(start)s AND f.ts < %(end)s AND f.lon BETWEEN %(w)s AND %(e)s "
           "AND f.lat BETWEEN %(s)s AND %(n)s")
    cur = await conn.execute(
        "WITH hits AS MATERIALIZED ("
        f" SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f "
        f" WHERE f.cell = ANY(%(cells)s::bigint[]) AND {box} "
        f" UNION ALL SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f "
        f" WHERE f.cell IS NULL AND {box}) "
        "SELECT d.supervisee_id, h.device_id, extract(epoch FROM h.ts)::float8, h.lon, h.lat, "
        "h.accuracy_m::float8 FROM hits h JOIN devices d ON d.id = h.device_id "
        "JOIN supervisees s ON s.id = d.supervisee_id WHERE s.jurisdiction_id = ANY(%(jur)s)",
        params)
    rows = await cur.fetchall()
    if not rows:
        empty = np.zeros(0)
        return Candidates(np.zeros(0, dtype=object), np.zeros(0, dtype=object), empty, empty,
                          empty, empty)
    cols = list(zip(*rows, strict=True))
    return Candidates(np.array(cols[0], dtype=object), np.array(cols[1], dtype=object),
                      *(np.asarray(c, dtype=np.float64) for c in cols[2:]))


async def coverage_gaps(conn: psycopg.AsyncConnection, supervisee_ids: Sequence[str],
                        start: datetime, end: datetime, gap_s: float
                        ) -> dict[str, list[tuple[float, float]]]:
    """Per supervisee, the stretches of ``[start, end)`` longer than ``gap_s`` in which none of
    their devices sent a fix (the window's ends count: no fix yet is a gap too). Absence of
    fixes is not absence of the person."""
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in supervisee_ids}
    if not supervisee_ids:
        return out
    lo, hi = start.timestamp(), end.timestamp()
    cur = await conn.execute(
        "SELECT sid, prev, ts, nxt FROM (SELECT d.supervisee_id AS sid, "
        " extract(epoch FROM f.ts)::float8 AS ts, "
        " extract(epoch FROM lag(f.ts) OVER w)::float8 AS prev, "
        " extract(epoch FROM lead(f.ts) OVER w)::float8 AS nxt "
        " FROM fixes f JOIN devices d ON d.id = f.device_id "
        " WHERE d.supervisee_id = ANY(%s) AND f.ts >= %s AND f.ts < %s "
        " WINDOW w AS (PARTITION BY d.supervisee_id ORDER BY f.ts)) g "
        "WHERE prev IS NULL OR nxt IS NULL OR ts - prev > %s ORDER BY sid, ts",
        (list(supervisee_ids), start, end, gap_s))
    now = datetime.now().timestamp()
    for sid, prev, ts, nxt in await cur.fetchall():
        if prev is None and ts - lo > gap_s:
            out[sid].append((lo, ts))
        if prev is not None and ts - prev > gap_s:
            out[sid].append((prev, ts))
        if nxt is None and min(hi, now) - ts > gap_s:
            out[sid].append((ts, min(hi, now)))
    return out


async def backfill_cells(conn: psycopg.AsyncConnection, batch: int = 20_000) -> int:
    """Give up to ``batch`` fixes stored without a cell (before migration 0008) their cell, in
    the caller's transaction (keep it short: call it again until it returns 0). Returns how
    many were filled."""
    from history.cells import cells_of

    cur = await conn.execute(
        "SELECT device_id, ts, lon, lat FROM fixes WHERE cell IS NULL ORDER BY ts LIMIT %s",
        (batch,))
    rows = await cur.fetchall()
    if not rows:
        return 0
    device, ts, lon, lat = zip(*rows, strict=True)
    cells = cells_of(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    cur = await conn.execute(
        "UPDATE fixes f SET cell = v.cell FROM unnest(%s::text[], %s::timestamptz[], "
        "%s::bigint[]) AS v(device_id, ts, cell) WHERE f.device_id = v.device_id "
        "AND f.ts = v.ts AND f.cell IS NULL", (list(device), list(ts), cells.tolist()))
    return cur.rowcount


async def plan_settings(conn: psycopg.AsyncConnection, supervisee_id: str) -> dict:
    """The settings of the supervisee's plan (``{}`` without one)."""
    cur = await conn.execute(
        "SELECT p.settings FROM supervisees s JOIN supervision_plans p ON p.id = s.plan_id "
        "WHERE s.id = %s", (supervisee_id,))
    row = await cur.fetchone()
    return dict(row[0]) if row and row[0] else {}


async def people(conn: psycopg.AsyncConnection, supervisee_ids: Sequence[str]
                 ) -> dict[str, tuple[str, str]]:
    """Supervisee id → (name, jurisdiction id)."""
    cur = await conn.execute("SELECT id, name, jurisdiction_id FROM supervisees "
                             "WHERE id = ANY(%s)", (list(supervisee_ids),))
    return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
