"""The nightly co-location pass region by region: each region's padded area holds every fix
within the radius of one of its own; the regional pass keeps exactly the meetings of the
whole-day pass over the same fixes — meetings that walk across a region's border and meetings
of two people on either side of it included — however finely the regions are cut, with no
piece above its bound."""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import numpy as np
import psycopg
import pytest

from devices.fixes import Fix, FixBatch
from devices.models import Device, Supervisee
from history.cells import cells_of
from history.regions import PAD_RESOLUTION, REGION_RESOLUTION, ancestors, padded_cells
from history.together import colocations
from store.colocations import TogetherSettings, colocation_pass, place_people
from store.fixes import insert_fixes
from store.registry import upsert_device, upsert_supervisee
from tests.test_api_access import world
from tests.test_end_to_end import CENTRE
from tests.test_together import walk

M_LAT = 111_194.93


@pytest.mark.parametrize("lat0", [0.3, 30.2, 61.0])
def test_a_regions_padded_area_holds_every_fix_within_the_radius_of_its_own(lat0):
    rng = np.random.default_rng(int(lat0 * 10))
    for res in (REGION_RESOLUTION, 6, PAD_RESOLUTION):
        for radius in (50.0, 200.0):
            n = 3000
            lon = rng.uniform(-97.9, -97.5, n)
            lat = rng.uniform(lat0, lat0 + 0.3, n)
            ang, d = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, radius, n)
            lat2 = lat + d * np.sin(ang) / M_LAT
            lon2 = lon + d * np.cos(ang) / (M_LAT * np.cos(np.radians(lat)))
            regions = ancestors(cells_of(lon, lat), res)
            other = ancestors(cells_of(lon2, lat2), PAD_RESOLUTION)
            pads: dict[int, set[int]] = {}
            for r in np.unique(regions).tolist():
                own, border = padded_cells(r, radius)
                assert set(own) == set(h3.api.basic_int.cell_to_children(r, PAD_RESOLUTION))
                pads[r] = set(own) | set(border)
            for r, q in zip(regions.tolist(), other.tolist(), strict=True):
                assert q in pads[r], (res, radius)


def border_point() -> tuple[float, float, float]:
    """A point on the border (by cell index) between the region of CENTRE and the region
    east of it, and the bearing (radians, from east) of the line between their centres."""
    b = h3.api.basic_int
    home = b.latlng_to_cell(CENTRE[1], CENTRE[0], REGION_RESOLUTION)
    hlat, hlon = b.cell_to_latlng(home)
    east = max((n for n in b.grid_ring(home, 1)), key=lambda n: b.cell_to_latlng(n)[1])
    elat, elon = b.cell_to_latlng(east)

    def region(f: float) -> int:
        c = cells_of(np.array([hlon + f * (elon - hlon)]), np.array([hlat + f * (elat - hlat)]))
        return int(ancestors(c, REGION_RESOLUTION)[0])

    lo, hi = 0.0, 1.0
    assert region(lo) == home and region(hi) == east
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if region(mid) == home else (lo, mid)
    lon, lat = hlon + lo * (elon - hlon), hlat + lo * (elat - hlat)
    bearing = math.atan2((elat - hlat) * M_LAT, (elon - hlon) * M_LAT * math.cos(
        math.radians(hlat)))
    return lon, lat, bearing


def at(lon0: float, lat0: float, bearing: float, along: np.ndarray, across: np.ndarray
       ) -> tuple[np.ndarray, np.ndarray]:
    """Points ``along`` metres on the bearing from (lon0, lat0) and ``across`` to its left."""
    e = along * math.cos(bearing) - across * math.sin(bearing)
    n = along * math.sin(bearing) + across * math.cos(bearing)
    return lon0 + e / (M_LAT * math.cos(math.radians(lat0))), lat0 + n / M_LAT


