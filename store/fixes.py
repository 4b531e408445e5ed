"""Fixes: stored idempotently by binary COPY, read back as latest positions."""

from __future__ import annotations

import struct
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import psycopg

from alerts.activity import RECENT_FIXES, Activity
from devices.fixes import Fix, FixBatch
from history.cells import cells_of

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS fixes_staging "
    "(LIKE fixes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
# The order of the columns in the COPY stream: the fixed-width ones first, then the text.
_COPY_COLUMNS = "ts, received_at, lon, lat, cell, accuracy_m, battery, source, device_id"
_COLUMNS = "device_id, ts, received_at, lon, lat, cell, accuracy_m, battery, source"
COPY_COLUMNS_WITHOUT_CELL = _COPY_COLUMNS.replace(" cell,", "")
_PG_EPOCH = 946_684_800.0  # 2000-01-01T00:00:00Z, where PostgreSQL's timestamps count from
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)


def _row_type(source_len: int, device_len: int, battery: bool, cell: bool = True) -> np.dtype:
    """One COPY row as a NumPy record: field count, then (length, value) per column."""
    return np.dtype([
        ("n", ">i2"),
        ("ts_len", ">i4"), ("ts", ">i8"),
        ("received_len", ">i4"), ("received", ">i8"),
        ("lon_len", ">i4"), ("lon", ">f8"),
        ("lat_len", ">i4"), ("lat", ">f8"),
        *([("cell_len", ">i4"), ("cell", ">i8")] if cell else []),
        ("acc_len", ">i4"), ("acc", ">f4"),
        ("battery_len", ">i4"), *([("battery", ">f4")] if battery else []),  # -1: NULL
        ("source_len", ">i4"), ("source", f"S{source_len}"),
        ("device_len", ">i4"), ("device", f"S{device_len}"),
    ])


def copy_buffer(batch: FixBatch, cells: bool = True) -> bytes:
    """The fixes as one PostgreSQL binary COPY stream (columns in ``_COPY_COLUMNS`` order).

    Built with NumPy, not row by row: at 100,000 fixes a second the per-row Python of a
    generic COPY writer would cost more than the rest of the engine. Rows whose text fields
    have the same lengths (and whose battery is or is not reported) form one record array; a
    batch has a few such groups. Each fix carries its H3 cell (:mod:`history.cells`) for the
    "who was near" search (``cells=False``: the stream without that column, as before
    migration 0008 — the history benchmark measures what the cells cost at insert).

    >>> from devices.fixes import Fix
    >>> b = FixBatch.from_fixes([Fix("d1", 0.0, 1.0, 2.0, 5.0, 80.0, 0.0, "native")])
    >>> len(copy_buffer(b)), copy_buffer(b).endswith(b"native\\x00\\x00\\x00\\x02d1\\xff\\xff")
    (115, True)
    """
    device = _utf8(batch.device_id)
    source = _utf8(batch.source)
    device_len = np.char.str_len(device)
    source_len = np.char.str_len(source)
    has_battery = ~np.isnan(batch.battery)
    cell = cells_of(batch.lon, batch.lat) if cells else None
    key = (device_len.astype(np.int64) << 17) | (source_len.astype(np.int64) << 1) | has_battery
    parts = [_HEADER]
    for k in np.unique(key).tolist():
        rows = np.flatnonzero(key == k)
        battery = bool(k & 1)
        out = np.empty(len(rows), dtype=_row_type((k >> 1) & 0xFFFF, k >> 17, battery,
                                                  cell is not None))
        out["n"] = 8 if cell is None else 9
        out["ts_len"] = out["received_len"] = out["lon_len"] = out["lat_len"] = 8
        if cell is not None:
            out["cell_len"] = 8
            out["cell"] = cell[rows]
        out["acc_len"] = 4
        out["ts"] = np.rint((batch.ts[rows] - _PG_EPOCH) * 1e6)
        out["received"] = np.rint((batch.received_at[rows] - _PG_EPOCH) * 1e6)
        out["lon"] = batch.lon[rows]
        out["lat"] = batch.lat[rows]
        out["acc"] = batch.accuracy_m[rows]
        if battery:
            out["battery_len"] = 4
            out["battery"] = batch.battery[rows]
        else:
            out["battery_len"] = -1
        out["source_len"] = (k >> 1) & 0xFFFF
        out["source"] = source[rows]
        out["device_len"] = k >> 17
        out["device"] = device[rows]
        parts.append(out.tobytes())
    parts.append(_TRAILER)
    return b"".join(parts)


