"""History searches: who was near a point over a time window, who was with a person, the
meetings the nightly co-location pass kept, and a person's stops, trips and gaps. All read
positions, so all are audited; the searches must state their reason and answer only with
people in the caller's reach."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from typing import Any

import shapely
import shapely.geometry
from fastapi import APIRouter, Query, Request

from api.auth import Caller, check_window, invalid
from api.routes.supervisees import visible_supervisee
from api.schemas import (
    Colocations,
    HomeRange,
    NearSearch,
    Timeline,
    TogetherSearch,
    WithinQuery,
    WithinSearch,
)
from history.cells import disk_cover, haversine_m, polygon_cover
from history.density import cell_polygon, density
from history.stops import StopSettings, timeline
from history.within import inside
from store import audit
from store.colocations import TogetherSettings, stored_meetings, together_with
from store.coverage import coverage_gaps
from store.history import (
    DeviceFixes,
    device_fixes,
    near_summary,
    people,
    plan_settings,
    supervisee_devices,
    within_candidates,
)

router = APIRouter(tags=["history"])
MAX_NEAR_RANGE = timedelta(days=31)
MAX_STOPS_RANGE = timedelta(days=31)
MAX_TOGETHER_RANGE = timedelta(days=31)
REASON = Query(min_length=3, max_length=500,
               description="why this search is made (a case or incident number): kept in the "
                           "audit trail")
FETCH_LIMIT = 2_000_000


def _fix(f: tuple[str, float, float, float, float, float]) -> dict[str, Any]:
    return {"device_id": f[0], "ts": f[1], "lon": f[2], "lat": f[3], "accuracy_m": f[4],
            "distance_m": round(f[5], 2)}


@router.get("/search/near", response_model=NearSearch)
async def search_near(
    request: Request,
    caller: Caller,
    start: datetime,
    end: datetime,
    lon: float = Query(ge=-180, le=180),
    lat: float = Query(ge=-85, le=85),
    radius_m: float = Query(200.0, gt=0, le=5000),
    reason: str = Query(min_length=3, max_length=500,
                        description="why this search is made (a case or incident number): "
                                    "kept in the audit trail"),
    jurisdiction_id: str | None = Query(None, max_length=200),
    max_fixes: int = Query(100, ge=0, le=10_000),
    gap_s: float = Query(600.0, ge=60, le=86_400,
                         description="no fix for longer than this is a coverage gap"),
) -> dict[str, Any]:
    """Who among the supervisees in the caller's reach had a fix within ``radius_m`` of
    (``lon``, ``lat``) between ``start`` and ``end``: for each, the closest fix, the fixes
    within the radius, and the gaps in their coverage over the window (no fix is not no
    person: someone may have been there unseen). The search and its reason are audited."""
    check_window(start, end, MAX_NEAR_RANGE)
    if not reason.strip():
        raise invalid(("query", "reason"), "state the reason for the search")
    scope = caller.scope(jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        found = []
        if scope:
            found = await near_summary(conn, disk_cover(lon, lat, radius_m), lon, lat,
                                       radius_m, start, end, scope, visit_gap_s=gap_s,
                                       max_fixes=max_fixes)
        ids = [n.supervisee_id for n in found]
        gaps = await coverage_gaps(conn, ids, start, end, gap_s,
                                   now=request.app.state.cordon.clock())
        who = await people(conn, ids)
        await audit.record(conn, caller.username, "search.near", f"{lon:.6f},{lat:.6f}",
                           {"reason": reason, "lon": lon, "lat": lat, "radius_m": radius_m,
                            "start": start.isoformat(), "end": end.isoformat(),
                            "jurisdictions": scope, "found": ids})
    return {
        "lon": lon, "lat": lat, "radius_m": radius_m, "start": start.timestamp(),
        "end": end.timestamp(), "reason": reason,
        "people": [{
            "supervisee_id": n.supervisee_id, "name": who[n.supervisee_id][0],
            "jurisdiction_id": who[n.supervisee_id][1],
            "closest": _fix((n.closest_device_id, n.closest_ts, n.closest_lon, n.closest_lat,
                             n.closest_accuracy_m, n.closest_m)),
            "fixes_within": n.fixes_within,
            "visits": [{"first": a, "last": b, "fixes": k} for a, b, k in n.visits],
            "fixes": [_fix(f) for f in n.fixes],
            "gaps": [{"start": a, "end": b} for a, b in gaps[n.supervisee_id]],
        } for n in found],
    }


async def person_fixes(request: Request, caller: Caller, supervisee_id: str, start: datetime,
                       end: datetime, action: str) -> tuple[DeviceFixes, dict[str, Any]]:
    """The fixes of all the person's devices in a window (at most 31 days), read only within
    the caller's reach (404 outside) and audited as ``action``; and the person's plan settings."""
    check_window(start, end, MAX_STOPS_RANGE)
    person = await visible_supervisee(request, caller, supervisee_id)
    async with request.app.state.cordon.pool.connection() as conn:
        plan = await plan_settings(conn, supervisee_id)
        got = await device_fixes(conn, await supervisee_devices(conn, supervisee_id), start, end,
                                 FETCH_LIMIT)
        await audit.record(conn, caller.username, action, supervisee_id,
                           {"jurisdiction_id": person["jurisdiction_id"],
                            "start": start.isoformat(), "end": end.isoformat(),
                            "fixes": len(got)})
    return got, plan


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@router.get("/supervisees/{supervisee_id}/stops", response_model=Timeline)
async def stops(
    request: Request,
    caller: Caller,
    supervisee_id: str,
    start: datetime,
    end: datetime,
    radius_m: float | None = Query(None, gt=0, le=2000,
                                   description="default: the plan's stop_radius_m, or 150"),
    dwell_s: float | None = Query(None, gt=0, le=86_400,
                                  description="default: the plan's stop_dwell_s, or 300"),
    gap_s: float | None = Query(None, ge=60, le=86_400,
                                description="default: the plan's stop_gap_s, or 600"),
) -> dict[str, Any]:
    """A person's stops, trips and gaps from all their devices (audited like the track)."""
    got, plan = await person_fixes(request, caller, supervisee_id, start, end, "stops.read")
    settings = StopSettings.from_plan(plan, radius_m, dwell_s, gap_s)
    lo, hi = start.timestamp(), min(end.timestamp(), time.time())
    segments = timeline(got.ts, got.lon, got.lat, got.accuracy_m, settings, lo, max(hi, lo))
    return {
        "supervisee_id": supervisee_id, "start": start.timestamp(), "end": end.timestamp(),
        "fixes": len(got),
        "settings": {"radius_m": settings.radius_m, "dwell_s": settings.dwell_s,
                     "gap_s": settings.gap_s, "max_accuracy_m": settings.max_accuracy_m},
        "segments": [{
            "kind": s.kind, "start": s.start, "end": s.end, "duration_s": s.duration_s,
            "fixes": s.fixes, "lon": _num(s.lon), "lat": _num(s.lat),
            "radius_m": _num(s.radius_m), "distance_m": _num(s.distance_m),
            "same_place": s.same_place,
        } for s in segments],
    }


