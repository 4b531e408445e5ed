"""A compiled set of zones: flat arrays the kernels read, and the batch API the engine calls."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from geofence import kernel
from geofence.zones import Zone


class ZoneSet:
    """Zones flattened for the Numba kernels.

    >>> from shapely.geometry import box
    >>> zs = ZoneSet([Zone("z", "z", "exclusion", "polygon", box(0, 0, 1, 1))])
    >>> zs.classify(np.array([0.5, 2.0]), np.array([0.5, 0.5]), np.array([10.0, 10.0]),
    ...             np.array([0, 1]), np.array([0, 0])).tolist()
    [1, 0]
    """

    def __init__(self, zones: Sequence[Zone]):
        self.zones: list[Zone] = list(zones)
        self.index: dict[str, int] = {z.id: i for i, z in enumerate(self.zones)}
        n = len(self.zones)
        self.shape = np.zeros(n, dtype=np.int8)
        # minx, miny, maxx, maxy, and for circles the centre lon, lat.
        self.bbox = np.zeros((n, 6), dtype=np.float64)
        self.ring_lo = np.zeros(n, dtype=np.int64)
        self.ring_hi = np.zeros(n, dtype=np.int64)
        self.radius_m = np.zeros(n, dtype=np.float64)
        ring_start: list[int] = []
        ring_end: list[int] = []
        coords: list[np.ndarray] = []
        nverts = 0
        for i, zone in enumerate(self.zones):
            if zone.shape == "circle":
                self.shape[i] = kernel.SHAPE_CIRCLE
                self.radius_m[i] = zone.radius_m
                cx, cy = zone.geometry.x, zone.geometry.y
                self.bbox[i] = (cx, cy, cx, cy, cx, cy)
                continue
            self.shape[i] = kernel.SHAPE_POLYGON
            self.bbox[i, :4] = zone.geometry.bounds
            self.ring_lo[i] = len(ring_start)
            for ring in _rings(zone.geometry):
                xy = np.asarray(ring.coords, dtype=np.float64)[:, :2]
                ring_start.append(nverts)
                nverts += len(xy)
                ring_end.append(nverts)
                coords.append(xy)
            self.ring_hi[i] = len(ring_start)
        self.ring_start = np.asarray(ring_start, dtype=np.int64)
        self.ring_end = np.asarray(ring_end, dtype=np.int64)
        allxy = np.concatenate(coords) if coords else np.zeros((0, 2))
        self.vx = np.ascontiguousarray(allxy[:, 0])
        self.vy = np.ascontiguousarray(allxy[:, 1])

    @property
    def vertex_count(self) -> int:
        return len(self.vx)

    def classify(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        accuracy_m: np.ndarray,
        pair_fix: np.ndarray,
        pair_zone: np.ndarray,
    ) -> np.ndarray:
        """Decisions (``kernel.INSIDE`` / ``OUTSIDE`` / ``UNCERTAIN``) for (fix, zone) pairs."""
        if len(pair_fix) == 0:
            return np.zeros(0, dtype=np.int8)
        return kernel.classify_pairs(
            np.ascontiguousarray(pair_fix, dtype=np.int64),
            np.ascontiguousarray(pair_zone, dtype=np.int64),
            np.ascontiguousarray(lon, dtype=np.float64),
            np.ascontiguousarray(lat, dtype=np.float64),
            np.ascontiguousarray(accuracy_m, dtype=np.float64),
            self.shape,
            self.bbox,
            self.ring_lo,
            self.ring_hi,
            self.radius_m,
            self.ring_start,
            self.ring_end,
            self.vx,
            self.vy,
        )


    def contains(self, zone: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Plain point-in-polygon (no accuracy) of many points against one polygon zone."""
        if self.shape[zone] != kernel.SHAPE_POLYGON:
            raise ValueError(f"zone {self.zones[zone].id} is not a polygon")
        return kernel.contains_points(
            np.ascontiguousarray(lon, dtype=np.float64),
            np.ascontiguousarray(lat, dtype=np.float64),
            np.ascontiguousarray(self.bbox[zone, :4]),
            int(self.ring_lo[zone]),
            int(self.ring_hi[zone]),
            self.ring_start,
            self.ring_end,
            self.vx,
            self.vy,
        )


def _rings(geom: Polygon | MultiPolygon):
    polygons = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    for poly in polygons:
        yield poly.exterior
        yield from poly.interiors
