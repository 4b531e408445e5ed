"""Numba kernels: the exact tests of a point (or a segment) against one zone.

Zones are flattened into arrays by :class:`geofence.zoneset.ZoneSet`: a zone owns a range of
rings, a ring a range of vertices. Polygon rings are closed (last vertex equals the first) and
containment is even-odd crossing over every ring of the zone, which for a valid (Multi)Polygon is
"inside a shell and not in one of its holes" — planar in lon/lat, as in GEOS. A corridor's single
"ring" is its open centre line.

Distances are metres. Circle distances are geodesic on the WGS 84 ellipsoid, evaluated with the
radii of curvature at the mid-latitude (within millimetres of ``pyproj.Geod`` at 10 km). Distances
to polygon edges and corridor lines are taken in a local metric frame centred on the fix: within a
few kilometres of the fix the error is far below GPS accuracy, the scale decisions are made at.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

OUTSIDE = np.int8(0)
INSIDE = np.int8(1)
UNCERTAIN = np.int8(2)

SHAPE_POLYGON = 0
SHAPE_CIRCLE = 1
SHAPE_CORRIDOR = 2

WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3


@nb.njit(cache=True, inline="always")
def metres_per_degree(lat: float) -> tuple[float, float]:
    """(metres per degree of longitude, of latitude) on the WGS 84 ellipsoid at ``lat``."""
    phi = math.radians(lat)
    s = math.sin(phi)
    w = math.sqrt(1.0 - WGS84_E2 * s * s)
    n = WGS84_A / w  # prime-vertical radius of curvature
    m = WGS84_A * (1.0 - WGS84_E2) / (w * w * w)  # meridional radius of curvature
    return math.radians(1.0) * n * math.cos(phi), math.radians(1.0) * m


@nb.njit(cache=True, inline="always")
def geodesic_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres between two nearby points (≲ 50 km) on the WGS 84 ellipsoid."""
    m_lon, m_lat = metres_per_degree(0.5 * (lat1 + lat2))
    dlon = lon2 - lon1
    if dlon > 180.0:
        dlon -= 360.0
    elif dlon < -180.0:
        dlon += 360.0
    return math.hypot(dlon * m_lon, (lat2 - lat1) * m_lat)


@nb.njit(cache=True, inline="always")
def _point_segment_d2(ax: float, ay: float, bx: float, by: float) -> float:
    """Squared distance from the origin to segment a–b (local metric coordinates)."""
    dx = bx - ax
    dy = by - ay
    seg2 = dx * dx + dy * dy
    t = 0.0
    if seg2 > 0.0:
        t = min(1.0, max(0.0, -(ax * dx + ay * dy) / seg2))
    cx = ax + t * dx
    cy = ay + t * dy
    return cx * cx + cy * cy


@nb.njit(cache=True)
def polygon_test(
    px: float,
    py: float,
    ring_lo: int,
    ring_hi: int,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
    want_distance: bool,
) -> tuple[bool, float]:
    """(inside, metres to the nearest edge) of a point against rings lo..hi (even-odd rule).

    With ``want_distance`` false the distance is not computed and is returned as +inf.
    """
    inside = False
    m_lon, m_lat = metres_per_degree(py)
    best = np.inf
    for r in range(ring_lo, ring_hi):
        for i in range(ring_start[r], ring_end[r] - 1):
            x1 = vx[i]
            y1 = vy[i]
            x2 = vx[i + 1]
            y2 = vy[i + 1]
            if (y1 > py) != (y2 > py):
                xc = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
                if px < xc:
                    inside = not inside
            if want_distance:
                d2 = _point_segment_d2(
                    (x1 - px) * m_lon, (y1 - py) * m_lat, (x2 - px) * m_lon, (y2 - py) * m_lat
                )
                if d2 < best:
                    best = d2
    return inside, math.sqrt(best)


@nb.njit(cache=True)
def polyline_distance_m(
    px: float, py: float, lo: int, hi: int, vx: np.ndarray, vy: np.ndarray
) -> float:
    """Metres from a point to the open polyline of vertices lo..hi-1."""
    m_lon, m_lat = metres_per_degree(py)
    best = np.inf
    for i in range(lo, hi - 1):
        d2 = _point_segment_d2(
            (vx[i] - px) * m_lon, (vy[i] - py) * m_lat,
            (vx[i + 1] - px) * m_lon, (vy[i + 1] - py) * m_lat,
        )
        if d2 < best:
            best = d2
    return math.sqrt(best)


