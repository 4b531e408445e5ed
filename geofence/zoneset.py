"""A compiled set of zones: flat arrays the kernels read, and the batch API the engine calls.

>>> from shapely.geometry import box
>>> zs = ZoneSet([Zone("z", "z", "exclusion", "polygon", box(0, 0, 1, 1))])
>>> zs.classify(np.array([0.5, 2.0]), np.array([0.5, 0.5]), np.array([10.0, 10.0]),
...             np.array([0, 1]), np.array([0, 0])).tolist()
[1, 0]
>>> offsets, zones = zs.zones_containing(np.array([0.5, 2.0]), np.array([0.5, 0.5]))
>>> offsets.tolist(), zones.tolist()
([0, 1, 1], [0])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence

import numpy as np
from shapely.geometry import LineString, MultiPolygon, Polygon

from geofence import grid, index, kernel
from geofence.numbers import numbering
from geofence.zonelist import ZoneList, zone_list
from geofence.zones import Zone

CELLS_PER_VERTEX = 4.0
MAX_CELLS_PER_PART = 1 << 16


class ZoneSet:
    """Zones flattened for the Numba kernels, with a grid per polygon part and a candidate index.

    Zones are numbered in the order given; :attr:`index` maps a zone id to its number.
    """

    def __init__(self, zones: Sequence[Zone], index: dict[str, int] | None = None):
        """``index``: each zone's number, when the caller holds it already (the registry's:
        one dict of millions of ids, not two)."""
        # (Shared with the registry, never written here: a change makes a copy.)
        self.zones: ZoneList = zone_list(zones)
        self.index: dict[str, int] = index if index is not None else numbering(self.zones.ids)
        n = len(self.zones)
        self.shape = np.full(n, kernel.SHAPE_CIRCLE, dtype=np.int8)
        self.bbox = np.zeros((n, 4), dtype=np.float64)  # covers the zone (circles too)
        self.center = np.zeros((n, 2), dtype=np.float64)
        self.radius_m = np.zeros(n, dtype=np.float64)  # circle radius, corridor half width
        ring_start: list[int] = []
        ring_end: list[int] = []
        coords: list[np.ndarray] = []
        part_rings: list[tuple[int, int]] = []
        part_zone: list[int] = []
        part_bbox: list[tuple[float, float, float, float]] = []
        # Zone i's rings and polygon parts: ring_lo[i]..ring_hi[i], part_lo[i]..part_hi[i]; a
        # circle has none (an empty run where the zone before it ends).
        rings = np.zeros(n, dtype=np.int64)
        parts = np.zeros(n, dtype=np.int64)
        nverts = 0

        def add_ring(xy: np.ndarray) -> None:
            nonlocal nverts
            ring_start.append(nverts)
            nverts += len(xy)
            ring_end.append(nverts)
            coords.append(xy)

        for i, zone in self.zones.others():  # (most zones are circles: rows written below)
            first_ring, first_part = len(ring_start), len(part_rings)
            if zone.shape == "circle":  # (one with a width, held as an object)
                self.radius_m[i], self.center[i] = zone.radius_m, zone.center
                self.bbox[i] = _grown_circles(self.center[i:i + 1], self.radius_m[i:i + 1])[0]
            elif zone.shape == "corridor":
                self.shape[i] = kernel.SHAPE_CORRIDOR
                self.radius_m[i] = zone.width_m / 2
                self.bbox[i] = _grown(zone.geometry.bounds, zone.width_m / 2)
                add_ring(_xy(zone.geometry))
            else:
                self.shape[i] = kernel.SHAPE_POLYGON
                self.bbox[i] = zone.geometry.bounds
                for poly in _polygons(zone.geometry):
                    first = len(ring_start)
                    add_ring(_xy(poly.exterior))
                    for hole in poly.interiors:
                        add_ring(_xy(hole))
                    part_rings.append((first, len(ring_start)))
                    part_zone.append(i)
                    part_bbox.append(poly.bounds)
            rings[i], parts[i] = len(ring_start) - first_ring, len(part_rings) - first_part
        # (int32: four numbers a zone, most of them circles with none; a set holds fewer than
        # 2**31 rings.)
        self.ring_hi = np.cumsum(rings).astype(np.int32)
        self.ring_lo = self.ring_hi - rings.astype(np.int32)
        self.part_hi = np.cumsum(parts).astype(np.int32)
        self.part_lo = self.part_hi - parts.astype(np.int32)
        circles = self.zones.circle_rows()
        if len(circles):
            self.radius_m[circles] = self.zones.radii(circles)
            self.center[circles] = self.zones.centers(circles)
            self.bbox[circles] = _grown_circles(self.center[circles], self.radius_m[circles])

        self.ring_start = np.asarray(ring_start, dtype=np.int64)
        self.ring_end = np.asarray(ring_end, dtype=np.int64)
        allxy = np.concatenate(coords) if coords else np.zeros((0, 2))
        self.vx = np.ascontiguousarray(allxy[:, 0], dtype=np.float64)
        self.vy = np.ascontiguousarray(allxy[:, 1], dtype=np.float64)
        self._build_grids(part_rings, part_bbox)
        # The candidate index serves only "which zones contain this point" (the engine's
        # classification names its pairs): built on first use, it costs a registry change
        # nothing, nor an engine's memory.
        self._part_zone = np.asarray(part_zone, dtype=np.int64)
        self._indexed = False

    def with_circles(self, redrawn: dict[int, Zone], added: Sequence[Zone] = (),
                     index: dict[str, int] | None = None, zones: ZoneList | None = None
                     ) -> ZoneSet | None:
        """A copy with the circles numbered in ``redrawn`` drawn anew (centre, radius,
        schedule), and the circles ``added`` numbered last, sharing everything else: a circle
        has no rings and no grid, only its row of the zone arrays. None when one of them,
        before or after, is not a circle, or names another zone (or an id already here):
        then compile the set anew. ``index`` and ``zones``: the numbers of all of them and
        the list of them, when the caller holds those already (the registry's: one list of
        millions of zones, not two)."""
        for i, z in redrawn.items():
            if self.shape[i] != kernel.SHAPE_CIRCLE or z.shape != "circle" or (
                    self.zones.ids[i] != z.id):
                return None
        if any(z.shape != "circle" or z.id in self.index for z in added) or len(
                {z.id for z in added}) != len(added):
            return None
        out = copy.copy(self)
        out.zones = self.zones.copy() if zones is None else zones
        out.bbox, out.center, out.radius_m = self.bbox.copy(), self.center.copy(), \
            self.radius_m.copy()
        if added:
            n, k = len(self.zones), len(added)
            out.index = index if index is not None else {
                **self.index, **numbering([zone.id for zone in added], n)}
            if zones is None:
                out.zones.extend(added)
            grow = np.zeros(k, dtype=np.int32)
            out.shape = np.concatenate([self.shape, np.full(k, kernel.SHAPE_CIRCLE, np.int8)])
            out.bbox = np.concatenate([out.bbox, np.zeros((k, 4))])
            out.center = np.concatenate([out.center, np.zeros((k, 2))])
            out.radius_m = np.concatenate([out.radius_m, np.zeros(k)])
            # No rings, no parts: empty runs where the arrays end.
            out.ring_lo = np.concatenate([self.ring_lo, grow + len(self.ring_start)])
            out.ring_hi = np.concatenate([self.ring_hi, grow + len(self.ring_start)])
            out.part_lo = np.concatenate([self.part_lo, grow + len(self.part_ring_lo)])
            out.part_hi = np.concatenate([self.part_hi, grow + len(self.part_ring_lo)])
            redrawn = {**redrawn, **{n + i: z for i, z in enumerate(added)}}
        for i, zone in redrawn.items():
            if zones is None:
                out.zones[i] = zone
            out.radius_m[i] = zone.radius_m
            out.center[i] = zone.center
            out.bbox[i] = _grown_circles(out.center[i:i + 1], np.asarray([zone.radius_m]))[0]
        out._indexed = False
        return out

    def _build_grids(self, part_rings: list[tuple[int, int]], part_bbox: list) -> None:
        rings = np.asarray(part_rings, dtype=np.int64).reshape(-1, 2)
        self.part_ring_lo = np.ascontiguousarray(rings[:, 0])
        self.part_ring_hi = np.ascontiguousarray(rings[:, 1])
        self.part_bbox = np.asarray(part_bbox, dtype=np.float64).reshape(-1, 4)
        self.grid_gx, self.grid_gy, self.grid_off = grid.grid_sizes(
            self.part_ring_lo, self.part_ring_hi, self.part_bbox, self.ring_start,
            self.ring_end, CELLS_PER_VERTEX, MAX_CELLS_PER_PART,
        )
        self.cell_state, self.cell_centre_in, self.cell_edge_off, self.cell_edges = (
            grid.build_grids(
                self.part_ring_lo, self.part_ring_hi, self.part_bbox, self.grid_gx,
                self.grid_gy, self.grid_off, self.ring_start, self.ring_end, self.vx, self.vy,
            )
        )

    def _ensure_index(self) -> None:
        if not self._indexed:
            self._build_index(self._part_zone)
            self._indexed = True

    def _build_index(self, part_zone: np.ndarray) -> None:
        others = np.flatnonzero(self.shape != kernel.SHAPE_POLYGON)
        self.item_kind = np.concatenate([
            np.full(len(part_zone), index.ITEM_PART, dtype=np.int8),
            np.where(self.shape[others] == kernel.SHAPE_CIRCLE, index.ITEM_CIRCLE,
                     index.ITEM_CORRIDOR).astype(np.int8),
        ])
        self.item_ref = np.concatenate([np.arange(len(part_zone)), others]).astype(np.int64)
        self.item_zone = np.concatenate([np.asarray(part_zone, dtype=np.int64), others])
        self.item_bbox = np.ascontiguousarray(
            np.concatenate([self.part_bbox, self.bbox[others]]).reshape(-1, 4)
        )
        self.index_geometry = index.index_geometry(self.item_bbox)
        g = self.index_geometry
        self.index_block_of, coarse_of, off, items = index.build_index(
            self.item_bbox, g.x0, g.y0, g.size, g.cols, g.rows
        )
        kinds = index.entry_kinds(
            off, items, coarse_of, g.x0, g.y0, g.size, g.cols, self.item_kind, self.item_ref,
            self.part_bbox, self.grid_gx, self.grid_gy, self.grid_off, self.cell_state,
        )
        self.index_off, self.index_items, self.index_kinds = index.prune(off, items, kinds)

    @property
    def vertex_count(self) -> int:
        return len(self.vx)

    def _zone_arrays(self) -> tuple:
        return (self.shape, self.bbox, self.center, self.radius_m, self.ring_lo, self.ring_hi,
                self.ring_start, self.ring_end, self.vx, self.vy)

    def classify(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        accuracy_m: np.ndarray,
        pair_fix: np.ndarray,
        pair_zone: np.ndarray,
    ) -> np.ndarray:
        """Decisions (``INSIDE`` / ``OUTSIDE`` / ``UNCERTAIN``) for (fix, zone) pairs.

        A decision is certain only when the fix lies farther than its accuracy radius from the
        zone's boundary.
        """
        if len(pair_fix) == 0:
            return np.zeros(0, dtype=np.int8)
        pair_fix, pair_zone = _i64(pair_fix), _i64(pair_zone)
        lon, lat, accuracy_m = _f64(lon), _f64(lat), _f64(accuracy_m)
        # Most fixes lie far from every boundary: the grids settle them, and only those near
        # an edge pay for the exhaustive distance.
        cells = grid.certain_pairs(
            pair_fix, pair_zone, lon, lat, accuracy_m, self.part_lo, self.part_hi,
            self.part_bbox, self.grid_gx, self.grid_gy, self.grid_off, self.cell_state,
        )
        out = np.where(cells == grid.CELL_INSIDE, kernel.INSIDE, kernel.OUTSIDE).astype(np.int8)
        near = np.flatnonzero(cells == grid.CELL_EDGES)
        if len(near):
            out[near] = kernel.classify_pairs(
                pair_fix[near], pair_zone[near], lon, lat, accuracy_m, *self._zone_arrays())
        return out

    def distance_m(
        self, lon: np.ndarray, lat: np.ndarray, pair_fix: np.ndarray, pair_zone: np.ndarray
    ) -> np.ndarray:
        """Signed metres from each fix to its zone's boundary: negative inside."""
        shape, _bbox, *rest = self._zone_arrays()
        return kernel.distance_pairs(
            _i64(pair_fix), _i64(pair_zone), _f64(lon), _f64(lat), shape, *rest
        )

    def segment_enters(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        pair_from: np.ndarray,
        pair_to: np.ndarray,
        pair_zone: np.ndarray,
    ) -> np.ndarray:
        """Whether the straight path between two fixes meets the zone, per (from, to, zone)."""
        return kernel.segment_pairs(
            _i64(pair_from), _i64(pair_to), _i64(pair_zone), _f64(lon), _f64(lat),
            *self._zone_arrays(),
        )

    def zones_containing(
        self, lon: np.ndarray, lat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which zones contain each point, as CSR: zones of point i are
        ``zones[offsets[i]:offsets[i + 1]]`` (no accuracy: plain containment)."""
        self._ensure_index()
        lon, lat = _f64(lon), _f64(lat)
        g = self.index_geometry
        cells = index.locate(lon, lat, g.x0, g.y0, g.size, g.cols, g.rows, self.index_block_of)
        order = index.cell_order(cells, len(self.index_off) - 1)
        # Gathered once, in a tight loop: the scan then reads its points in sequence.
        s_cells, s_lon, s_lat = cells[order], lon[order], lat[order]
        max_hits = 8
        while True:
            count, hits = index.scan(
                s_cells, s_lon, s_lat, max_hits, self.index_off, self.index_items,
                self.index_kinds, self.item_kind, self.item_ref, self.item_zone, self.item_bbox,
                self.center, self.radius_m, self.ring_lo, self.part_bbox, self.part_ring_lo,
                self.part_ring_hi, self.grid_gx, self.grid_gy, self.grid_off, self.cell_state,
                self.cell_centre_in, self.cell_edge_off, self.cell_edges, self.ring_start,
                self.ring_end, self.vx, self.vy,
            )
            if len(count) == 0 or count.max() <= max_hits:
                break
            max_hits = int(count.max())
        return index.assemble(len(lon), order, count, hits)

    def contains(self, zone: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Plain containment (no accuracy) of many points in one zone."""
        lon, lat = _f64(lon), _f64(lat)
        offsets, zones = self.zones_containing(lon, lat)
        fix = np.repeat(np.arange(len(lon)), np.diff(offsets))
        out = np.zeros(len(lon), dtype=bool)
        out[fix[zones == zone]] = True
        return out


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _i64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _xy(geom: LineString) -> np.ndarray:
    return np.asarray(geom.coords, dtype=np.float64)[:, :2]


def _polygons(geom: Polygon | MultiPolygon) -> Iterator[Polygon]:
    yield from (geom.geoms if isinstance(geom, MultiPolygon) else [geom])


def _grown_circles(center: np.ndarray, metres: np.ndarray) -> np.ndarray:
    """:func:`_grown` of each circle's centre by its radius, at once."""
    x, y = center[:, 0], center[:, 1]
    pad = 1.01 * metres
    dlat = pad / 110_574.0
    lat_far = np.minimum(89.9, np.abs(y) + dlat)
    dlon = pad / (111_320.0 * np.cos(np.radians(lat_far)))
    return np.stack([np.maximum(-180.0, x - dlon), np.maximum(-90.0, y - dlat),
                     np.minimum(180.0, x + dlon), np.minimum(90.0, y + dlat)], axis=1)


def _grown(bounds: tuple[float, float, float, float], metres: float) -> tuple:
    """Bounds grown by ``metres`` on every side, conservatively, in degrees."""
    minx, miny, maxx, maxy = bounds
    pad = 1.01 * metres
    dlat = pad / 110_574.0  # the fewest metres per degree of latitude (at the equator)
    lat_far = min(89.9, max(abs(miny), abs(maxy)) + dlat)
    dlon = pad / (111_320.0 * math.cos(math.radians(lat_far)))
    return (max(-180.0, minx - dlon), max(-90.0, miny - dlat),
            min(180.0, maxx + dlon), min(90.0, maxy + dlat))