@router.get("/supervisees/{supervisee_id}/together", response_model=TogetherSearch)
async def search_together(
    request: Request,
    caller: Caller,
    supervisee_id: str,
    start: datetime,
    end: datetime,
    reason: str = REASON,
    radius_m: float = Query(50.0, gt=0, le=1000),
    min_minutes: float = Query(20.0, ge=1, le=1440),
    jurisdiction_id: str | None = Query(None, max_length=200),
) -> dict[str, Any]:
    """Who among the supervisees in the caller's reach was within ``radius_m`` of this person
    for ``min_minutes`` or more in a row between ``start`` and ``end`` (placed minute by
    minute from their newest fix of the last five minutes: a person without a fix is nowhere,
    never "together"). Each with their meetings; the search and its reason are audited."""
    check_window(start, end, MAX_TOGETHER_RANGE)
    if not reason.strip():
        raise invalid(("query", "reason"), "state the reason for the search")
    person = await visible_supervisee(request, caller, supervisee_id)
    scope = caller.scope(jurisdiction_id)
    settings = TogetherSettings(radius_m=radius_m, min_s=min_minutes * 60.0)
    async with request.app.state.cordon.pool.connection() as conn:
        found = await together_with(conn, supervisee_id, start, end, scope, settings) \
            if scope else []
        ids = sorted({m.b for m in found})
        who = await people(conn, ids)
        await audit.record(conn, caller.username, "search.together", supervisee_id,
                           {"reason": reason, "jurisdiction_id": person["jurisdiction_id"],
                            "radius_m": radius_m, "min_minutes": min_minutes,
                            "start": start.isoformat(), "end": end.isoformat(),
                            "jurisdictions": scope, "found": ids})
    by_person: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for m in found:
        by_person[m.b].append({
            "start": m.start, "end": m.end, "minutes": round(m.duration_s / 60.0, 1),
            "closest_m": round(m.closest_m, 1), "closest_ts": m.closest_ts, "lon": m.lon,
            "lat": m.lat})
    answer = [{"supervisee_id": i, "name": who[i][0], "jurisdiction_id": who[i][1],
               "minutes": round(sum(x["minutes"] for x in ms), 1), "meetings": ms}
              for i, ms in by_person.items()]
    answer.sort(key=lambda p: (-p["minutes"], p["supervisee_id"]))
    return {"supervisee_id": supervisee_id, "start": start.timestamp(),
            "end": end.timestamp(), "radius_m": radius_m, "min_minutes": min_minutes,
            "reason": reason, "people": answer}