@nb.njit(cache=True, inline="always")
def _orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@nb.njit(cache=True, inline="always")
def segments_cross(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float, dx: float, dy: float
) -> bool:
    """Whether segment a–b crosses segment c–d (half-open at c–d's end points, like ray casting:
    a path through a shared vertex of two edges counts once, a touch counts zero or twice)."""
    if (_orient(ax, ay, bx, by, cx, cy) > 0.0) == (_orient(ax, ay, bx, by, dx, dy) > 0.0):
        return False
    return (_orient(cx, cy, dx, dy, ax, ay) > 0.0) != (_orient(cx, cy, dx, dy, bx, by) > 0.0)


@nb.njit(cache=True, inline="always")
def _segments_touch(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float, dx: float, dy: float
) -> bool:
    """Closed segment intersection (touching counts)."""
    o1 = _orient(ax, ay, bx, by, cx, cy)
    o2 = _orient(ax, ay, bx, by, dx, dy)
    o3 = _orient(cx, cy, dx, dy, ax, ay)
    o4 = _orient(cx, cy, dx, dy, bx, by)
    return ((o1 >= 0.0 and o2 <= 0.0) or (o1 <= 0.0 and o2 >= 0.0)) and (
        (o3 >= 0.0 and o4 <= 0.0) or (o3 <= 0.0 and o4 >= 0.0)
    ) and not (o1 == 0.0 and o2 == 0.0 and o3 == 0.0 and o4 == 0.0 and (
        max(ax, bx) < min(cx, dx) or max(cx, dx) < min(ax, bx)
        or max(ay, by) < min(cy, dy) or max(cy, dy) < min(ay, by)))


@nb.njit(cache=True, inline="always")
def _segment_segment_d2(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float, dx: float, dy: float
) -> float:
    """Squared distance between segments a–b and c–d (local metric coordinates)."""
    if _segments_touch(ax, ay, bx, by, cx, cy, dx, dy):
        return 0.0
    best = _point_segment_d2(cx - ax, cy - ay, dx - ax, dy - ay)
    best = min(best, _point_segment_d2(cx - bx, cy - by, dx - bx, dy - by))
    best = min(best, _point_segment_d2(ax - cx, ay - cy, bx - cx, by - cy))
    best = min(best, _point_segment_d2(ax - dx, ay - dy, bx - dx, by - dy))
    return best


