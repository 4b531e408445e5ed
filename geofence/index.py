"""The candidate index: which zones might contain a point, from a uniform grid over all zones.

Every indexed item — a polygon part, a circle, a corridor — is listed in each grid cell its
bounding box meets, unless the item's own grid shows the cell to be wholly outside it; an entry
whose cell lies wholly inside its polygon part is marked ``COVERS`` and answers without a test.
A point looks up its cell and tests only the entries left there, so the work per fix depends on
how many zone boundaries pass near it, not on how many zones exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from geofence.grid import CELL_INSIDE, CELL_OUTSIDE, part_contains
from geofence.kernel import (
    geodesic_m,
    polyline_distance_m,
)

ITEM_PART = 0
ITEM_CIRCLE = 1
ITEM_CORRIDOR = 2

ENTRY_TEST = np.int8(0)  # the point must be tested against the item
ENTRY_COVERS = np.int8(1)  # the cell lies wholly inside the item
_ENTRY_NONE = np.int8(2)  # the cell lies wholly outside the item (pruned)


BLOCK = 16  # fine cells per side of a coarse block


@dataclass(frozen=True, slots=True)
class IndexGeometry:
    """A two-level grid: coarse blocks of BLOCK × BLOCK fine cells, only where items are."""

    x0: float
    y0: float
    size: float  # of a fine cell, in degrees
    cols: int  # fine cells across the whole extent
    rows: int

    @property
    def coarse_cols(self) -> int:
        return self.cols // BLOCK + 1

    @property
    def coarse_rows(self) -> int:
        return self.rows // BLOCK + 1


def index_geometry(item_bbox: np.ndarray, virtual_cells: int = 64_000_000) -> IndexGeometry:
    """A fine cell about an eighth of the typical item, within ``virtual_cells`` over the extent
    (only the blocks that items touch are ever stored)."""
    if len(item_bbox) == 0:
        return IndexGeometry(0.0, 0.0, 1.0, 1, 1)
    x0, y0 = float(item_bbox[:, 0].min()), float(item_bbox[:, 1].min())
    x1, y1 = float(item_bbox[:, 2].max()), float(item_bbox[:, 3].max())
    w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    median = float(np.median(np.maximum(item_bbox[:, 2] - item_bbox[:, 0],
                                        item_bbox[:, 3] - item_bbox[:, 1])))
    size = max(median / 8, math.sqrt(w * h / virtual_cells), 1e-7)
    # One cell of slack past the far edges: a point on an item's far edge still has a cell.
    return IndexGeometry(x0, y0, size, int(w // size) + 1, int(h // size) + 1)


@nb.njit(cache=True, inline="always")
def _fine_range(lo: float, origin: float, size: float, count: int) -> int:
    return max(0, min(int(math.floor((lo - origin) / size)), count - 1))


@nb.njit(cache=True)
def build_index(
    item_bbox: np.ndarray, x0: float, y0: float, size: float, cols: int, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(block of each coarse cell or -1, coarse cell of each block, entry offsets per fine
    cell of the stored blocks, items) — the items whose bounding box meets each fine cell."""
    ccols = cols // BLOCK + 1
    crows = rows // BLOCK + 1
    block_of = np.full(ccols * crows, -1, dtype=np.int32)
    n = item_bbox.shape[0]
    nblocks = 0
    for k in range(n):
        c0 = _fine_range(item_bbox[k, 0], x0, size, cols) // BLOCK
        c1 = _fine_range(item_bbox[k, 2], x0, size, cols) // BLOCK
        r0 = _fine_range(item_bbox[k, 1], y0, size, rows) // BLOCK
        r1 = _fine_range(item_bbox[k, 3], y0, size, rows) // BLOCK
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                if block_of[r * ccols + c] < 0:
                    block_of[r * ccols + c] = nblocks
                    nblocks += 1
    coarse_of = np.empty(nblocks, dtype=np.int64)
    for cc in range(ccols * crows):
        if block_of[cc] >= 0:
            coarse_of[block_of[cc]] = cc
    per_block = BLOCK * BLOCK
    counts = np.zeros(nblocks * per_block + 1, dtype=np.int64)
    for phase in range(2):
        if phase == 1:
            off = np.cumsum(counts)
            items = np.empty(off[-1], dtype=np.int64)
            cursor = off[:-1].copy()
        for k in range(n):
            c0 = _fine_range(item_bbox[k, 0], x0, size, cols)
            c1 = _fine_range(item_bbox[k, 2], x0, size, cols)
            r0 = _fine_range(item_bbox[k, 1], y0, size, rows)
            r1 = _fine_range(item_bbox[k, 3], y0, size, rows)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    cell = (block_of[(r // BLOCK) * ccols + c // BLOCK] * per_block
                            + (r % BLOCK) * BLOCK + c % BLOCK)
                    if phase == 0:
                        counts[cell + 1] += 1
                    else:
                        items[cursor[cell]] = k
                        cursor[cell] += 1
    return block_of, coarse_of, off, items


@nb.njit(cache=True, inline="always")
def fine_cell(
    px: float, py: float, x0: float, y0: float, size: float, cols: int, rows: int,
    block_of: np.ndarray,
) -> int:
    """The stored fine cell holding the point, or -1 when no item is near it."""
    col = int(math.floor((px - x0) / size))
    row = int(math.floor((py - y0) / size))
    if col < 0 or row < 0 or col >= cols or row >= rows:
        return -1
    b = block_of[(row // BLOCK) * (cols // BLOCK + 1) + col // BLOCK]
    if b < 0:
        return -1
    return b * BLOCK * BLOCK + (row % BLOCK) * BLOCK + col % BLOCK


@nb.njit(cache=True, parallel=True)
def entry_kinds(
    off: np.ndarray,
    items: np.ndarray,
    coarse_of: np.ndarray,
    x0: float, y0: float, size: float, cols: int,
    item_kind: np.ndarray,
    item_ref: np.ndarray,
    part_bbox: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    cell_off: np.ndarray,
    state: np.ndarray,
) -> np.ndarray:
    """For each index entry: COVERS, TEST, or NONE (prune), from the part's own grid."""
    kinds = np.full(items.shape[0], ENTRY_TEST, dtype=np.int8)
    ncells = off.shape[0] - 1
    ccols = cols // BLOCK + 1
    for cell in nb.prange(ncells):
        cc = coarse_of[cell // (BLOCK * BLOCK)]
        local = cell % (BLOCK * BLOCK)
        cx0 = x0 + ((cc % ccols) * BLOCK + local % BLOCK) * size
        cy0 = y0 + ((cc // ccols) * BLOCK + local // BLOCK) * size
        cx1 = cx0 + size
        cy1 = cy0 + size
        for j in range(off[cell], off[cell + 1]):
            k = items[j]
            if item_kind[k] != ITEM_PART:
                continue
            p = item_ref[k]
            px0 = part_bbox[p, 0]
            py0 = part_bbox[p, 1]
            pdx = (part_bbox[p, 2] - px0) / gx[p]
            pdy = (part_bbox[p, 3] - py0) / gy[p]
            within = (cx0 >= px0 and cy0 >= py0
                      and cx1 <= part_bbox[p, 2] and cy1 <= part_bbox[p, 3])
            c0 = max(0, min(int(math.floor((cx0 - px0) / pdx)), gx[p] - 1))
            c1 = max(0, min(int(math.floor((cx1 - px0) / pdx)), gx[p] - 1))
            r0 = max(0, min(int(math.floor((cy0 - py0) / pdy)), gy[p] - 1))
            r1 = max(0, min(int(math.floor((cy1 - py0) / pdy)), gy[p] - 1))
            all_in = within
            all_out = True
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    s = state[cell_off[p] + r * gx[p] + c]
                    if s != CELL_INSIDE:
                        all_in = False
                    if s != CELL_OUTSIDE:
                        all_out = False
                if not all_in and not all_out:
                    break
            if all_in:
                kinds[j] = ENTRY_COVERS
            elif all_out:
                kinds[j] = _ENTRY_NONE
    return kinds


def prune(off: np.ndarray, items: np.ndarray, kinds: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop the entries whose cell lies wholly outside their item; COVERS entries first."""
    cell = np.repeat(np.arange(len(off) - 1), np.diff(off))
    keep = kinds != _ENTRY_NONE
    cell, items, kinds = cell[keep], items[keep], kinds[keep]
    order = np.lexsort((-kinds, cell))  # within a cell, answers without a test come first
    cell, items, kinds = cell[order], items[order], kinds[order]
    new_off = np.zeros_like(off)
    np.cumsum(np.bincount(cell, minlength=len(off) - 1), out=new_off[1:])
    return new_off, np.ascontiguousarray(items), np.ascontiguousarray(kinds)


@nb.njit(cache=True, inline="always")
def _item_contains(
    px, py, k, item_kind, item_ref, item_bbox, zone_center, zone_radius_m, zone_ring_lo,
    part_bbox, part_ring_lo, part_ring_hi, gx, gy, cell_off, state, centre_in, edge_off, edges,
    ring_start, ring_end, vx, vy,
) -> bool:
    if (px < item_bbox[k, 0] or px > item_bbox[k, 2]
            or py < item_bbox[k, 1] or py > item_bbox[k, 3]):
        return False
    kind = item_kind[k]
    ref = item_ref[k]
    if kind == ITEM_PART:
        return part_contains(px, py, ref, part_bbox, part_ring_lo, part_ring_hi, gx, gy,
                             cell_off, state, centre_in, edge_off, edges, ring_start, ring_end,
                             vx, vy)
    if kind == ITEM_CIRCLE:
        return geodesic_m(px, py, zone_center[ref, 0], zone_center[ref, 1]) <= zone_radius_m[ref]
    r = zone_ring_lo[ref]
    return polyline_distance_m(px, py, ring_start[r], ring_end[r], vx, vy) <= zone_radius_m[ref]


@nb.njit(cache=True, parallel=True)
def locate(
    lon: np.ndarray, lat: np.ndarray, x0: float, y0: float, size: float, cols: int, rows: int,
    block_of: np.ndarray,
) -> np.ndarray:
    """The stored fine cell of each point (-1 where no item is near)."""
    n = lon.shape[0]
    cells = np.empty(n, dtype=np.int64)
    for f in nb.prange(n):
        cells[f] = fine_cell(lon[f], lat[f], x0, y0, size, cols, rows, block_of)
    return cells


@nb.njit(cache=True)
def cell_order(cells: np.ndarray, ncells: int) -> np.ndarray:
    """The points that have a cell, grouped by cell (a counting sort). Scanned in this order,
    neighbours in space are neighbours in time and the zone data they need stays in cache."""
    counts = np.zeros(ncells + 1, dtype=np.int64)
    for c in cells:
        if c >= 0:
            counts[c + 1] += 1
    start = np.cumsum(counts)
    order = np.empty(start[-1], dtype=np.int64)
    for f in range(cells.shape[0]):
        c = cells[f]
        if c >= 0:
            order[start[c]] = f
            start[c] += 1
    return order


@nb.njit(cache=True, parallel=True)
def scan(
    cells: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    max_hits: int,
    index_off: np.ndarray,
    index_items: np.ndarray,
    index_kinds: np.ndarray,
    item_kind: np.ndarray,
    item_ref: np.ndarray,
    item_zone: np.ndarray,
    item_bbox: np.ndarray,
    zone_center: np.ndarray,
    zone_radius_m: np.ndarray,
    zone_ring_lo: np.ndarray,
    part_bbox: np.ndarray,
    part_ring_lo: np.ndarray,
    part_ring_hi: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    cell_off: np.ndarray,
    state: np.ndarray,
    centre_in: np.ndarray,
    edge_off: np.ndarray,
    edges: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(hits, zone ids in a (len(cells), max_hits) table) of points that all have a cell. A count
    above ``max_hits`` means the table overflowed and the caller must ask with a larger one."""
    n = cells.shape[0]
    count = np.zeros(n, dtype=np.int32)
    hits = np.empty((n, max_hits), dtype=np.int32)
    for q in nb.prange(n):
        px = lon[q]
        py = lat[q]
        cell = cells[q]
        m = 0
        for j in range(index_off[cell], index_off[cell + 1]):
            k = index_items[j]
            if index_kinds[j] == ENTRY_COVERS or _item_contains(
                px, py, k, item_kind, item_ref, item_bbox, zone_center, zone_radius_m,
                zone_ring_lo, part_bbox, part_ring_lo, part_ring_hi, gx, gy, cell_off, state,
                centre_in, edge_off, edges, ring_start, ring_end, vx, vy,
            ):
                z = item_zone[k]
                seen = False
                for t in range(min(m, max_hits)):
                    if hits[q, t] == z:
                        seen = True
                        break
                if not seen:
                    if m < max_hits:
                        hits[q, m] = z
                    m += 1
        count[q] = m
    return count, hits


@nb.njit(cache=True)
def assemble(
    npoints: int, order: np.ndarray, count: np.ndarray, hits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """CSR in point order: zones of point i are ``zones[offsets[i]:offsets[i + 1]]``."""
    per_point = np.zeros(npoints + 1, dtype=np.int64)
    for q in range(order.shape[0]):
        per_point[order[q] + 1] = count[q]
    offsets = np.cumsum(per_point)
    zones = np.empty(offsets[-1], dtype=np.int64)
    for q in range(order.shape[0]):
        start = offsets[order[q]]
        for t in range(count[q]):
            zones[start + t] = hits[q, t]
    return offsets, zones
