"""Who was with whom, read from the fixes: one person against everyone (on request), and the
nightly pass over everyone that keeps the meetings it finds (the gathering history, 聚集).

Both place people minute by minute and find meetings as :mod:`history.together` defines them;
this module reads the fixes for it and keeps what the pass finds (migration 0018). The nightly
pass goes region by region (:mod:`history.regions`), so that it holds the people of one region
at a time, never a whole time zone, and raises what the real-time rule missed for review
(:mod:`store.missed_gatherings`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from history.cells import cells_of
from history.regions import (
    PAD_RESOLUTION,
    REGION_RESOLUTION,
    Occupancy,
    ancestor_bits,
    ancestors,
    padded_cells,
    resolution_of,
)
from history.together import Meeting, Placed, colocations, path_cells, with_person
from store.history import device_fixes
from store.missed_gatherings import raise_missed

log = logging.getLogger(__name__)

FETCH_LIMIT = 50_000_000
PROGRESS_EVERY_S = 10.0  # how often a long nightly pass says how far it is


@dataclass(frozen=True, slots=True)
class TogetherSettings:
    """``radius_m`` apart at most, for ``min_s`` at least; placed each ``step_s`` from a fix
    no more than ``hold_s`` older than the step (see :mod:`history.together`)."""

    radius_m: float = 50.0
    min_s: float = 1200.0
    step_s: float = 60.0
    hold_s: float = 300.0
    # The nightly pass (:func:`colocation_pass`): at most this many people placed at once
    # (a region holding more is cut finer), starting from regions of this H3 resolution.
    piece_people: int = 20_000
    region_resolution: int = REGION_RESOLUTION


async def place_people(conn: psycopg.AsyncConnection, supervisee_ids: Sequence[str],
                  start: datetime, end: datetime, s: TogetherSettings) -> tuple[Placed, int]:
    """Everyone of ``supervisee_ids`` placed over ``[start, end)`` from all their devices."""
    cur = await conn.execute(
        "SELECT id, supervisee_id FROM devices WHERE supervisee_id = ANY(%s) ORDER BY id",
        (list(supervisee_ids),))
    owner = dict(await cur.fetchall())
    ids = list(owner)
    got = await device_fixes(conn, ids, start - timedelta(seconds=s.hold_s), end, FETCH_LIMIT)
    person = np.array([owner[d] for d in ids], dtype=object)[got.device] if len(got) else \
        np.zeros(0, dtype=object)
    placed = await asyncio.to_thread(
        Placed.of, person, got.ts, got.lon, got.lat, start=start.timestamp(),
        end=end.timestamp(), step_s=s.step_s, hold_s=s.hold_s)
    return placed, len(got)


async def together_with(conn: psycopg.AsyncConnection, supervisee_id: str, start: datetime,
                        end: datetime, jurisdictions: Sequence[str],
                        s: TogetherSettings = TogetherSettings()) -> list[Meeting]:
    """The meetings of ``supervisee_id`` with the supervisees of ``jurisdictions`` over
    ``[start, end)``: the person is placed first; everyone with a fix in the cells around
    their path while they were there (the cell index, see :func:`history.together.path_cells`)
    is a candidate, and the candidates are placed from all their fixes — a fix away from the
    path ends a placement as it should."""
    me, _ = await place_people(conn, [supervisee_id], start, end, s)
    cells, t0, t1 = path_cells(me, supervisee_id, s.radius_m, s.hold_s)
    if not cells:
        return []
    lons = me.lon[~np.isnan(me.lon)]
    lats = me.lat[~np.isnan(me.lat)]
    async with conn.transaction():
        # Thousands of short index ranges: a plan the JIT takes longer to compile than to run.
        await conn.execute("SET LOCAL jit = off")
        others = await _candidates(conn, cells, t0, t1, jurisdictions, supervisee_id, start,
                                   end, s, lons, lats)
    if not others:
        return []
    placed, _ = await place_people(conn, [supervisee_id, *others], start, end, s)
    return with_person(placed, supervisee_id, s.radius_m, s.min_s)


async def _candidates(conn: psycopg.AsyncConnection, cells: list[int], t0: list[float],
                      t1: list[float], jurisdictions: Sequence[str], supervisee_id: str,
                      start: datetime, end: datetime, s: TogetherSettings,
                      lons: np.ndarray, lats: np.ndarray) -> list[str]:
    """Supervisees of ``jurisdictions`` but ``supervisee_id`` with a fix in one of ``cells``
    within its span (``t0``–``t1``, seconds), or stored without a cell near the path. The
    window's bounds are repeated as constants so that only its chunks are planned."""
    pad = (s.radius_m + 100.0) / 111_000.0
    cur = await conn.execute(
        "WITH hit AS ("
        " SELECT DISTINCT h.device_id FROM unnest(%(cells)s::bigint[], %(t0)s::float8[], "
        "  %(t1)s::float8[]) AS c(cell, t0, t1) CROSS JOIN LATERAL ("
        "  SELECT f.device_id FROM fixes f WHERE f.cell = c.cell "
        "  AND f.ts >= to_timestamp(c.t0) AND f.ts < to_timestamp(c.t1) "
        "  AND f.ts >= %(lo)s AND f.ts < %(hi)s) h "
        " UNION SELECT DISTINCT f.device_id FROM fixes f WHERE f.cell IS NULL "
        "  AND f.ts >= %(lo)s AND f.ts < %(hi)s AND f.lon BETWEEN %(w)s AND %(e)s "
        "  AND f.lat BETWEEN %(s)s AND %(n)s) "
        "SELECT DISTINCT d.supervisee_id FROM hit JOIN devices d ON d.id = hit.device_id "
        "JOIN supervisees s ON s.id = d.supervisee_id "
        "WHERE s.jurisdiction_id = ANY(%(jur)s) AND d.supervisee_id <> %(me)s",
        {"cells": cells, "t0": t0, "t1": t1, "jur": list(jurisdictions), "me": supervisee_id,
         "lo": start - timedelta(seconds=s.hold_s), "hi": end,
         "w": float(lons.min()) - pad * 3, "e": float(lons.max()) + pad * 3,
         "s": float(lats.min()) - pad, "n": float(lats.max()) + pad})
    return [r[0] for r in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class PassResult:
    day: date
    timezone: str
    people: int
    fixes: int  # read, over every piece (a person near a region's border is read by each)
    meetings: int
    seconds: float
    pieces: int = 0
    largest_piece: int = 0  # people placed at once
    alerts: int = 0  # raised for review (store.missed_gatherings)


async def _occupancy(conn: psycopg.AsyncConnection, ids: list[str], params: dict
                     ) -> Occupancy:
    """Which of ``ids`` (by position) had a fix of the day in which cell of the pad resolution
    (:class:`history.regions.Occupancy`): one pass over the day's fixes in the database, one
    row per occupied cell back. Fixes stored without a cell (before migration 0008) are read
    apart and given theirs here."""
    keep, put = ancestor_bits(PAD_RESOLUTION)
    q = {**params, "ids": ids, "keep": keep, "put": put}
    async with conn.cursor(binary=True) as cur:
        await cur.execute(
            "WITH z AS (SELECT z.id, z.no - 1 AS no FROM unnest(%(ids)s::text[]) "
            " WITH ORDINALITY AS z(id, no)), "
            "h AS (SELECT DISTINCT f.device_id, (f.cell & %(keep)s) | %(put)s AS cell "
            " FROM fixes f WHERE f.cell IS NOT NULL AND f.ts >= %(lo)s AND f.ts < %(hi)s) "
            "SELECT h.cell, array_send(array_agg(DISTINCT z.no)) FROM h "
            "JOIN devices d ON d.id = h.device_id JOIN z ON z.id = d.supervisee_id "
            "GROUP BY h.cell", q)
        rows = await cur.fetchall()
        await cur.execute(
            "WITH z AS (SELECT z.id, z.no - 1 AS no FROM unnest(%(ids)s::text[]) "
            " WITH ORDINALITY AS z(id, no)) "
            "SELECT z.no, f.lon, f.lat FROM fixes f JOIN devices d ON d.id = f.device_id "
            "JOIN z ON z.id = d.supervisee_id WHERE f.cell IS NULL "
            "AND f.ts >= %(lo)s AND f.ts < %(hi)s", q)
        loose = await cur.fetchall()
    people = [_int8s(r[1]) for r in rows]
    cells = [np.repeat(np.array([r[0] for r in rows], dtype=np.int64), [len(p) for p in people]),
             ancestors(cells_of(np.array([r[1] for r in loose], dtype=np.float64),
                                np.array([r[2] for r in loose], dtype=np.float64)),
                       PAD_RESOLUTION)]
    who = [*people, np.array([r[0] for r in loose], dtype=np.int64)]
    return Occupancy(np.concatenate(cells), np.concatenate(who))


def _int8s(buf: bytes) -> np.ndarray:
    """The elements of a one-dimensional bigint array without NULLs in PostgreSQL's binary
    form (header: dimensions, flags, element type, size, lower bound; then length and value
    of each)."""
    if int.from_bytes(buf[:4], "big") == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.frombuffer(buf, dtype=np.dtype([("len", ">i4"), ("v", ">i8")]), offset=20)
    return rows["v"].astype(np.int64)


async def colocation_pass(conn: psycopg.AsyncConnection, day: date, timezone: str,
                          s: TogetherSettings = TogetherSettings(), *,
                          now: float | None = None) -> PassResult:
    """Every pair of supervisees (of jurisdictions in ``timezone``, still supervised) together
    on the local ``day``, kept in ``colocations`` in place of what an earlier pass over the
    same day found, and the meetings no real-time alert covered raised for review
    (:mod:`store.missed_gatherings`; ``now``: the engine's clock), in one transaction.

    Region by region (:mod:`history.regions`): the day's occupancy — who had a fix in which
    cell of ~5 km² — is read first, in one pass of the database over the day's fixes; each
    region's padded area then gives its people, who are placed wholly (all their fixes of the
    day, by the primary key) and joined; a region holding more than ``s.piece_people`` is cut
    into its children instead. Memory follows the largest piece and the occupancy (a few
    pairs per person), not the time zone; the meetings are those of the whole-day pass, each
    once. The computation runs in a worker thread (it would hold the API's event loop for
    nothing)."""
    t_begin = time.perf_counter()
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    params = {"tz": timezone, "start": start, "lo": start - timedelta(seconds=s.hold_s),
              "hi": end}
    cur = await conn.execute(
        "SELECT s.id FROM supervisees s JOIN jurisdictions j ON j.id = s.jurisdiction_id "
        "WHERE j.timezone = %(tz)s AND (s.released_at IS NULL OR s.released_at > %(start)s) "
        "ORDER BY s.id", params)
    ids = [r[0] for r in await cur.fetchall()]
    found: dict[tuple[str, str, float], Meeting] = {}
    pieces = fixes = largest = 0
    if ids:
        occ = await _occupancy(conn, ids, params)
        top = min(s.region_resolution, PAD_RESOLUTION)
        todo = occ.regions(top)[::-1]
        log.info("co-location pass %s %s: %d people, %d (person, cell) pairs, %d regions",
                 day, timezone, len(ids), len(occ), len(todo))
        done_regions = 0
        logged = time.perf_counter()
        while todo:
            region = todo.pop()
            own, border = padded_cells(region, s.radius_m)
            who = occ.people(own + border)
            res = resolution_of(region)
            if len(who) > s.piece_people and res < PAD_RESOLUTION:
                todo.extend(occ.regions(res + 1, within=region)[::-1])
                continue
            if len(who) > s.piece_people:
                log.warning("co-location pass %s %s: region %x holds %d people, more than "
                            "colocation_piece_people (%d), and is not cut finer", day,
                            timezone, region, len(who), s.piece_people)
            done_regions += 1
            if len(who) >= 2:
                placed, n = await place_people(conn, [ids[k] for k in who.tolist()], start,
                                               end, s)
                met = await asyncio.to_thread(colocations, placed, s.radius_m, s.min_s)
                del placed
                for m in met:
                    found[(m.a, m.b, m.start)] = m
                pieces += 1
                fixes += n
                largest = max(largest, len(who))
            if time.perf_counter() - logged >= PROGRESS_EVERY_S:
                logged = time.perf_counter()
                log.info("co-location pass %s %s: %d regions done, %d to go; %d pieces, "
                         "%d fixes read, %d meetings so far", day, timezone, done_regions,
                         len(todo), pieces, fixes, len(found))
    meetings = sorted(found.values(), key=lambda m: (m.start, m.a, m.b))
    async with conn.transaction():
        await _keep(conn, day, timezone, meetings, s, len(ids), fixes,
                    time.perf_counter() - t_begin)
        raised = await raise_missed(conn, day, timezone, meetings, now=now)
    log.info("co-location pass %s %s done: %d pieces (the largest %d people), %d fixes read, "
             "%d meetings, %d raised for review", day, timezone, pieces, largest, fixes,
             len(meetings), len(raised))
    return PassResult(day, timezone, len(ids), fixes, len(meetings),
                      time.perf_counter() - t_begin, pieces, largest, len(raised))


async def _keep(conn: psycopg.AsyncConnection, day: date, timezone: str, found: list[Meeting],
                s: TogetherSettings, people: int, fixes: int, seconds: float) -> None:
    await conn.execute("DELETE FROM colocations WHERE day = %s AND timezone = %s",
                       (day, timezone))
    if found:
        async with conn.cursor() as c, c.copy(
                "COPY colocations (a, b, start_at, end_at, closest_m, closest_at, lon, lat, "
                "radius_m, day, timezone) FROM STDIN") as copy:
            for m in found:
                await copy.write_row((
                    m.a, m.b, datetime.fromtimestamp(m.start, UTC),
                    datetime.fromtimestamp(m.end, UTC), m.closest_m,
                    datetime.fromtimestamp(m.closest_ts, UTC), m.lon, m.lat, s.radius_m, day,
                    timezone))
    await conn.execute(
        "INSERT INTO colocation_passes (day, timezone, started_at, finished_at, people, fixes, "
        "meetings, radius_m, min_s) VALUES (%s, %s, now() - make_interval(secs => %s), now(), "
        "%s, %s, %s, %s, %s) ON CONFLICT (day, timezone) DO UPDATE SET "
        "started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, "
        "people = EXCLUDED.people, fixes = EXCLUDED.fixes, meetings = EXCLUDED.meetings, "
        "radius_m = EXCLUDED.radius_m, min_s = EXCLUDED.min_s",
        (day, timezone, seconds, people, fixes, len(found), s.radius_m, s.min_s))


async def due_passes(conn: psycopg.AsyncConnection, now: datetime, delay: timedelta,
                     days_back: int = 7) -> list[tuple[date, str]]:
    """The (local day, time zone) passes not yet run whose day ended at least ``delay`` ago
    (time for buffered uploads to arrive), over the last ``days_back`` days, oldest first."""
    cur = await conn.execute("SELECT DISTINCT timezone FROM jurisdictions ORDER BY 1")
    zones = [r[0] for r in await cur.fetchall()]
    cur = await conn.execute("SELECT day, timezone FROM colocation_passes WHERE day >= %s",
                             ((now - timedelta(days=days_back + 2)).date(),))
    done = {(r[0], r[1]) for r in await cur.fetchall()}
    due = []
    for name in zones:
        tz = ZoneInfo(name)
        today = (now - delay).astimezone(tz).date()
        for back in range(days_back, 0, -1):
            day = today - timedelta(days=back)
            if (day, name) not in done:
                due.append((day, name))
    due.sort()
    return due


async def stored_meetings(conn: psycopg.AsyncConnection, supervisee_id: str | None,
                          start: datetime, end: datetime, jurisdictions: Sequence[str],
                          limit: int = 1000) -> list[dict]:
    """Meetings the nightly passes kept over ``[start, end)`` between two people both of
    ``jurisdictions`` (of ``supervisee_id`` when given), by start."""
    cur = await conn.execute(
        "SELECT c.a, sa.name, sa.jurisdiction_id, c.b, sb.name, sb.jurisdiction_id, "
        "extract(epoch FROM c.start_at)::float8, extract(epoch FROM c.end_at)::float8, "
        "c.closest_m::float8, extract(epoch FROM c.closest_at)::float8, c.lon, c.lat "
        "FROM colocations c JOIN supervisees sa ON sa.id = c.a "
        "JOIN supervisees sb ON sb.id = c.b "
        "WHERE c.start_at < %(end)s AND c.end_at > %(start)s "
        "AND sa.jurisdiction_id = ANY(%(jur)s) AND sb.jurisdiction_id = ANY(%(jur)s) "
        "AND (%(who)s::text IS NULL OR c.a = %(who)s OR c.b = %(who)s) "
        "ORDER BY c.start_at, c.a, c.b LIMIT %(limit)s",
        {"start": start, "end": end, "jur": list(jurisdictions), "who": supervisee_id,
         "limit": limit})
    return [{"a": {"supervisee_id": r[0], "name": r[1], "jurisdiction_id": r[2]},
             "b": {"supervisee_id": r[3], "name": r[4], "jurisdiction_id": r[5]},
             "start": r[6], "end": r[7], "minutes": round((r[7] - r[6]) / 60.0, 1),
             "closest_m": round(r[8], 1), "closest_ts": r[9], "lon": r[10], "lat": r[11]}
            for r in await cur.fetchall()]


async def pair_meetings(conn: psycopg.AsyncConnection, a: str, b: str, start: datetime,
                        end: datetime, limit: int = 1000) -> list[dict]:
    """The meetings of ``a`` and ``b`` the nightly passes kept over ``[start, end)``, by start
    (the history a gathering alert's explanation shows: "met 4 times in 30 days")."""
    lo, hi = sorted((a, b))
    cur = await conn.execute(
        "SELECT extract(epoch FROM start_at)::float8, extract(epoch FROM end_at)::float8, "
        "closest_m::float8, lon, lat, day FROM colocations "
        "WHERE a = %s AND b = %s AND start_at < %s AND end_at > %s ORDER BY start_at LIMIT %s",
        (lo, hi, end, start, limit))
    return [{"start": r[0], "end": r[1], "minutes": round((r[1] - r[0]) / 60.0, 1),
             "closest_m": round(r[2], 1), "lon": r[3], "lat": r[4], "day": r[5].isoformat()}
            for r in await cur.fetchall()]
