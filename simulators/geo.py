"""Local metric geometry on WGS 84 lon/lat: metres per degree, offsets, distances, circles.

Everything the simulator measures is at most tens of kilometres across, so a local flat
approximation with the exact WGS 84 scale at the latitude in question is enough: against
geodesic distance its error is below a millimetre at the 75–700 m radii that decide labels.
Planar lon/lat is kept for containment in polygons, as in Cordon itself.

>>> mx, my = metres_per_degree(30.0)
>>> round(float(mx)), round(float(my))
(96486, 110852)
>>> lon, lat = offset(-97.74, 30.27, 300.0, 400.0)
>>> round(float(distance_m(-97.74, 30.27, lon, lat)), 2)
500.0
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from shapely.geometry import Polygon

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | FloatArray


def metres_per_degree(lat: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """(metres per degree of longitude, of latitude) at ``lat`` on the WGS 84 ellipsoid."""
    phi = np.radians(lat)
    m_lat = 111_132.92 - 559.82 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
    m_lon = 111_412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi) + 0.118 * np.cos(5 * phi)
    return m_lon, m_lat


def offset(lon: ArrayLike, lat: ArrayLike, east_m: ArrayLike, north_m: ArrayLike
           ) -> tuple[ArrayLike, ArrayLike]:
    """The point ``east_m`` east and ``north_m`` north of (lon, lat)."""
    m_lon, m_lat = metres_per_degree(lat)
    return lon + east_m / m_lon, lat + north_m / m_lat


def distance_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> ArrayLike:
    """Distance in metres between nearby points (scale taken at their mean latitude)."""
    m_lon, m_lat = metres_per_degree((np.asarray(lat1) + np.asarray(lat2)) / 2.0)
    return np.hypot((np.asarray(lon2) - lon1) * m_lon, (np.asarray(lat2) - lat1) * m_lat)


def degrees_for(metres: float, lat: float) -> float:
    """A buffer distance in degrees that is at least ``metres`` in every direction at ``lat``.

    A buffer in degrees is isotropic in lon/lat but not on the ground; longitude degrees are the
    shorter ones, so sizing by them keeps every direction at or above the wanted margin."""
    m_lon, m_lat = metres_per_degree(lat)
    return metres / float(min(m_lon, m_lat))


def circle_polygon(lon: float, lat: float, radius_m: float, segments: int = 64) -> Polygon:
    """A polygon through points ``radius_m`` from the centre (inscribed, so slightly smaller)."""
    angles = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    xs, ys = offset(lon, lat, radius_m * np.cos(angles), radius_m * np.sin(angles))
    return Polygon(np.column_stack([xs, ys]))
