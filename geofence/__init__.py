"""The geofence kernel: zones, their compiled arrays, and exact point-in-zone decisions.

Pure computation on arrays — no I/O. Decisions per (fix, zone) are ``INSIDE``, ``OUTSIDE`` or
``UNCERTAIN`` (the fix is within its accuracy radius of the boundary, so neither is certain).

- :mod:`geofence.zones` — zones from and to GeoJSON: polygons, circles, corridors;
- :mod:`geofence.zoneset` — a compiled set of zones: containment, distances, paths;
- :mod:`geofence.assignments` — which zones apply to whom and when: the engine's batch API;
- :mod:`geofence.kernel` — the exact Numba tests of a point or a path against one zone;
- :mod:`geofence.grid` — per-polygon cell grids that decide most points with one lookup;
- :mod:`geofence.index` — the candidate index: which zones can contain a point;
- :mod:`geofence.schedules` — when a rule is in force (weekly local windows, DST, exceptions).

>>> import numpy as np
>>> square = {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}
>>> contains(square, [1.0, 3.0], [1.0, 1.0]).tolist()
[True, False]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from geofence.assignments import INACTIVE, Assignment, AssignmentSet, Decisions
from geofence.kernel import INSIDE, OUTSIDE, UNCERTAIN
from geofence.schedules import Schedule, ScheduleError
from geofence.zones import Zone, ZoneError
from geofence.zoneset import ZoneSet

__all__ = [
    "INACTIVE",
    "INSIDE",
    "OUTSIDE",
    "UNCERTAIN",
    "Assignment",
    "AssignmentSet",
    "Decisions",
    "Schedule",
    "ScheduleError",
    "Zone",
    "ZoneError",
    "ZoneSet",
    "contains",
]


def contains(geometry: Any, lon: Any, lat: Any) -> np.ndarray:
    """Whether each (lon, lat) lies inside a Polygon or MultiPolygon.

    ``geometry`` is a GeoJSON geometry mapping or a Shapely geometry; ``lon``/``lat`` are scalars
    or arrays. Agrees with :func:`shapely.contains_xy` for points not on the boundary.
    """
    geom = geometry if isinstance(geometry, shapely.Geometry) else shape(geometry)
    if not isinstance(geom, Polygon | MultiPolygon):
        raise TypeError(f"contains() needs a Polygon or MultiPolygon, not {geom.geom_type}")
    xs, ys = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    zs = ZoneSet([Zone("_", "_", "exclusion", "polygon", geom)])
    return zs.contains(0, xs.ravel(), ys.ravel()).reshape(xs.shape)
