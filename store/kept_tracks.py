"""A person's track thinned in time, one UTC day of a device at a time, from kept levels
(migration 0023).

The track route thins a long range to at most ``max_points`` fixes at the smallest tolerance of
the series 5 m, 10 m, 20 m, … that fits (:func:`store.tracks.thinned`), by the synchronised
distance (:func:`history.thinning.significance_in_time`): every dropped fix lies within the
tolerance of the thinned track at its own time. A month of a person is ~86,000 fixes; read and
thinned on every request, that is most of the time a replay waits. So each device's day is
thinned on its own — its first and last fix always kept, which keeps the guarantee across
midnight — and a closed day is kept as

- ``fixes``: how many fixes the day holds (a kept day is used while no late fix has been
  stored for it since: ``late_fixes``, counted as fixes are stored, migration 0023);
- ``levels``: how many of them each tolerance of the series keeps;
- ``body``: the fixes kept at :data:`KEEP_FROM_M` and above, with their significance.

A request then sums the counts of its days, picks the tolerance from the levels, and reads only
what it keeps. Days not kept (or out of date) are read whole, thinned and kept; the
window's partial days and today are read whole. When the tolerance that fits is below
:data:`KEEP_FROM_M` (or nothing need be dropped), every fix is read: short or smooth ranges,
cheap to read anyway.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import psycopg

from history.thinning import significance_in_time
from store.coverage import DAY, whole_days
from store.history import DeviceFixes, span_fixes, supervisee_devices
from store.tracks import M_PER_DEGREE, Track

# The tolerance series of :func:`store.tracks.thinned`: 5 m doubled until past 100 km.
SERIES_M = tuple(5.0 * 2 ** k for k in range(16))
KEEP_FROM_M = 20.0
_KEEP_FROM_LEVEL = SERIES_M.index(KEEP_FROM_M)
_BODY = np.dtype([("ts", "<f8"), ("lon", "<f8"), ("lat", "<f8"), ("acc", "<f4"),
                  ("battery", "<f4"), ("sig", "<f8")])


@dataclass(slots=True)
class Piece:
    """One device's fixes of one day (or of a partial day) with their significance (degrees);
    ``complete``: all of them, else only those kept at :data:`KEEP_FROM_M` and above."""

    device_id: str
    day: date | None
    late: int  # late fixes of the day counted before these were read (migration 0023)
    fixes: int
    levels: np.ndarray  # fixes kept at each tolerance of SERIES_M
    ts: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy_m: np.ndarray
    battery: np.ndarray
    sig: np.ndarray
    complete: bool


def _levels(sig: np.ndarray) -> np.ndarray:
    return np.asarray([int(np.count_nonzero(sig > m / M_PER_DEGREE)) for m in SERIES_M],
                      dtype=np.int64)


def piece(device_id: str, day: date | None, got: DeviceFixes, late: int = 0) -> Piece:
    """A device's fixes of a day (or part of one) with their significance and levels."""
    sig = significance_in_time(got.ts, got.lon, got.lat, SERIES_M[0] / M_PER_DEGREE)
    return Piece(device_id, day, late, len(got), _levels(sig), got.ts, got.lon, got.lat,
                 got.accuracy_m, got.battery, sig, True)


def _body(p: Piece) -> bytes:
    keep = p.sig > KEEP_FROM_M / M_PER_DEGREE
    body = np.zeros(int(keep.sum()), dtype=_BODY)
    for name, col in (("ts", p.ts), ("lon", p.lon), ("lat", p.lat), ("acc", p.accuracy_m),
                      ("battery", p.battery), ("sig", p.sig)):
        body[name] = col[keep]
    return body.tobytes()


def _from_kept(device_id: str, day: date, fixes: int, levels: Sequence[int], body: bytes
               ) -> Piece:
    b = np.frombuffer(body, dtype=_BODY)
    return Piece(device_id, day, 0, fixes, np.asarray(levels, dtype=np.int64), b["ts"].copy(),
                 b["lon"].copy(), b["lat"].copy(), b["acc"].astype(np.float64),
                 b["battery"].astype(np.float64), b["sig"].copy(), False)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), UTC)


