"""Numba kernels: point-in-zone and distance to a zone's boundary, for many (fix, zone) pairs.

Zones are flattened into arrays (see :class:`geofence.zoneset.ZoneSet`): each polygon zone owns a
range of rings, each ring a range of vertices (closed: last vertex equals the first). The
point-in-polygon test is even-odd crossing over every ring of the zone, which for a valid
(Multi)Polygon equals "inside a shell and not in one of its holes".

Distances are metres in a local metric frame centred on the fix (metres per degree of the WGS 84
ellipsoid at the fix's latitude): within a few kilometres of the fix the error is far below GPS
accuracy, which is the scale these decisions are made at.
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

EARTH_RADIUS_M = 6_371_008.8


@nb.njit(cache=True, inline="always")
def metres_per_degree(lat: float) -> tuple[float, float]:
    """(metres per degree of longitude, of latitude) on the WGS 84 ellipsoid at ``lat``."""
    phi = math.radians(lat)
    m_lat = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    m_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)
    return m_lon, m_lat


@nb.njit(cache=True, inline="always")
def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


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
    """(inside, distance in metres to the nearest edge) of a point against rings lo..hi.

    When ``want_distance`` is false the distance is not computed and returned as +inf.
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
                ax = (x1 - px) * m_lon
                ay = (y1 - py) * m_lat
                bx = (x2 - px) * m_lon
                by = (y2 - py) * m_lat
                dx = bx - ax
                dy = by - ay
                seg2 = dx * dx + dy * dy
                t = 0.0
                if seg2 > 0.0:
                    t = -(ax * dx + ay * dy) / seg2
                    t = min(1.0, max(0.0, t))
                cx = ax + t * dx
                cy = ay + t * dy
                d2 = cx * cx + cy * cy
                if d2 < best:
                    best = d2
    return inside, math.sqrt(best)


@nb.njit(cache=True, parallel=True)
def classify_pairs(
    pair_fix: np.ndarray,
    pair_zone: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    accuracy_m: np.ndarray,
    zone_shape: np.ndarray,
    zone_bbox: np.ndarray,
    zone_ring_lo: np.ndarray,
    zone_ring_hi: np.ndarray,
    zone_radius_m: np.ndarray,
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
        if zone_shape[z] == SHAPE_CIRCLE:
            d = haversine_m(px, py, zone_bbox[z, 4], zone_bbox[z, 5]) - zone_radius_m[z]
            if abs(d) <= acc:
                out[k] = UNCERTAIN
            elif d < 0:
                out[k] = INSIDE
            else:
                out[k] = OUTSIDE
            continue
        # Far outside the bounding box (by more than the accuracy): certainly outside.
        m_lon, m_lat = metres_per_degree(py)
        gx = max(zone_bbox[z, 0] - px, 0.0, px - zone_bbox[z, 2]) * m_lon
        gy = max(zone_bbox[z, 1] - py, 0.0, py - zone_bbox[z, 3]) * m_lat
        if gx > acc or gy > acc:
            out[k] = OUTSIDE
            continue
        inside, dist = polygon_test(
            px, py, zone_ring_lo[z], zone_ring_hi[z], ring_start, ring_end, vx, vy, True
        )
        if dist <= acc:
            out[k] = UNCERTAIN
        elif inside:
            out[k] = INSIDE
        else:
            out[k] = OUTSIDE
    return out


@nb.njit(cache=True, parallel=True)
def contains_points(
    lon: np.ndarray,
    lat: np.ndarray,
    bbox: np.ndarray,
    ring_lo: int,
    ring_hi: int,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> np.ndarray:
    """Even-odd point-in-polygon for many points against one polygon zone."""
    n = lon.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    for k in nb.prange(n):
        px = lon[k]
        py = lat[k]
        if px < bbox[0] or px > bbox[2] or py < bbox[1] or py > bbox[3]:
            continue
        inside, _ = polygon_test(px, py, ring_lo, ring_hi, ring_start, ring_end, vx, vy, False)
        out[k] = inside
    return out