@nb.njit(cache=True)
def zone_distance(
    px: float,
    py: float,
    z: int,
    zone_shape: np.ndarray,
    zone_center: np.ndarray,
    zone_radius_m: np.ndarray,
    zone_ring_lo: np.ndarray,
    zone_ring_hi: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> tuple[bool, float]:
    """(inside, metres to the boundary) of a point against zone ``z``, by exhaustive test."""
    shape = zone_shape[z]
    if shape == SHAPE_CIRCLE:
        d = geodesic_m(px, py, zone_center[z, 0], zone_center[z, 1]) - zone_radius_m[z]
        return d <= 0.0, abs(d)
    if shape == SHAPE_CORRIDOR:
        r = zone_ring_lo[z]
        d = polyline_distance_m(px, py, ring_start[r], ring_end[r], vx, vy) - zone_radius_m[z]
        return d <= 0.0, abs(d)
    return polygon_test(
        px, py, zone_ring_lo[z], zone_ring_hi[z], ring_start, ring_end, vx, vy, True
    )


@nb.njit(cache=True)
def segment_meets_zone(
    x1: float,
    y1: float,
    x2: float,
    y2: float,
    z: int,
    zone_shape: np.ndarray,
    zone_center: np.ndarray,
    zone_radius_m: np.ndarray,
    zone_ring_lo: np.ndarray,
    zone_ring_hi: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> bool:
    """Whether the straight path between two fixes enters zone ``z`` (touching included)."""
    shape = zone_shape[z]
    if shape == SHAPE_CIRCLE:
        cx = zone_center[z, 0]
        cy = zone_center[z, 1]
        m_lon, m_lat = metres_per_degree(cy)
        d2 = _point_segment_d2((x1 - cx) * m_lon, (y1 - cy) * m_lat,
                               (x2 - cx) * m_lon, (y2 - cy) * m_lat)
        return d2 <= zone_radius_m[z] * zone_radius_m[z]
    if shape == SHAPE_CORRIDOR:
        r = zone_ring_lo[z]
        m_lon, m_lat = metres_per_degree(0.5 * (y1 + y2))
        half = zone_radius_m[z]
        for i in range(ring_start[r], ring_end[r] - 1):
            d2 = _segment_segment_d2(
                0.0, 0.0, (x2 - x1) * m_lon, (y2 - y1) * m_lat,
                (vx[i] - x1) * m_lon, (vy[i] - y1) * m_lat,
                (vx[i + 1] - x1) * m_lon, (vy[i + 1] - y1) * m_lat,
            )
            if d2 <= half * half:
                return True
        return False
    lo = zone_ring_lo[z]
    hi = zone_ring_hi[z]
    inside, _ = polygon_test(x1, y1, lo, hi, ring_start, ring_end, vx, vy, False)
    if inside:
        return True
    for r in range(lo, hi):
        for i in range(ring_start[r], ring_end[r] - 1):
            if _segments_touch(x1, y1, x2, y2, vx[i], vy[i], vx[i + 1], vy[i + 1]):
                return True
    return False


@nb.njit(cache=True, parallel=True)
def classify_pairs(
    pair_fix: np.ndarray,
    pair_zone: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    accuracy_m: np.ndarray,
    zone_shape: np.ndarray,
    zone_bbox: np.ndarray,
    zone_center: np.ndarray,
    zone_radius_m: np.ndarray,
    zone_ring_lo: np.ndarray,
    zone_ring_hi: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> np.ndarray:
    """Per pair: INSIDE, OUTSIDE, or UNCERTAIN (the fix is within its accuracy of the boundary)."""
    n = pair_fix.shape[0]
    out = np.empty(n, dtype=np.int8)
    for k in nb.prange(n):
        f = pair_fix[k]
        z = pair_zone[k]
        px = lon[f]
        py = lat[f]
        acc = accuracy_m[f]
        # Farther outside the bounding box than the accuracy: certainly outside.
        m_lon, m_lat = metres_per_degree(py)
        gx = max(zone_bbox[z, 0] - px, 0.0, px - zone_bbox[z, 2]) * m_lon
        gy = max(zone_bbox[z, 1] - py, 0.0, py - zone_bbox[z, 3]) * m_lat
        if gx > acc or gy > acc:
            out[k] = OUTSIDE
            continue
        inside, dist = zone_distance(px, py, z, zone_shape, zone_center, zone_radius_m,
                                     zone_ring_lo, zone_ring_hi, ring_start, ring_end, vx, vy)
        if dist <= acc:
            out[k] = UNCERTAIN
        elif inside:
            out[k] = INSIDE
        else:
            out[k] = OUTSIDE
    return out


@nb.njit(cache=True, parallel=True)
def distance_pairs(
    pair_fix: np.ndarray,
    pair_zone: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    zone_shape: np.ndarray,
    zone_center: np.ndarray,
    zone_radius_m: np.ndarray,
    zone_ring_lo: np.ndarray,
    zone_ring_hi: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> np.ndarray:
    """Signed metres from each fix to its zone's boundary: negative inside, positive outside."""
    n = pair_fix.shape[0]
    out = np.empty(n, dtype=np.float64)
    for k in nb.prange(n):
        f = pair_fix[k]
        inside, dist = zone_distance(lon[f], lat[f], pair_zone[k], zone_shape, zone_center,
                                     zone_radius_m, zone_ring_lo, zone_ring_hi, ring_start,
                                     ring_end, vx, vy)
        out[k] = -dist if inside else dist
    return out


@nb.njit(cache=True, parallel=True)
def segment_pairs(
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    pair_zone: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    zone_shape: np.ndarray,
    zone_bbox: np.ndarray,
    zone_center: np.ndarray,
    zone_radius_m: np.ndarray,
    zone_ring_lo: np.ndarray,
    zone_ring_hi: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> np.ndarray:
    """Per pair: whether the path from fix ``pair_a`` to fix ``pair_b`` enters the zone."""
    n = pair_zone.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    for k in nb.prange(n):
        a = pair_a[k]
        b = pair_b[k]
        z = pair_zone[k]
        x1 = lon[a]
        y1 = lat[a]
        x2 = lon[b]
        y2 = lat[b]
        if (max(x1, x2) < zone_bbox[z, 0] or min(x1, x2) > zone_bbox[z, 2]
                or max(y1, y2) < zone_bbox[z, 1] or min(y1, y2) > zone_bbox[z, 3]):
            continue
        out[k] = segment_meets_zone(x1, y1, x2, y2, z, zone_shape, zone_center, zone_radius_m,
                                    zone_ring_lo, zone_ring_hi, ring_start, ring_end, vx, vy)
    return out
