"""Reading fixes back for history: one person's fixes as arrays, who was near a point, and the
gaps in people's coverage. Each reads an index only (migration 0011) and gets its fixes as one
row of PostgreSQL arrays per device, parsed by NumPy: a month of a person is ~86,000 fixes, too
many to build as Python tuples within the 100 ms a track may take, and ``array_agg`` costs about
half what the rows of a binary COPY do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql

from history.near import Candidates, Nearby, nearby_planar
from history.near import coverage_gaps as person_gaps

_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 (PostgreSQL's epoch) in µs since 1970
_ROW = np.dtype([
    ("n", ">i2"),
    ("ts_len", ">i4"), ("ts", ">i8"),  # timestamptz: µs since 2000-01-01
    ("lon_len", ">i4"), ("lon", ">f8"),
    ("lat_len", ">i4"), ("lat", ">f8"),
    ("acc_len", ">i4"), ("acc", ">f4"),
    ("battery_len", ">i4"), ("battery", ">f4"),
    ("device_len", ">i4"), ("device", ">i4"),
])


class DeviceFixes:
    """Fixes of several devices as columns, in (device, time) order; ``device`` indexes
    ``device_ids``."""

    def __init__(self, device_ids: Sequence[str], device: np.ndarray, ts: np.ndarray,
                 lon: np.ndarray, lat: np.ndarray, accuracy_m: np.ndarray,
                 battery: np.ndarray):
        self.device_ids = list(device_ids)
        self.device, self.ts, self.lon, self.lat = device, ts, lon, lat
        self.accuracy_m, self.battery = accuracy_m, battery

    def __len__(self) -> int:
        return len(self.ts)


def epoch_s(pg_us: np.ndarray) -> np.ndarray:
    """Seconds since 1970 of timestamps in µs since 2000, as ``extract(epoch FROM ts)::float8``
    (one correctly rounded division of the exact µs count)."""
    return (pg_us.astype(np.int64) + _PG_EPOCH_US) / 1e6


async def device_fixes(conn: psycopg.AsyncConnection, device_ids: Sequence[str],
                       start: datetime, end: datetime, limit: int) -> DeviceFixes:
    """The fixes of ``device_ids`` in ``[start, end)``, at most ``limit`` (the earliest by
    device, then time).

    Read as one row of arrays per device (array_agg costs about half what the rows of a binary
    COPY do) from an index-only scan of the primary key, which carries the columns (migration
    0011), and put in order here: ordered in the database, a month of a person (~86,000 fixes)
    was sorted twice, on disk."""
    if not device_ids:
        return DeviceFixes([], *(np.zeros(0, dtype=t) for t in (np.int64, float, float, float,
                                                                   float, float)))
    async with conn.cursor(binary=True) as cur:
        await cur.execute(
            "SELECT d.no, a.ts, a.lon, a.lat, a.acc, a.battery "
            "FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS d(id, no) "
            "CROSS JOIN LATERAL (SELECT array_send(array_agg(f.ts)) AS ts, "
            " array_send(array_agg(f.lon)) AS lon, array_send(array_agg(f.lat)) AS lat, "
            " array_send(array_agg(f.accuracy_m)) AS acc, "
            " array_send(array_agg(coalesce(f.battery, 'NaN'::real))) AS battery FROM fixes f "
            " WHERE f.device_id = d.id AND f.ts >= %(start)s AND f.ts < %(end)s) a "
            "WHERE a.ts IS NOT NULL",
            {"ids": list(device_ids), "start": start, "end": end})
        got = await cur.fetchall()
    cols: list[list[np.ndarray]] = [[] for _ in range(6)]
    for no, *arrays in got:
        parts = [binary_array(b, t) for b, t in zip(arrays, (">i8", ">f8", ">f8", ">f4", ">f4"),
                                              strict=True)]
        if len({len(x) for x in parts}) != 1:
            raise RuntimeError("array_agg returned arrays of different lengths")
        cols[0].append(np.full(len(parts[0]), no - 1, dtype=np.int64))  # ORDINALITY: from 1
        for k, x in enumerate(parts):
            cols[k + 1].append(x)
    if sum(len(x) for x in cols[0]) > limit:  # which are the first ``limit``: the database's
        rows = await _copy_fixes(conn, device_ids, start, end, limit)
        cols = [[rows["device"].astype(np.int64) - 1]] + [[rows[k]] for k in (
            "ts", "lon", "lat", "acc", "battery")]
    if not cols[0]:
        return DeviceFixes(device_ids, *(np.zeros(0, dtype=t) for t in (
            np.int64, float, float, float, float, float)))
    device, ts, lon, lat, acc, battery = (np.concatenate(c) for c in cols)
    ts = ts.astype(np.int64)
    order = np.lexsort((ts, device))
    return DeviceFixes(device_ids, device[order], epoch_s(ts[order]),
                       lon[order].astype(np.float64), lat[order].astype(np.float64),
                       acc[order].astype(np.float64), battery[order].astype(np.float64))


async def span_fixes(conn: psycopg.AsyncConnection,
                     spans: Sequence[tuple[str, datetime, datetime]]) -> list[DeviceFixes]:
    """The fixes of each (device, start, end) in time order, each span its own
    :class:`DeviceFixes` of one device — one row of arrays per span, from the primary key's
    index-only scan, as :func:`device_fixes` reads them."""
    if not spans:
        return []
    async with conn.cursor(binary=True) as cur:
        await cur.execute(
            "SELECT q.no, a.ts, a.lon, a.lat, a.acc, a.battery "
            "FROM unnest(%(dev)s::text[], %(lo)s::timestamptz[], %(hi)s::timestamptz[]) "
            "WITH ORDINALITY AS q(dev, lo, hi, no) "
            "CROSS JOIN LATERAL (SELECT array_send(array_agg(f.ts)) AS ts, "
            " array_send(array_agg(f.lon)) AS lon, array_send(array_agg(f.lat)) AS lat, "
            " array_send(array_agg(f.accuracy_m)) AS acc, "
            " array_send(array_agg(coalesce(f.battery, 'NaN'::real))) AS battery FROM fixes f "
            " WHERE f.device_id = q.dev AND f.ts >= q.lo AND f.ts < q.hi) a "
            "WHERE a.ts IS NOT NULL",
            {"dev": [s[0] for s in spans], "lo": [s[1] for s in spans],
             "hi": [s[2] for s in spans]})
        got = {no: arrays for no, *arrays in await cur.fetchall()}
    out = []
    empty = [np.zeros(0, dtype=t) for t in (np.int64, float, float, float, float, float)]
    for no, (device_id, _, _) in enumerate(spans, start=1):
        if no not in got:  # (the empty arrays shared: a nightly pass meets many silent days)
            out.append(DeviceFixes([device_id], *empty))
            continue
        ts, lon, lat, acc, battery = (binary_array(b, t) for b, t in zip(
            got[no], (">i8", ">f8", ">f8", ">f4", ">f4"), strict=True))
        if len({len(ts), len(lon), len(lat), len(acc), len(battery)}) != 1:
            raise RuntimeError("array_agg returned arrays of different lengths")
        order = np.argsort(ts, kind="stable")
        out.append(DeviceFixes([device_id], np.zeros(len(ts), dtype=np.int64),
                               epoch_s(ts[order].astype(np.int64)),
                               lon[order].astype(np.float64), lat[order].astype(np.float64),
                               acc[order].astype(np.float64),
                               battery[order].astype(np.float64)))
    return out


async def _copy_fixes(conn: psycopg.AsyncConnection, device_ids: Sequence[str],
                      start: datetime, end: datetime, limit: int) -> np.ndarray:
    """The first ``limit`` fixes, by device then time, as a binary COPY parsed by NumPy."""
    query = sql.SQL(
        "COPY (SELECT f.ts, f.lon, f.lat, f.accuracy_m, coalesce(f.battery, 'NaN'::real), "
        "d.no::int4 FROM unnest({ids}::text[]) WITH ORDINALITY AS d(id, no) "
        "CROSS JOIN LATERAL (SELECT f.ts, f.lon, f.lat, f.accuracy_m, f.battery FROM fixes f "
        "WHERE f.device_id = d.id "
        "AND f.ts >= {start} AND f.ts < {end} {inner}) f {outer} LIMIT {limit}) "
        "TO STDOUT (FORMAT BINARY)"
    ).format(ids=sql.Literal(list(device_ids)), start=sql.Literal(start),
             end=sql.Literal(end), limit=sql.Literal(int(limit)),
             inner=sql.SQL("ORDER BY f.ts"), outer=sql.SQL("ORDER BY d.no, f.ts"))
    chunks = []
    async with conn.cursor() as cur, cur.copy(query) as copy:
        async for data in copy:
            chunks.append(bytes(data))
    buf = b"".join(chunks)
    body = buf[_COPY_HEADER:len(buf) - 2] if len(buf) > _COPY_HEADER else b""
    return np.frombuffer(body, dtype=_ROW)


async def supervisee_devices(conn: psycopg.AsyncConnection, supervisee_id: str) -> list[str]:
    cur = await conn.execute("SELECT id FROM devices WHERE supervisee_id = %s ORDER BY id",
                             (supervisee_id,))
    return [r[0] for r in await cur.fetchall()]


def _box(lon: float, lat: float, radius_m: float) -> dict[str, float]:
    dlat = (radius_m + 5.0) / 110_500.0
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    return {"w": lon - dlon, "e": lon + dlon, "s": lat - dlat, "n": lat + dlat}


# The fixes first, by the cell index (or, for fixes without a cell, by time), then whose they
# are: a materialised CTE keeps the planner from walking every device's primary key.
_HITS = (
    "WITH hits AS MATERIALIZED ("
    " SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f "
    " WHERE f.cell = ANY(%(cells)s::bigint[]) AND {box} "
    " UNION ALL SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f "
    " WHERE f.cell IS NULL AND {box}) "
).format(box="f.ts >= %(start)s AND f.ts < %(end)s AND f.lon BETWEEN %(w)s AND %(e)s "
             "AND f.lat BETWEEN %(s)s AND %(n)s")


async def near_candidates(conn: psycopg.AsyncConnection, cells: Sequence[int], lon: float,
                          lat: float, radius_m: float, start: datetime, end: datetime,
                          jurisdictions: Sequence[str]) -> Candidates:
    """Every fix of supervisees of ``jurisdictions`` in ``[start, end)`` lying in ``cells`` (the
    cover of the disk, see :func:`history.cells.disk_cover`) and in the disk's bounding box —
    plus fixes stored without a cell (before migration 0008) in that box: a superset of the
    disk, as rows (the reference :func:`history.near.nearby` narrows; the search uses
    :func:`near_summary`)."""
    params = {"cells": list(cells), "start": start, "end": end, "jur": list(jurisdictions),
              **_box(lon, lat, radius_m)}
    cur = await conn.execute(
        _HITS + "SELECT d.supervisee_id, h.device_id, extract(epoch FROM h.ts)::float8, h.lon, "
        "h.lat, h.accuracy_m::float8 FROM hits h JOIN devices d ON d.id = h.device_id "
        "JOIN supervisees s ON s.id = d.supervisee_id WHERE s.jurisdiction_id = ANY(%(jur)s)",
        params)
    return _candidates(await cur.fetchall())


def _candidates(rows: list[tuple]) -> Candidates:
    if not rows:
        empty = np.zeros(0)
        return Candidates(np.zeros(0, dtype=object), np.zeros(0, dtype=object), empty, empty,
                          empty, empty)
    cols = list(zip(*rows, strict=True))
    return Candidates(np.array(cols[0], dtype=object), np.array(cols[1], dtype=object),
                      *(np.asarray(c, dtype=np.float64) for c in cols[2:6]))


# Per device, its fixes in the cells (and box) as arrays: array_agg costs ~0.6 µs a fix where
# rows of a binary COPY cost ~1.2 and a sort with window functions in SQL ~5; the index carries
# every column read (migration 0011), so no heap page is touched. One Agg node feeds all four
# aggregates the same rows in the same order: the arrays line up. The rows are grouped by the
# device id's bytes (COLLATE "C"): sorting 30,000 fixes by the database's collation took a
# quarter of a month's search.
_NEAR = (
    "SELECT a.device_id, d.supervisee_id, a.ts, a.lon, a.lat, a.acc FROM ("
    " SELECT h.device_id COLLATE \"C\" AS device_id, array_send(array_agg(h.ts)) AS ts,"
    "  array_send(array_agg(h.lon)) AS lon,"
    "  array_send(array_agg(h.lat)) AS lat, array_send(array_agg(h.accuracy_m)) AS acc FROM ("
    "  SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f "
    "  WHERE f.cell = ANY(%(cells)s::bigint[]) AND {box} "
    "  UNION ALL SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f "
    "  WHERE f.cell IS NULL AND {box}) h GROUP BY 1) a "
    "JOIN devices d ON d.id = a.device_id JOIN supervisees s ON s.id = d.supervisee_id "
    "WHERE s.jurisdiction_id = ANY(%(jur)s)"
).format(box="f.ts >= %(start)s AND f.ts < %(end)s AND f.lon BETWEEN %(w)s AND %(e)s "
             "AND f.lat BETWEEN %(s)s AND %(n)s")


def binary_array(buf: bytes, item: str) -> np.ndarray:
    """The elements of a one-dimensional PostgreSQL array without NULLs in binary form (header:
    dimensions, flags, element type, then size and lower bound; each element: length, value)."""
    ndim = int.from_bytes(buf[:4], "big")
    if ndim == 0:
        return np.zeros(0, dtype=item)
    rows = np.frombuffer(buf, dtype=np.dtype([("len", ">i4"), ("v", item)]), offset=20)
    return rows["v"]


async def near_summary(conn: psycopg.AsyncConnection, cells: Sequence[int], lon: float,
                       lat: float, radius_m: float, start: datetime, end: datetime,
                       jurisdictions: Sequence[str], visit_gap_s: float = 600.0,
                       max_fixes: int = 100) -> list[Nearby]:
    """Who of the supervisees of ``jurisdictions`` had a fix within ``radius_m`` of (lon, lat)
    in ``[start, end)``, closest first: :func:`history.near.nearby` over
    :func:`near_candidates`, read as one row of arrays per device and computed with
    :func:`history.near.nearby_planar`."""
    params = {"cells": list(cells), "start": start, "end": end, "jur": list(jurisdictions),
              **_box(lon, lat, radius_m)}
    async with conn.cursor(binary=True) as cur:
        await cur.execute(_NEAR, params)
        rows = await cur.fetchall()
    if not rows:
        return []
    ts, lons, lats, acc, n = [], [], [], [], []
    for _, _, t, x, y, a in rows:
        ts.append(epoch_s(binary_array(t, ">i8")))
        lons.append(binary_array(x, ">f8"))
        lats.append(binary_array(y, ">f8"))
        acc.append(binary_array(a, ">f4"))
        n.append(len(ts[-1]))
        if not len(lons[-1]) == len(lats[-1]) == len(acc[-1]) == n[-1]:
            raise RuntimeError("array_agg returned arrays of different lengths")
    cand = Candidates(np.repeat(np.array([r[1] for r in rows], dtype=object), n),
                      np.repeat(np.array([r[0] for r in rows], dtype=object), n),
                      np.concatenate(ts), np.concatenate(lons).astype(np.float64),
                      np.concatenate(lats).astype(np.float64),
                      np.concatenate(acc).astype(np.float64))
    return nearby_planar(cand, lon, lat, radius_m, visit_gap_s, max_fixes)


async def coverage_gaps(conn: psycopg.AsyncConnection, supervisee_ids: Sequence[str],
                        start: datetime, end: datetime, gap_s: float, now: float | None = None
                        ) -> dict[str, list[tuple[float, float]]]:
    """Per supervisee, the stretches of ``[start, end)`` longer than ``gap_s`` in which none of
    their devices sent a fix (the window's ends count: no fix yet is a gap too; a person
    without any fix in the window has none; the window ends at ``now`` at the latest, default
    the time). Absence of fixes is not absence of the person.

    Every fix time of their devices is read — one array per device from its primary key, an
    index-only scan — and the steps are found by NumPy (:func:`history.near.coverage_gaps`):
    about half the time of ``lag()`` over the same rows in SQL. Still every fix: ~5 ms a device
    for a month at one a minute."""
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in supervisee_ids}
    if not supervisee_ids:
        return out
    async with conn.cursor(binary=True) as cur:
        await cur.execute(
            "SELECT d.supervisee_id, (SELECT array_send(array_agg(f.ts)) FROM fixes f "
            " WHERE f.device_id = d.id AND f.ts >= %(start)s AND f.ts < %(end)s) "
            "FROM devices d WHERE d.supervisee_id = ANY(%(ids)s)",
            {"ids": list(supervisee_ids), "start": start, "end": end})
        rows = await cur.fetchall()
    times: dict[str, list[np.ndarray]] = {s: [] for s in supervisee_ids}
    for sid, arr in rows:
        if arr is not None:
            times[sid].append(epoch_s(binary_array(arr, ">i8")))
    lo = start.timestamp()
    hi = min(end.timestamp(), datetime.now().timestamp() if now is None else now)
    for sid, parts in times.items():
        if parts:
            out[sid] = person_gaps(np.concatenate(parts), lo, hi, gap_s)
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


async def within_candidates(conn: psycopg.AsyncConnection, ranges: Sequence[tuple[int, int]],
                            bounds: tuple[float, float, float, float], start: datetime,
                            end: datetime, jurisdictions: Sequence[str]) -> Candidates:
    """Every fix of supervisees of ``jurisdictions`` in ``[start, end)`` whose cell lies in
    one of ``ranges`` (a polygon's cover, :func:`history.cells.polygon_cover`: one B-tree range
    per compacted cell), plus fixes stored without a cell inside ``bounds`` (minx, miny, maxx,
    maxy): a superset of the polygon's, narrowed by :func:`history.within.inside`."""
    minx, miny, maxx, maxy = bounds
    cur = await conn.execute(
        "WITH hits AS MATERIALIZED ("
        " SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m"
        " FROM unnest(%(lo)s::bigint[], %(hi)s::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL ("
        "  SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f"
        "  WHERE f.cell BETWEEN r.lo AND r.hi AND f.ts >= %(start)s AND f.ts < %(end)s) f"
        " UNION ALL SELECT f.device_id, f.ts, f.lon, f.lat, f.accuracy_m FROM fixes f"
        " WHERE f.cell IS NULL AND f.ts >= %(start)s AND f.ts < %(end)s"
        " AND f.lon BETWEEN %(w)s AND %(e)s AND f.lat BETWEEN %(s)s AND %(n)s) "
        "SELECT d.supervisee_id, h.device_id, extract(epoch FROM h.ts)::float8, h.lon, h.lat,"
        " h.accuracy_m::float8 FROM hits h JOIN devices d ON d.id = h.device_id"
        " JOIN supervisees s ON s.id = d.supervisee_id WHERE s.jurisdiction_id = ANY(%(jur)s)",
        {"lo": [r[0] for r in ranges], "hi": [r[1] for r in ranges], "start": start,
         "end": end, "jur": list(jurisdictions), "w": minx, "e": maxx, "s": miny, "n": maxy})
    return _candidates(await cur.fetchall())