async def _pieces(conn: psycopg.AsyncConnection, device_ids: Sequence[str], start: datetime,
                  end: datetime, now: float) -> list[Piece]:
    """The pieces of ``[start, end)``: the days over by ``now`` as kept (thinned and kept now
    where missing or out of date), the rest read whole."""
    days = whole_days(start, min(end, datetime.fromtimestamp(now, UTC)))
    spans: list[tuple[str, date | None, datetime, datetime]] = []
    pieces: list[Piece] = []
    if not days:
        spans = [(dev, None, start, end) for dev in device_ids]
    else:
        lead, tail = _day_start(days[0]), _day_start(days[-1]) + DAY
        for dev in device_ids:
            if start < lead:
                spans.append((dev, None, start, lead))
            if tail < end:
                spans.append((dev, None, tail, end))
        pairs = [(dev, d) for dev in device_ids for d in days]
        async with conn.cursor(binary=True) as cur:
            await cur.execute(
                "SELECT q.no, k.late, k.fixes, k.levels, k.body, coalesce(l.fixes, 0)"
                " FROM unnest(%(dev)s::text[], %(day)s::date[]) WITH ORDINALITY"
                " AS q(dev, day, no)"
                " LEFT JOIN kept_tracks k ON k.device_id = q.dev AND k.day = q.day"
                " LEFT JOIN late_fixes l ON l.device_id = q.dev AND l.day = q.day",
                {"dev": [p[0] for p in pairs], "day": [p[1] for p in pairs]})
            rows = await cur.fetchall()
        stale = []
        for no, kept_late, n, levels, body, late in rows:
            dev, d = pairs[no - 1]
            if kept_late == late:
                if n:
                    pieces.append(_from_kept(dev, d, n, levels, body))
            else:  # the late count read before the fixes: a fix stored since shows
                stale.append((dev, d, late))
        fresh = [piece(dev, d, got, late) for (dev, d, late), got in zip(
            stale, await span_fixes(conn, [(dev, _day_start(d), _day_start(d) + DAY)
                                           for dev, d, _ in stale]), strict=True)]
        await keep(conn, fresh)
        pieces += [p for p in fresh if p.fixes]
    got = await span_fixes(conn, [(dev, lo, hi) for dev, _, lo, hi in spans])
    pieces += [piece(dev, d, g) for (dev, d, _, _), g in zip(spans, got, strict=True)
               if len(g)]
    return pieces


async def keep(conn: psycopg.AsyncConnection, pieces: Sequence[Piece]) -> None:
    """Keep the pieces of whole days."""
    if not pieces:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO kept_tracks (device_id, day, late, fixes, levels, body) VALUES"
            " (%s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, day) DO UPDATE SET"
            " late = EXCLUDED.late, fixes = EXCLUDED.fixes, levels = EXCLUDED.levels,"
            " body = EXCLUDED.body, computed_at = now()",
            [(p.device_id, p.day, p.late, p.fixes, p.levels.tolist(), _body(p))
             for p in pieces])


async def _completed(conn: psycopg.AsyncConnection, pieces: list[Piece]) -> list[Piece]:
    """Every piece with all its fixes (the kept ones read again whole)."""
    partial = [p for p in pieces if not p.complete]
    got = await span_fixes(conn, [(p.device_id, _day_start(p.day), _day_start(p.day) + DAY)
                                  for p in partial if p.day is not None])
    whole = iter(piece(p.device_id, p.day, g) for p, g in zip(partial, got, strict=True))
    return [p if p.complete else next(whole) for p in pieces]


@dataclass(slots=True)
class ThinnedTrack:
    tracks: list[Track]  # one per device, in time order
    tolerance_m: float  # 0: nothing dropped
    fixes: int  # in the range, before thinning


async def thinned_in_time(conn: psycopg.AsyncConnection, supervisee_id: str, start: datetime,
                          end: datetime, max_points: int, now: float | None = None
                          ) -> ThinnedTrack:
    """The supervisee's track over ``[start, end)`` thinned in time, day by day, to at most
    ``max_points`` fixes at the smallest tolerance of :data:`SERIES_M` that fits (the largest
    if none does: then each day of a device keeps its two ends). Days over by ``now`` (default
    the time) are read from what was kept of them."""
    devices = await supervisee_devices(conn, supervisee_id)
    now = time.time() if now is None else now
    pieces = await _pieces(conn, devices, start, end, now) if devices and end > start else []
    total = sum(p.fixes for p in pieces)
    if total <= max_points:
        pieces = await _completed(conn, pieces)
        return ThinnedTrack(_tracks(devices, pieces, None), 0.0, total)
    counts = np.sum([p.levels for p in pieces], axis=0)
    level = next((k for k, c in enumerate(counts.tolist()) if c <= max_points),
                 len(SERIES_M) - 1)
    if level < _KEEP_FROM_LEVEL:
        pieces = await _completed(conn, pieces)
    return ThinnedTrack(_tracks(devices, pieces, SERIES_M[level] / M_PER_DEGREE),
                        SERIES_M[level], total)


def _tracks(devices: Sequence[str], pieces: Sequence[Piece], tolerance: float | None
            ) -> list[Track]:
    out = []
    for dev in devices:
        mine = sorted((p for p in pieces if p.device_id == dev and p.fixes),
                      key=lambda p: float(p.ts[0]) if len(p.ts) else np.inf)
        if not mine:
            continue
        keep = [np.ones(len(p.ts), dtype=bool) if tolerance is None else p.sig > tolerance
                for p in mine]
        out.append(Track(dev, *(np.concatenate([getattr(p, c)[k] for p, k in zip(
            mine, keep, strict=True)]) for c in ("ts", "lon", "lat", "accuracy_m",
                                                  "battery"))))
    return [t for t in out if len(t)]
