"""Cell grids over polygon parts: most points are decided by one array lookup.

Each polygon part (one shell with its holes) gets a grid over its bounding box, sized to its
vertex count. A cell that no edge touches is wholly inside or wholly outside; a cell that edges
touch keeps the list of those edges and whether its centre is inside. A point in such a cell is
inside exactly when its centre is, flipped once for each of the cell's edges that the segment from
the point to the centre crosses — the segment never leaves the cell, so no other edge can cross
it. A cell whose centre lies within ``CENTRE_TOLERANCE`` degrees of an edge falls back to the
exhaustive test, so the centre's own answer is never in doubt.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from geofence.kernel import polygon_test, segments_cross

CELL_OUTSIDE = np.int8(0)
CELL_INSIDE = np.int8(1)
CELL_EDGES = np.int8(2)  # edges cross it; decide by the segment to the centre
CELL_EXHAUSTIVE = np.int8(3)  # the centre is too near an edge to trust; test every ring

CENTRE_TOLERANCE = 1e-9


@nb.njit(cache=True)
def grid_sizes(
    part_ring_lo: np.ndarray,
    part_ring_hi: np.ndarray,
    part_bbox: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    cells_per_vertex: float,
    max_cells: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(columns, rows, first cell) of each part's grid, about square cells in metres."""
    n = part_ring_lo.shape[0]
    gx = np.ones(n, dtype=np.int64)
    gy = np.ones(n, dtype=np.int64)
    off = np.zeros(n + 1, dtype=np.int64)
    for p in range(n):
        nv = 0
        for r in range(part_ring_lo[p], part_ring_hi[p]):
            nv += ring_end[r] - ring_start[r]
        target = min(max(1.0, nv * cells_per_vertex), float(max_cells))
        w = (part_bbox[p, 2] - part_bbox[p, 0]) * math.cos(
            math.radians(0.5 * (part_bbox[p, 1] + part_bbox[p, 3])))
        h = part_bbox[p, 3] - part_bbox[p, 1]
        if w > 0.0 and h > 0.0:
            cols = math.sqrt(target * w / h)
            gx[p] = max(1, min(int(round(cols)), max_cells))
            gy[p] = max(1, min(int(round(target / gx[p])), max_cells // gx[p]))
        off[p + 1] = off[p] + gx[p] * gy[p]
    return gx, gy, off


@nb.njit(cache=True, inline="always")
def _cell_range(lo: float, hi: float, origin: float, size: float, count: int) -> tuple[int, int]:
    a = int(math.floor((lo - origin) / size))
    b = int(math.floor((hi - origin) / size))
    return max(0, min(a, count - 1)), max(0, min(b, count - 1))


@nb.njit(cache=True, inline="always")
def _edge_cells(
    vx: np.ndarray, vy: np.ndarray, i: int, x0: float, y0: float, dx: float, dy: float,
    cols: int, rows: int,
) -> tuple[int, int, int, int]:
    """(first col, last col, first row, last row) of the cells edge i→i+1 may touch: its
    bounding box grown by a hair, so that an edge on a cell border is listed on both sides (a
    superset is harmless, a missing edge is not)."""
    ex = 1e-9 * dx + 1e-12
    ey = 1e-9 * dy + 1e-12
    c0, c1 = _cell_range(min(vx[i], vx[i + 1]) - ex, max(vx[i], vx[i + 1]) + ex, x0, dx, cols)
    r0, r1 = _cell_range(min(vy[i], vy[i + 1]) - ey, max(vy[i], vy[i + 1]) + ey, y0, dy, rows)
    return c0, c1, r0, r1


@nb.njit(cache=True, parallel=True)
def build_grids(
    part_ring_lo: np.ndarray,
    part_ring_hi: np.ndarray,
    part_bbox: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    cell_off: np.ndarray,
    ring_start: np.ndarray,
    ring_end: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cell state, centre inside, edge offsets per cell, edge list) for every part's grid."""
    nparts = part_ring_lo.shape[0]
    ncells = cell_off[nparts]
    counts = np.zeros(ncells + 1, dtype=np.int64)
    # Pass 1: how many edges touch each cell; pass 2 lists them.
    for p in nb.prange(nparts):
        x0, y0 = part_bbox[p, 0], part_bbox[p, 1]
        dx = (part_bbox[p, 2] - x0) / gx[p]
        dy = (part_bbox[p, 3] - y0) / gy[p]
        base = cell_off[p]
        for r in range(part_ring_lo[p], part_ring_hi[p]):
            for i in range(ring_start[r], ring_end[r] - 1):
                c0, c1, r0, r1 = _edge_cells(vx, vy, i, x0, y0, dx, dy, gx[p], gy[p])
                for row in range(r0, r1 + 1):
                    for col in range(c0, c1 + 1):
                        counts[base + row * gx[p] + col + 1] += 1
    edge_off = np.cumsum(counts)
    edges = np.empty(edge_off[ncells], dtype=np.int64)
    state = np.empty(ncells, dtype=np.int8)
    centre_in = np.zeros(ncells, dtype=np.bool_)
    for p in nb.prange(nparts):
        x0, y0 = part_bbox[p, 0], part_bbox[p, 1]
        dx = (part_bbox[p, 2] - x0) / gx[p]
        dy = (part_bbox[p, 3] - y0) / gy[p]
        base = cell_off[p]
        ncell = gx[p] * gy[p]
        cursor = edge_off[base:base + ncell].copy()
        nedges = 0
        for r in range(part_ring_lo[p], part_ring_hi[p]):
            nedges += ring_end[r] - ring_start[r] - 1
            for i in range(ring_start[r], ring_end[r] - 1):
                c0, c1, r0, r1 = _edge_cells(vx, vy, i, x0, y0, dx, dy, gx[p], gy[p])
                for row in range(r0, r1 + 1):
                    for col in range(c0, c1 + 1):
                        c = row * gx[p] + col
                        edges[cursor[c]] = i
                        cursor[c] += 1
        # Centre of every cell, inside or not: one scan line per row of cells, the same
        # crossing rule as polygon_test, so both always agree.
        xs = np.empty(max(nedges, 1), dtype=np.float64)
        for row in range(gy[p]):
            cy = y0 + (row + 0.5) * dy
            k = 0
            for r in range(part_ring_lo[p], part_ring_hi[p]):
                for i in range(ring_start[r], ring_end[r] - 1):
                    y1 = vy[i]
                    y2 = vy[i + 1]
                    if (y1 > cy) != (y2 > cy):
                        xs[k] = vx[i] + (cy - y1) * (vx[i + 1] - vx[i]) / (y2 - y1)
                        k += 1
            crossings = np.sort(xs[:k])
            for col in range(gx[p]):
                cx = x0 + (col + 0.5) * dx
                right = k - np.searchsorted(crossings, cx, side="right")
                c = base + row * gx[p] + col
                centre_in[c] = right % 2 == 1
                if edge_off[c + 1] == edge_off[c]:
                    state[c] = CELL_INSIDE if centre_in[c] else CELL_OUTSIDE
                    continue
                state[c] = CELL_EDGES
                for e in range(edge_off[c], edge_off[c + 1]):
                    i = edges[e]
                    if _near_segment(cx, cy, vx[i], vy[i], vx[i + 1], vy[i + 1]):
                        state[c] = CELL_EXHAUSTIVE
                        break
    return state, centre_in, edge_off, edges


@nb.njit(cache=True, inline="always")
def _near_segment(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> bool:
    dx = bx - ax
    dy = by - ay
    seg2 = dx * dx + dy * dy
    t = 0.0
    if seg2 > 0.0:
        t = min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / seg2))
    qx = ax + t * dx - px
    qy = ay + t * dy - py
    return qx * qx + qy * qy < CENTRE_TOLERANCE * CENTRE_TOLERANCE


@nb.njit(cache=True)
def part_contains(
    px: float,
    py: float,
    p: int,
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
) -> bool:
    """Whether polygon part ``p`` contains the point, using its grid."""
    x0 = part_bbox[p, 0]
    y0 = part_bbox[p, 1]
    if px < x0 or py < y0 or px > part_bbox[p, 2] or py > part_bbox[p, 3]:
        return False
    dx = (part_bbox[p, 2] - x0) / gx[p]
    dy = (part_bbox[p, 3] - y0) / gy[p]
    col = min(int((px - x0) / dx), gx[p] - 1)
    row = min(int((py - y0) / dy), gy[p] - 1)
    c = cell_off[p] + row * gx[p] + col
    s = state[c]
    if s == CELL_OUTSIDE:
        return False
    if s == CELL_INSIDE:
        return True
    if s == CELL_EXHAUSTIVE:
        inside, _ = polygon_test(px, py, part_ring_lo[p], part_ring_hi[p], ring_start, ring_end,
                                 vx, vy, False)
        return inside
    cx = x0 + (col + 0.5) * dx
    cy = y0 + (row + 0.5) * dy
    inside = centre_in[c]
    for e in range(edge_off[c], edge_off[c + 1]):
        i = edges[e]
        if segments_cross(px, py, cx, cy, vx[i], vy[i], vx[i + 1], vy[i + 1]):
            inside = not inside
    return inside


MAX_DISC_CELLS = 64  # larger accuracy discs go to the exhaustive test


@nb.njit(cache=True)
def _box_state(
    x_lo: float,
    y_lo: float,
    x_hi: float,
    y_hi: float,
    p: int,
    part_bbox: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    cell_off: np.ndarray,
    state: np.ndarray,
) -> np.int8:
    """CELL_INSIDE or CELL_OUTSIDE when every point of the box is so for part ``p`` (no edge of
    the part comes near it); CELL_EDGES when the grid cannot tell."""
    bx0 = part_bbox[p, 0]
    by0 = part_bbox[p, 1]
    bx1 = part_bbox[p, 2]
    by1 = part_bbox[p, 3]
    if x_hi < bx0 or y_hi < by0 or x_lo > bx1 or y_lo > by1:
        return CELL_OUTSIDE
    beyond = x_lo < bx0 or y_lo < by0 or x_hi > bx1 or y_hi > by1  # partly outside the bbox
    dx = (bx1 - bx0) / gx[p]
    dy = (by1 - by0) / gy[p]
    if dx <= 0.0 or dy <= 0.0:
        return CELL_EDGES
    c0, c1 = _cell_range(x_lo, x_hi, bx0, dx, gx[p])
    r0, r1 = _cell_range(y_lo, y_hi, by0, dy, gy[p])
    if (c1 - c0 + 1) * (r1 - r0 + 1) > MAX_DISC_CELLS:
        return CELL_EDGES
    first = state[cell_off[p] + r0 * gx[p] + c0]
    if first != CELL_INSIDE and first != CELL_OUTSIDE:
        return CELL_EDGES
    if beyond and first == CELL_INSIDE:
        return CELL_EDGES  # outside the bbox is outside: the box straddles the boundary
    for r in range(r0, r1 + 1):
        base = cell_off[p] + r * gx[p]
        for c in range(c0, c1 + 1):
            if state[base + c] != first:
                return CELL_EDGES
    return first


@nb.njit(cache=True)
def certain_pairs(
    pair_fix: np.ndarray,
    pair_zone: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    accuracy_m: np.ndarray,
    zone_part_lo: np.ndarray,
    zone_part_hi: np.ndarray,
    part_bbox: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    cell_off: np.ndarray,
    state: np.ndarray,
) -> np.ndarray:
    """Per (fix, polygon zone) pair: CELL_INSIDE or CELL_OUTSIDE when the grids alone show
    that the fix's whole accuracy disc is inside or outside the zone; CELL_EDGES when an edge
    may come within the disc, and only the exhaustive distance can tell.

    The disc is covered by a box grown 1% and computed at the box's far latitude, so the grids
    never call certain what the exhaustive test would find uncertain. Zones without parts
    (circles, corridors) are always CELL_EDGES.
    """
    n = pair_fix.shape[0]
    out = np.full(n, CELL_EDGES, dtype=np.int8)
    for k in range(n):
        z = pair_zone[k]
        lo = zone_part_lo[z]
        hi = zone_part_hi[z]
        if lo == hi:
            continue
        f = pair_fix[k]
        px = lon[f]
        py = lat[f]
        pad = 1.01 * accuracy_m[f] + 1e-3
        hy = pad / 110_574.0
        lat_far = min(89.9, abs(py) + hy)
        hx = pad / (111_320.0 * math.cos(math.radians(lat_far)))
        verdict = CELL_OUTSIDE
        for p in range(lo, hi):
            s = _box_state(px - hx, py - hy, px + hx, py + hy, p, part_bbox, gx, gy,
                           cell_off, state)
            if s == CELL_INSIDE:
                verdict = CELL_INSIDE  # wholly inside one part: inside the union
                break
            if s != CELL_OUTSIDE:
                verdict = CELL_EDGES
        out[k] = verdict
    return out