async def border_day(db_url: str, t0: float) -> None:
    """P-1 and P-2 walk together across the border of two regions (3 km in an hour, 20 m
    apart); R-00 and R-01 stand 15 m either side of it for 40 minutes (R-01's fixes stored
    without a cell); 24 more people wander within 20 km of it, pairs of them meeting for 25
    minutes at spots on and off the border."""
    lon0, lat0, bearing = border_point()
    rng = np.random.default_rng(18)
    rows: list[tuple[str, float, float, float]] = []  # (device, ts, lon, lat)

    def add(device: str, ts: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> None:
        rows.extend(zip([device] * len(ts), ts.tolist(), lon.tolist(), lat.tolist(),
                        strict=True))

    ts = t0 + np.arange(0.0, 3600.0, 60.0)
    along = np.linspace(-1500.0, 1500.0, len(ts))
    for device, side in (("ph-1", 0.0), ("br-2", 20.0)):
        add(device, ts, *at(lon0, lat0, bearing, along + rng.normal(0, 3, len(ts)),
                            np.full(len(ts), side) + rng.normal(0, 3, len(ts))))
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        for k in range(26):
            await upsert_supervisee(conn, Supervisee(f"R-{k:02d}", f"R {k}", "tx-travis"))
            await upsert_device(conn, Device(f"rd-{k:02d}", f"R-{k:02d}", "phone"))
    ts = t0 + 3600 + np.arange(0.0, 2400.0, 60.0)
    straddle = {}
    for device, side in (("rd-00", -15.0), ("rd-01", 15.0)):
        straddle[device] = at(lon0, lat0, bearing, np.full(len(ts), side),
                              rng.normal(0, 2, len(ts)))
    add("rd-00", ts, *straddle["rd-00"])
    unindexed = [("rd-01", t, x, y) for t, x, y in zip(ts.tolist(), *(
        v.tolist() for v in straddle["rd-01"]), strict=True)]
    spots = [np.array([rng.uniform(-300, 300), rng.uniform(-40, 40)]) if pair < 3 else
             rng.uniform(-4000, 4000, 2) for pair in range(6)]
    for k in range(2, 26):
        every = float(rng.choice([60.0, 90.0, 120.0]))
        ts = t0 + np.arange(0.0, 6 * 3600.0, every)
        start = rng.uniform(-20000, 20000, 2)
        path = start + np.cumsum(rng.normal(0, 25, (len(ts), 2)), axis=0)
        if k < 14:  # pairs (2, 3), (4, 5), … meet at a spot for 25 minutes
            pair = (k - 2) // 2
            spot = spots[pair]
            lo = 3600.0 * (1 + pair % 4)
            meet = (ts - t0 >= lo) & (ts - t0 < lo + 1500.0)
            path[meet] = spot + rng.normal(0, 5, (int(meet.sum()), 2)) + (k % 2) * 10.0
        add(f"rd-{k:02d}", ts, *at(lon0, lat0, bearing, path[:, 0], path[:, 1]))
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await insert_fixes(conn, FixBatch.from_fixes([
            Fix(d, a, x, y, 10.0, float("nan"), a, "native") for d, a, x, y in rows]))
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO fixes (device_id, ts, received_at, lon, lat, accuracy_m, source) "
                "VALUES (%s, to_timestamp(%s), now(), %s, %s, 10, 'native')", unindexed)


