"""Distances in metres between nearby points, vectorised (a local equirectangular scale taken
at the mean latitude: within 0.1 % up to tens of kilometres, which is what rules compare).

>>> round(float(distance_m(-97.74, 30.27, -97.74, 30.28)))
1109
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

WGS84_A = 6_378_137.0
WGS84_E2 = 6.694_379_990_14e-3


def distance_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> np.ndarray:
    lon1, lat1, lon2, lat2 = (np.asarray(a, dtype=np.float64) for a in (lon1, lat1, lon2, lat2))
    phi = np.radians((lat1 + lat2) / 2.0)
    s = np.sin(phi)
    w = np.sqrt(1.0 - WGS84_E2 * s * s)
    m_lon = np.radians(1.0) * WGS84_A / w * np.cos(phi)
    m_lat = np.radians(1.0) * WGS84_A * (1.0 - WGS84_E2) / (w * w * w)
    return np.hypot((lon2 - lon1) * m_lon, (lat2 - lat1) * m_lat)
