"""Space cut into regions for the nightly co-location pass, so that each piece of the pass holds
the people of one region and its border, never everyone of a time zone at once.

A *region* is an H3 cell (resolution :data:`REGION_RESOLUTION` to start with, cut into its
children, down to :data:`PAD_RESOLUTION`, while it holds too many people). A fix belongs to a
region by its index, not by geometry: the region is the ancestor of the fix's cell (resolution
:data:`~history.cells.CELL_RESOLUTION`), so every fix belongs to exactly one region at each
resolution.

The region's *padded area* adds a border at least ``radius_m`` wide: the cells of the *pad
resolution* (:data:`PAD_RESOLUTION`) within :func:`pad_rings` rings of the region's own. Why
that is enough: a fix of cell ``c`` lies inside the hexagons of ``c`` and of its every ancestor
grown by the circumradii of the levels between (each child's centre lies inside its parent,
:func:`fuzz_m`); two cells ``k + 1`` rings apart have ``k`` whole cells, at least
``√3 · edge`` across each, between them. So two fixes within ``radius_m`` of each other have
pad-resolution ancestors at most :func:`pad_rings` rings apart, and a meeting whose first step
places one person in the region places the other in its padded area.

Who is in a padded area comes from the day's :class:`Occupancy` — which person had a fix in
which cell of the pad resolution, read once for the day — so a region costs no read of its
own. The pass places each person of a padded area wholly, from all their fixes of the day, so
a meeting found in a piece is exactly the meeting the whole-day pass finds, wherever it goes
afterwards; a meeting found by two pieces is the same meeting twice.

>>> r = int(h3.str_to_int(h3.latlng_to_cell(30.27, -97.74, 5)))
>>> own, border = padded_cells(r, 50.0)
>>> len(own), 20 <= len(border) <= 60
(49, True)
"""

from __future__ import annotations

import math

import h3
import numpy as np
import numpy.typing as npt

from history.cells import CELL_RESOLUTION, descendants, haversine_m

# ~12,000 km², edge ~60 km: a prefecture-level city. Start coarse and cut only what holds too
# many: every border a region has costs the people near it a second placement (measured on a
# fleet of five counties, starting at resolution 5 read each person ~4 times over).
REGION_RESOLUTION = 3
# ~5 km², edge ~1.2 km: the border is one of these wide, and a region is not cut finer (its
# padded area then ~36 km²: at one supervisee in 2,000 people, a dense city's centre holds a
# few hundred there). Finer would cost more (person, cell) pairs in the day's occupancy.
PAD_RESOLUTION = 7
_DISTORTION = 0.85  # H3 cells of one resolution differ in size; measured on one, allow this


def resolution_of(cell: int) -> int:
    return (int(cell) >> 52) & 0xF


def ancestor_bits(resolution: int, fine: int = CELL_RESOLUTION) -> tuple[int, int]:
    """``(keep, put)`` such that ``(cell & keep) | put`` is the ancestor at ``resolution`` of a
    cell at ``fine`` — the same arithmetic in SQL on bigints and in NumPy on int64 (both
    signed: bit 63 of an H3 index is always 0).

    >>> c = h3.str_to_int(h3.latlng_to_cell(30.27, -97.74, CELL_RESOLUTION))
    >>> keep, put = ancestor_bits(5)
    >>> (c & keep) | put == h3.str_to_int(h3.cell_to_parent(h3.int_to_str(c), 5))
    True
    """
    if not 0 <= resolution <= fine:
        raise ValueError(f"resolution {resolution} must be between 0 and {fine}")
    digits = sum(7 << ((15 - d) * 3) for d in range(resolution + 1, fine + 1))
    cleared = (0xF << 52) | digits
    keep = ~cleared & ((1 << 63) - 1)
    return keep, (resolution << 52) | digits


def ancestors(cells: npt.NDArray[np.int64], resolution: int, fine: int = CELL_RESOLUTION
              ) -> npt.NDArray[np.int64]:
    """The ancestor at ``resolution`` of each cell (at ``fine``)."""
    keep, put = ancestor_bits(resolution, fine)
    return (np.asarray(cells, dtype=np.int64) & np.int64(keep)) | np.int64(put)


def circumradius_m(cell: int) -> float:
    """The largest distance from the cell's centre to one of its vertices."""
    b = h3.api.basic_int
    clat, clon = b.cell_to_latlng(int(cell))
    verts = np.asarray(b.cell_to_boundary(int(cell)))
    return float(np.max(haversine_m(clon, clat, verts[:, 1], verts[:, 0])))