@router.get("/colocations", response_model=Colocations)
async def colocation_history(
    request: Request,
    caller: Caller,
    start: datetime,
    end: datetime,
    reason: str = REASON,
    supervisee_id: str | None = Query(None, max_length=200),
    jurisdiction_id: str | None = Query(None, max_length=200),
    limit: int = Query(1000, ge=1, le=10_000),
) -> dict[str, Any]:
    """The meetings the nightly co-location pass kept (two supervisees within
    ``colocation_radius_m`` for ``colocation_min_minutes``; 聚集), between two people both in
    the caller's reach — of one person when ``supervisee_id`` is given. Audited."""
    check_window(start, end, MAX_TOGETHER_RANGE)
    if not reason.strip():
        raise invalid(("query", "reason"), "state the reason for the search")
    if supervisee_id is not None:
        await visible_supervisee(request, caller, supervisee_id)
    scope = caller.scope(jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        found = await stored_meetings(conn, supervisee_id, start, end, scope, limit) \
            if scope else []
        await audit.record(conn, caller.username, "colocations.read", supervisee_id or "",
                           {"reason": reason, "start": start.isoformat(),
                            "end": end.isoformat(), "jurisdictions": scope,
                            "meetings": len(found)})
    return {"start": start.timestamp(), "end": end.timestamp(), "meetings": found}


@router.get("/supervisees/{supervisee_id}/home-range", response_model=HomeRange)
async def home_range(
    request: Request,
    caller: Caller,
    supervisee_id: str,
    start: datetime,
    end: datetime,
    resolution: int = Query(9, ge=7, le=10, description="H3 resolution of the cells: 9 is "
                                                        "about a city block"),
    hold_s: float = Query(600.0, ge=60, le=3600,
                          description="how long one fix stands for at most"),
) -> dict[str, Any]:
    """Where the person spent their observed time (a density layer over up to 31 days): the
    H3 cells they were seen in, each with its time and share, most time first, as GeoJSON
    polygons; ``core_50`` / ``core_95`` cells hold half / 95 % of the observed time. Audited
    as ``home_range.read``."""
    got, _ = await person_fixes(request, caller, supervisee_id, start, end, "home_range.read")
    d = density(got.ts, got.lon, got.lat, resolution, hold_s,
                end=min(end.timestamp(), time.time()))
    return {
        "supervisee_id": supervisee_id, "start": start.timestamp(), "end": end.timestamp(),
        "resolution": resolution, "fixes": len(got), "observed_s": d.observed_s,
        "core_50": d.core_50, "core_95": d.core_95,
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature", "id": format(c.cell, "x"),
            "geometry": {"type": "Polygon", "coordinates": [cell_polygon(c.cell)]},
            "properties": {"seconds": c.seconds, "share": c.share, "rank": c.rank,
                           "core": "50" if c.rank < d.core_50 else
                                   "95" if c.rank < d.core_95 else "rest"},
        } for c in d.cells],
    }