@pytest.mark.asyncio
async def test_the_regional_pass_keeps_what_the_whole_day_pass_finds(db_url):
    await world(db_url)
    with psycopg.connect(db_url) as conn:
        zone = conn.execute("SELECT timezone FROM jurisdictions WHERE id = 'tx-travis'"
                            ).fetchone()[0]
    tz = ZoneInfo(zone)
    day = date(2026, 11, 9)
    t0 = datetime(2026, 11, 9, 9, 0, tzinfo=tz).timestamp()
    await border_day(db_url, t0)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = start + timedelta(days=1)
    s = TogetherSettings()
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT id FROM supervisees ORDER BY id")
        everyone = [r[0] for r in await cur.fetchall()]
        placed, _ = await place_people(conn, everyone, start, end, s)
    whole = colocations(placed, s.radius_m, s.min_s)
    pairs = {(m.a, m.b) for m in whole}
    # The scenario holds what it should: the walk across the border, the two either side of
    # it, and the pairs that meet.
    assert {("P-1", "P-2"), ("R-00", "R-01"), ("R-02", "R-03"), ("R-12", "R-13")} <= pairs
    walked = [m for m in whole if (m.a, m.b) == ("P-1", "P-2")]
    assert len(walked) == 1 and walked[0].duration_s >= 3000
    p1 = placed.people.index("P-1")
    known = np.flatnonzero(~np.isnan(placed.lon[p1]))
    ends = cells_of(placed.lon[p1, known[[0, -1]]], placed.lat[p1, known[[0, -1]]])
    assert len(set(ancestors(ends, REGION_RESOLUTION).tolist())) == 2  # it crosses the border

    kept_by_bound = {}
    for bound in (1_000, 6, 3):
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            done = await colocation_pass(conn, day, zone, TogetherSettings(piece_people=bound))
            await conn.commit()
        with psycopg.connect(db_url) as conn:
            kept = conn.execute(
                "SELECT a, b, extract(epoch FROM start_at)::float8, "
                "extract(epoch FROM end_at)::float8, closest_m, "
                "extract(epoch FROM closest_at)::float8 FROM colocations "
                "WHERE day = %s ORDER BY start_at, a, b", (day,)).fetchall()
        assert [(a, b, st, en, ct) for a, b, st, en, _, ct in kept] == [
            (m.a, m.b, m.start, m.end, m.closest_ts) for m in whole], bound
        assert all(abs(k[4] - m.closest_m) < 0.01 for k, m in zip(kept, whole, strict=True))
        assert done.meetings == len(whole)
        kept_by_bound[bound] = done
    assert kept_by_bound[6].pieces > kept_by_bound[1_000].pieces
    assert kept_by_bound[3].pieces >= kept_by_bound[6].pieces


@pytest.mark.asyncio
async def test_a_region_holding_too_many_is_cut_until_its_pieces_fit(db_url, caplog):
    """Twelve people standing within 15 km of each other, two of them meeting: with a bound of
    four, the pass cuts their region down the resolutions until each piece holds four at
    most, and still finds the meeting; a bound it cannot meet is said in the log."""
    await world(db_url)
    with psycopg.connect(db_url) as conn:
        zone = conn.execute("SELECT timezone FROM jurisdictions WHERE id = 'tx-travis'"
                            ).fetchone()[0]
    tz = ZoneInfo(zone)
    day = date(2026, 11, 10)
    t0 = datetime(2026, 11, 10, 9, 0, tzinfo=tz).timestamp()
    rng = np.random.default_rng(7)
    fixes = []
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        for k in range(12):
            await upsert_supervisee(conn, Supervisee(f"C-{k:02d}", f"C {k}", "tx-travis"))
            await upsert_device(conn, Device(f"cd-{k:02d}", f"C-{k:02d}", "phone"))
            e = float(rng.uniform(-15000, 15000))
            fixes += walk(f"cd-{k:02d}", t0, 60, e, e, float(rng.uniform(-15000, 15000)))
        fixes += walk("cd-00", t0 + 3600, 30, 0.0, 0.0, 0.0)
        fixes += walk("cd-01", t0 + 3600, 30, 20.0, 20.0, 0.0)
        await insert_fixes(conn, FixBatch.from_fixes(fixes))
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        done = await colocation_pass(conn, day, zone, TogetherSettings(piece_people=4))
        await conn.commit()
        cur = await conn.execute("SELECT a, b FROM colocations WHERE day = %s", (day,))
        kept = await cur.fetchall()
    assert ("C-00", "C-01") in kept
    assert done.pieces >= 3 and done.largest_piece <= 4
    assert "not cut finer" not in caplog.text
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        with caplog.at_level(logging.WARNING, logger="store.colocations"):
            tight = await colocation_pass(conn, day, zone, TogetherSettings(piece_people=1))
        await conn.commit()
    assert tight.meetings == done.meetings and tight.largest_piece >= 2
    assert "not cut finer" in caplog.text