def fuzz_m(edge_m: float, resolution: int) -> float:
    """How far outside its ancestor's hexagon (of ``resolution``, circumradius ``edge_m``) a
    point of a fix may lie: the circumradii of the levels below, down to the fix's cell (each
    level's edge is the one above over √7)."""
    return edge_m * sum(7.0 ** (-j / 2) for j in range(1, CELL_RESOLUTION - resolution + 1))


def pad_rings(cell: int, radius_m: float) -> int:
    """Rings of cells around ``cell`` (at its resolution) within which every fix lies that is
    within ``radius_m`` of a fix of ``cell`` (see the module)."""
    edge = circumradius_m(cell)
    res = resolution_of(cell)
    reach = radius_m + 2.0 * fuzz_m(edge, res) / _DISTORTION
    return max(1, math.ceil(reach / (math.sqrt(3.0) * edge * _DISTORTION)))


def padded_cells(region: int, radius_m: float) -> tuple[list[int], list[int]]:
    """The cells of the pad resolution that make up the region (its own), and those of its
    border (within :func:`pad_rings` of one of its own, not its own)."""
    b = h3.api.basic_int
    if resolution_of(region) > PAD_RESOLUTION:
        raise ValueError(f"a region is a cell of resolution {PAD_RESOLUTION} at most, not "
                         f"{resolution_of(region)}")
    own = sorted(b.cell_to_children(int(region), PAD_RESOLUTION))
    k = pad_rings(own[0], radius_m)
    inside = set(own)
    border: set[int] = set()
    for c in own:
        border.update(n for n in b.grid_disk(c, k) if n not in inside)
    return own, sorted(border)


class Occupancy:
    """Who had a fix in which cell of :data:`PAD_RESOLUTION` over a day: distinct (cell,
    person number) pairs, by cell — what cutting space into regions needs to know, a few
    pairs per person (the cells they passed through), not their fixes.

    >>> c = int(h3.str_to_int(h3.latlng_to_cell(30.27, -97.74, PAD_RESOLUTION)))
    >>> n = int(h3.str_to_int(h3.grid_ring(h3.int_to_str(c), 1)[0]))
    >>> occ = Occupancy(np.array([c, c, n, c]), np.array([0, 1, 2, 0]))
    >>> occ.people([c]).tolist(), occ.people([c, n]).tolist(), len(occ)
    ([0, 1], [0, 1, 2], 3)
    >>> up = lambda x, r: int(h3.str_to_int(h3.cell_to_parent(h3.int_to_str(x), r)))
    >>> occ.regions(6, within=up(c, 5)) == sorted({up(x, 6) for x in (c, n)
    ...                                             if up(x, 5) == up(c, 5)})
    True
    """

    def __init__(self, cell: npt.NDArray[np.int64], person: npt.NDArray[np.int64]):
        pairs = np.unique(np.stack([np.asarray(cell, dtype=np.int64),
                                    np.asarray(person, dtype=np.int64)], axis=1), axis=0) \
            if len(cell) else np.zeros((0, 2), dtype=np.int64)
        self.cell, self.person = pairs[:, 0], pairs[:, 1]

    def __len__(self) -> int:
        return len(self.cell)

    def regions(self, resolution: int, within: int | None = None) -> list[int]:
        """The cells of ``resolution`` holding someone (of those in ``within``, a coarser
        region, when given)."""
        cells = self.cell
        if within is not None:  # its descendants are one range of indexes (sorted here)
            lo, hi = descendants(within, PAD_RESOLUTION)
            cells = cells[np.searchsorted(cells, lo, side="left"):
                          np.searchsorted(cells, hi, side="right")]
        return np.unique(ancestors(cells, resolution, PAD_RESOLUTION)).tolist()

    def people(self, cells: list[int]) -> npt.NDArray[np.int64]:
        """The person numbers with a fix in one of ``cells`` (of :data:`PAD_RESOLUTION`)."""
        want = np.asarray(cells, dtype=np.int64)
        lo = np.searchsorted(self.cell, want, side="left")
        hi = np.searchsorted(self.cell, want, side="right")
        if not (hi > lo).any():
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate([self.person[a:b] for a, b in zip(
            lo.tolist(), hi.tolist(), strict=True) if b > a]))