MAX_AREA_KM2 = 50.0


@router.post("/search/within", response_model=WithinSearch)
async def search_within(request: Request, caller: Caller, body: WithinQuery) -> dict[str, Any]:
    """Who among the supervisees in the caller's reach had a fix inside a drawn area (a GeoJSON
    Polygon or MultiPolygon, lon/lat, at most 50 km²) between ``start`` and ``end``: for each,
    the first and last fix inside, the visits, the fixes, and the gaps in their coverage over
    the window (no fix is not no person). The search and its reason are audited."""
    check_window(body.start, body.end, MAX_NEAR_RANGE)
    if not body.reason.strip():
        raise invalid(("body", "reason"), "state the reason for the search")
    try:
        area = shapely.geometry.shape(body.geometry)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise invalid(("body", "geometry"), f"not a GeoJSON geometry: {exc}") from None
    if area.geom_type not in ("Polygon", "MultiPolygon") or area.is_empty:
        raise invalid(("body", "geometry"), "draw a Polygon or MultiPolygon")
    minx, miny, maxx, maxy = area.bounds
    if not (-180 <= minx <= maxx <= 180 and -85 <= miny <= maxy <= 85):
        raise invalid(("body", "geometry"), "coordinates are lon/lat: -180–180, -85–85")
    if not area.is_valid:
        area = shapely.make_valid(area)
    width_km = float(haversine_m(minx, (miny + maxy) / 2, maxx, (miny + maxy) / 2)) / 1000
    height_km = float(haversine_m(minx, miny, minx, maxy)) / 1000
    if width_km * height_km > MAX_AREA_KM2 * 4 or area.area * 111.32 ** 2 * math.cos(
            math.radians((miny + maxy) / 2)) > MAX_AREA_KM2:
        raise invalid(("body", "geometry"),
                      f"the area is larger than {MAX_AREA_KM2:g} km²: draw a smaller one")
    scope = caller.scope(body.jurisdiction_id)
    async with request.app.state.cordon.pool.connection() as conn:
        found = []
        if scope:
            cand = await within_candidates(conn, polygon_cover(area), area.bounds, body.start,
                                           body.end, scope)
            found = inside(cand, area, body.gap_s, body.max_fixes)
        ids = [w.supervisee_id for w in found]
        gaps = await coverage_gaps(conn, ids, body.start, body.end, body.gap_s,
                                   now=request.app.state.cordon.clock())
        who = await people(conn, ids)
        await audit.record(conn, caller.username, "search.within",
                           f"{minx:.5f},{miny:.5f},{maxx:.5f},{maxy:.5f}",
                           {"reason": body.reason, "geometry": body.geometry,
                            "start": body.start.isoformat(), "end": body.end.isoformat(),
                            "jurisdictions": scope, "found": ids})
    return {
        "start": body.start.timestamp(), "end": body.end.timestamp(), "reason": body.reason,
        "people": [{
            "supervisee_id": w.supervisee_id, "name": who[w.supervisee_id][0],
            "jurisdiction_id": who[w.supervisee_id][1], "first": w.first, "last": w.last,
            "fixes_inside": w.fixes_inside,
            "visits": [{"first": a, "last": b, "fixes": k} for a, b, k in w.visits],
            "fixes": [{"device_id": f[0], "ts": f[1], "lon": f[2], "lat": f[3],
                       "accuracy_m": f[4]} for f in w.fixes],
            "gaps": [{"start": a, "end": b} for a, b in gaps[w.supervisee_id]],
        } for w in found],
    }