def _utf8(text: np.ndarray) -> np.ndarray:
    """Strings as a fixed-width bytes array (UTF-8)."""
    try:
        return text.astype(np.bytes_)  # ASCII, the usual case, without a Python loop
    except UnicodeEncodeError:
        return np.array([t.encode() for t in text.tolist()], dtype=np.bytes_)


async def insert_fixes(conn: psycopg.AsyncConnection, fixes: FixBatch | Sequence[Fix],
                       now: float | None = None) -> int:
    """Store fixes once each; return how many were new (the rest were already stored). Late
    fixes are counted (:func:`mark_late`, ``now`` default the time).

    Runs in the caller's transaction. See :func:`insert_copy`.
    """
    batch = fixes if isinstance(fixes, FixBatch) else FixBatch.from_fixes(fixes)
    if not len(batch):
        return 0
    stored = await insert_copy(conn, copy_buffer(batch))
    await mark_late(conn, batch, time.time() if now is None else now)
    return stored


# A fix is late when its UTC day is over, or ends within this margin: a reader on a clock this
# much ahead, or a transaction this slow, still sees every fix not counted as late.
LATE_MARGIN_S = 120.0


async def mark_late(conn: psycopg.AsyncConnection, batch: FixBatch, now: float) -> int:
    """Count the fixes of ``batch`` whose UTC day is over by ``now`` (with
    :data:`LATE_MARGIN_S`) in ``late_fixes``, per device and day, in the caller's transaction
    — the one that stores them. What was kept of those days (migration 0023) is then made
    again when next read. Live fixes cost one comparison a batch. Returns how many were late.

    >>> cutoff_of(86_400.0 * 3 + 50.0)  # a minute after midnight: yesterday is over
    259200.0
    """
    late = batch.ts < cutoff_of(now)
    if not late.any():
        return 0
    days = (batch.ts[late] // 86_400.0).astype(np.int64)
    counts = Counter(zip(batch.device_id[late].tolist(), days.tolist(), strict=True))
    await conn.execute(
        "INSERT INTO late_fixes (device_id, day, fixes) SELECT d, date '1970-01-01' + n, c"
        " FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS v(d, n, c)"
        " ON CONFLICT (device_id, day) DO UPDATE SET fixes = late_fixes.fixes + EXCLUDED.fixes",
        ([k[0] for k in counts], [k[1] for k in counts], list(counts.values())))
    return int(late.sum())


def cutoff_of(now: float) -> float:
    """The start of the UTC day that is not over by ``now`` + :data:`LATE_MARGIN_S`: fixes
    before it are late."""
    return float(np.floor((now + LATE_MARGIN_S) / 86_400.0) * 86_400.0)


async def insert_copy(conn: psycopg.AsyncConnection, buffer: bytes) -> int:
    """:func:`insert_fixes` with the COPY stream already built by :func:`copy_buffer`.

    The stream is copied straight into ``fixes`` under a savepoint: almost always every fix is
    new, and that is the fastest way in. If one is not (a redelivery after a crash, a repeat),
    the unique key on (device_id, ts) refuses the COPY, the savepoint rolls it back, and the
    fixes go through a session-private staging table and INSERT … ON CONFLICT DO NOTHING.
    """
    try:
        async with conn.transaction(), conn.cursor() as cur:
            async with cur.copy(f"COPY fixes ({_COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
                await cp.write(buffer)
            return cur.rowcount
    except psycopg.errors.UniqueViolation:
        pass
    await conn.execute(_STAGING)
    async with conn.cursor() as cur:
        async with cur.copy(
            f"COPY fixes_staging ({_COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        ) as cp:
            await cp.write(buffer)
        await cur.execute(
            f"INSERT INTO fixes ({_COLUMNS}) SELECT DISTINCT ON (device_id, ts) {_COLUMNS} "
            "FROM fixes_staging ORDER BY device_id, ts ON CONFLICT (device_id, ts) DO NOTHING"
        )
        stored = cur.rowcount
        await cur.execute("TRUNCATE fixes_staging")
    return stored


async def drop_fixes_older_than(conn: psycopg.AsyncConnection, days: float) -> int:
    """Retention: drop fixes older than ``days``. On TimescaleDB whole chunks go
    (``drop_chunks``, no row-by-row delete; the Apache build has no retention policies, so the
    engine calls this on a schedule); on plain PostgreSQL the rows are deleted. Returns the
    number of chunks dropped, or of rows deleted.

    What was kept of those days goes too (a kept day holds positions: the thinned track,
    migration 0023): every kept day that began before the cut."""
    for table in ("kept_tracks", "kept_coverage", "late_fixes"):
        await conn.execute(f"DELETE FROM {table} WHERE day <= "
                           "((now() - %s * interval '1 day') AT TIME ZONE 'UTC')::date", (days,))
    cur = await conn.execute(
        "SELECT count(*) FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = 'fixes'"
        if await _has_timescaledb(conn) else "SELECT 0"
    )
    if (await cur.fetchone())[0]:
        cur = await conn.execute(
            "SELECT count(*) FROM drop_chunks('fixes', "
            "older_than => now() - %s * interval '1 day')",
            (days,),
        )
        return (await cur.fetchone())[0]
    cur = await conn.execute(
        "DELETE FROM fixes WHERE ts < now() - %s * interval '1 day'", (days,)
    )
    return cur.rowcount


async def _has_timescaledb(conn: psycopg.AsyncConnection) -> bool:
    cur = await conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
    return (await cur.fetchone())[0] > 0


async def device_clocks(
    conn: psycopg.AsyncConnection, since_s: float = 2 * 86400.0, *,
    devices: Sequence[str] | None = None,
) -> dict[str, float]:
    """Fix time of the newest stored fix of each device seen in the last ``since_s`` seconds
    (``devices``: of those only, e.g. a partition taken over; None: every device)."""
    cur = await conn.execute(
        "SELECT device_id, extract(epoch FROM max(ts))::float8 FROM fixes "
        "WHERE ts > now() - make_interval(secs => %s) "
        "AND (%s::text[] IS NULL OR device_id = ANY(%s)) GROUP BY device_id",
        (since_s, devices, devices),
    )
    return {device: ts for device, ts in await cur.fetchall()}


class StoredEvents(NamedTuple):
    """Per device with stored events: the newest arrival (``received``) and event time
    (``ts``), and the newest battery reading of an event (NaN: none) with its time."""

    device_id: list[str]
    received: np.ndarray
    ts: np.ndarray
    battery: np.ndarray
    battery_ts: np.ndarray


class StoredActivity(NamedTuple):
    """What :func:`device_activity` read: each device's newest fixes (``device_id``, ``ts``,
    ``lon``, ``lat``, ``accuracy_m``, ``battery``, with ``received`` the newest arrival of any of
    its fixes), and what each device's events say of it."""

    device_id: list[str]
    ts: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy_m: np.ndarray
    battery: np.ndarray
    received: np.ndarray
    events: StoredEvents


async def device_activity(conn: psycopg.AsyncConnection, since_s: float = 2 * 86400.0,
                          fixes_per_device: int = RECENT_FIXES, *,
                          devices: Sequence[str] | None = None) -> StoredActivity:
    """Per device seen in the last ``since_s`` seconds, its newest ``fixes_per_device`` fixes
    and when it was last heard from — what :class:`~alerts.activity.Activity` holds, rebuilt
    at start (``devices``: of those only, e.g. a partition taken over; None: every device)."""
    cur = await conn.execute(
        "SELECT device_id, ts, lon, lat, accuracy_m, battery, received FROM ("
        " SELECT device_id, extract(epoch FROM ts)::float8 AS ts, lon, lat, accuracy_m, "
        " coalesce(battery, 'NaN'::real)::float8 AS battery, "
        " extract(epoch FROM max(received_at) OVER (PARTITION BY device_id))::float8 "
        " AS received, row_number() OVER (PARTITION BY device_id ORDER BY ts DESC) AS newest "
        " FROM fixes WHERE ts > now() - make_interval(secs => %s) "
        " AND (%s::text[] IS NULL OR device_id = ANY(%s))) f WHERE newest <= %s",
        (since_s, devices, devices, fixes_per_device),
    )
    rows = await cur.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7
    # A device heard only through its events (a bracelet on heartbeats indoors) must come back
    # with when it was heard and its battery, or the timers could never find it silent.
    cur = await conn.execute(
        "SELECT device_id, extract(epoch FROM max(received_at))::float8, "
        "extract(epoch FROM max(ts))::float8, "
        "coalesce((array_agg(battery ORDER BY ts DESC) "
        "FILTER (WHERE battery IS NOT NULL))[1], 'NaN'::real)::float8, "
        "coalesce(extract(epoch FROM max(ts) FILTER (WHERE battery IS NOT NULL))::float8, "
        "'NaN'::float8) "
        "FROM device_events WHERE ts > now() - make_interval(secs => %s) "
        "AND (%s::text[] IS NULL OR device_id = ANY(%s)) GROUP BY device_id",
        (since_s, devices, devices))
    rows = await cur.fetchall()
    events = list(zip(*rows, strict=True)) if rows else [()] * 5
    return StoredActivity(list(columns[0]),
                          *(np.asarray(c, dtype=np.float64) for c in columns[1:]),
                          StoredEvents(list(events[0]), *(np.asarray(c, dtype=np.float64)
                                                          for c in events[1:])))


def restored_activity(activity: Activity, stored: StoredActivity,
                      accuracy_factor: float = 1.0, numbers: Mapping[str, int] | None = None
                      ) -> Activity:
    """``activity`` with what :func:`device_activity` read filled in; accuracies scaled by
    ``accuracy_factor`` as the evaluator scales those of live fixes. ``numbers``: each
    device's number in ``activity``, when the caller holds them (the roster's)."""
    no = numbers if numbers is not None else {d: i for i, d in enumerate(activity.device_ids)}
    known = np.fromiter((d in no for d in stored.device_id), dtype=bool,
                        count=len(stored.device_id))
    device_no = np.fromiter((no[d] for d in stored.device_id if d in no), dtype=np.int64)
    activity.record_fixes(device_no, stored.ts[known], stored.lon[known], stored.lat[known],
                          stored.accuracy_m[known] * accuracy_factor, stored.battery[known],
                          stored.received[known])
    ev = stored.events
    known = np.fromiter((d in no for d in ev.device_id), dtype=bool, count=len(ev.device_id))
    device_no = np.fromiter((no[d] for d in ev.device_id if d in no), dtype=np.int64)
    activity.restore_messages(device_no, ev.received[known], ev.ts[known], ev.battery[known],
                              ev.battery_ts[known])
    return activity


async def latest_positions(
    conn: psycopg.AsyncConnection, since_s: float = 3600.0,
    jurisdictions: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The newest fix of every supervisee's device seen in the last ``since_s`` seconds
    (``jurisdictions``: only of supervisees there)."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (f.device_id) f.device_id, d.supervisee_id, "
        "extract(epoch FROM f.ts)::float8, f.lon, f.lat, f.accuracy_m, f.battery, "
        "s.jurisdiction_id FROM fixes f JOIN devices d ON d.id = f.device_id "
        "JOIN supervisees s ON s.id = d.supervisee_id "
        "WHERE f.ts > now() - make_interval(secs => %s) "
        "AND (%s::text[] IS NULL OR s.jurisdiction_id = ANY(%s)) "
        "ORDER BY f.device_id, f.ts DESC",
        (since_s, jurisdictions, jurisdictions),
    )
    return [
        {
            "device_id": r[0],
            "supervisee_id": r[1],
            "ts": r[2],
            "lon": r[3],
            "lat": r[4],
            "accuracy_m": r[5],
            "battery": r[6],
            "jurisdiction_id": r[7],
        }
        for r in await cur.fetchall()
    ]
