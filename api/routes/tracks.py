"""``GET /api/v1/supervisees/{id}/track``: where a person was over a time range, as GeoJSON,
CSV or GPX. Long ranges are thinned to at most ``max_points`` fixes — in time by default, day by
day from the kept days (:mod:`store.kept_tracks`), or by shape (Douglas–Peucker); the response
says the tolerance used. Every read is recorded in the audit trail."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from xml.sax.saxutils import escape

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import Caller, check_window
from api.routes.supervisees import visible_supervisee
from api.schemas import TrackCollection
from store import audit
from store.kept_tracks import thinned_in_time
from store.tracks import Track, supervisee_tracks, thinned

router = APIRouter(tags=["tracks"])
MAX_RANGE = timedelta(days=31)
FETCH_LIMIT = 2_000_000


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"

    def render(self, content: Any) -> bytes:
        # orjson: a month's 5,000 points serialise in ~1 ms against ~12 ms for json.dumps.
        return orjson.dumps(content)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _isos(ts: np.ndarray) -> list[str]:
    """``[_iso(t) for t in ts]``, vectorised (the same microsecond rounding as
    ``datetime.fromtimestamp``, the fraction only when there is one).

    >>> t = np.array([0.0, 1.5, 1764547200.123, 1764547200.9999996])
    >>> _isos(t) == [_iso(x) for x in t]
    True
    """
    whole, frac = np.floor(ts), ts - np.floor(ts)
    us = whole.astype(np.int64) * 1_000_000 + np.round(frac * 1e6).astype(np.int64)
    stamps = us.astype("datetime64[us]")
    text = np.datetime_as_string(stamps, unit="us")
    plain = np.datetime_as_string(stamps, unit="s")
    out = np.where(us % 1_000_000 == 0, plain, text).astype(object) + "Z"
    return out.tolist()


def _nums(xs: np.ndarray) -> list[float | None]:
    out = np.asarray(xs, dtype=np.float64).astype(object)
    out[np.isnan(xs)] = None
    return out.tolist()


# The GeoJSON form is documented by its model (under application/geo+json, the response
# class's media type); CSV and GPX are text. The route builds its responses itself.
@router.get("/supervisees/{supervisee_id}/track", response_class=GeoJSONResponse,
            responses={200: {"model": TrackCollection,
                             "content": {"text/csv": {}, "application/gpx+xml": {}}}})
async def track(
    request: Request,
    caller: Caller,
    supervisee_id: str,
    start: datetime,
    end: datetime,
    format: Literal["geojson", "csv", "gpx"] = "geojson",  # noqa: A002 — the query name
    max_points: int = Query(5000, ge=2, le=200_000),
    thinning: Literal["time", "shape"] = Query(
        "time", description="how a long range is thinned: 'time' keeps every fix within the "
                            "tolerance of the thinned track at its own time (stays and speeds "
                            "survive, as a replay needs); 'shape' keeps only the line's shape "
                            "(Douglas–Peucker, as GEOS simplifies)"),
) -> Response:
    check_window(start, end, MAX_RANGE)
    person = await visible_supervisee(request, caller, supervisee_id)
    async with request.app.state.cordon.pool.connection() as conn:
        if thinning == "time":  # day by day, from the kept days (store/kept_tracks.py)
            got = await thinned_in_time(conn, supervisee_id, start, end, max_points,
                                        now=request.app.state.cordon.clock())
            shown, tolerance, fixes = got.tracks, got.tolerance_m, got.fixes
        else:
            tracks = await supervisee_tracks(conn, supervisee_id, start, end, FETCH_LIMIT)
            shown, tolerance = thinned(tracks, max_points)
            fixes = sum(len(t) for t in tracks)
        await audit.record(conn, caller.username, "track.read", supervisee_id,
                           {"jurisdiction_id": person["jurisdiction_id"],
                            "start": start.isoformat(), "end": end.isoformat(), "format": format,
                            "fixes": sum(len(t) for t in shown)})
    if format == "csv":
        return Response(_csv(shown), media_type="text/csv")
    if format == "gpx":
        return Response(_gpx(supervisee_id, shown), media_type="application/gpx+xml")
    return GeoJSONResponse(_geojson(supervisee_id, shown, tolerance, fixes, thinning))


def _geojson(supervisee_id: str, shown: list[Track], tolerance: float, fixes: int,
             thinning: str = "time") -> dict[str, Any]:
    """The track as GeoJSON, in the shape of :class:`api.schemas.TrackCollection`."""
    return {
        "type": "FeatureCollection",
        "properties": {"supervisee_id": supervisee_id, "simplified_tolerance_m": tolerance,
                       "thinning": thinning,
                       "fixes": fixes,
                       "fixes_shown": sum(len(t) for t in shown)},
        "features": [{
            "type": "Feature", "id": t.device_id,
            "geometry": {"type": "LineString" if len(t) > 1 else "Point",
                         "coordinates": np.column_stack((t.lon, t.lat)).astype(
                             np.float64).tolist()
                         if len(t) > 1 else [float(t.lon[0]), float(t.lat[0])]},
            "properties": {"device_id": t.device_id, "times": _isos(t.ts),
                           "accuracy_m": np.asarray(t.accuracy_m, dtype=np.float64).tolist(),
                           "battery": _nums(t.battery)},
        } for t in shown if len(t)],
    }


def _csv(shown: list[Track]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["device_id", "time", "lon", "lat", "accuracy_m", "battery"])
    for t in shown:
        for i in range(len(t)):
            b = _num(t.battery[i])
            w.writerow([t.device_id, _iso(t.ts[i]), f"{t.lon[i]:.7f}", f"{t.lat[i]:.7f}",
                        f"{t.accuracy_m[i]:.1f}", "" if b is None else f"{b:g}"])
    return out.getvalue()


def _gpx(supervisee_id: str, shown: list[Track]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n'
             '<gpx version="1.1" creator="Cordon" xmlns="http://www.topografix.com/GPX/1/1">\n']
    for t in shown:
        parts.append(f"  <trk><name>{escape(supervisee_id)} {escape(t.device_id)}</name>"
                     "<trkseg>\n")
        for i in range(len(t)):
            parts.append(f'    <trkpt lat="{t.lat[i]:.7f}" lon="{t.lon[i]:.7f}">'
                         f"<time>{_iso(t.ts[i])}</time></trkpt>\n")
        parts.append("  </trkseg></trk>\n")
    parts.append("</gpx>\n")
    return "".join(parts)
