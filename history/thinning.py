"""Douglas–Peucker thinning of a track at the smallest of a doubling series of tolerances that
leaves at most so many points, in one pass.

Douglas–Peucker at tolerance τ keeps a vertex when its distance from the chord of its section
exceeds τ and every section above it was split (its split vertex farther than τ too). One full
recursion records each vertex's split distance, lowered to the smallest on its way down
(:func:`significance`); then "kept at τ" is just ``significance > τ`` (and the two ends), so
each tolerance of the series costs a count, not another simplification. Distances are planar in
degrees, computed as GEOS computes them (``shapely.simplify(…, preserve_topology=False)``), so the
vertices kept are those GEOS keeps at the same tolerance.

>>> lon = np.array([0.0, 1.0, 2.0, 3.0, 4.0]); lat = np.array([0.0, 0.1, 0.0, 2.0, 0.0])
>>> sig = significance(lon, lat)
>>> np.flatnonzero(kept(sig, 0.5)).tolist(), np.flatnonzero(kept(sig, 0.05)).tolist()
([0, 2, 3, 4], [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt


@nb.njit(cache=True)
def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float
                      ) -> float:
    # GEOS Distance::pointToSegment, term for term.
    if ax == bx and ay == by:
        return math.hypot(px - ax, py - ay)
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        return math.hypot(px - ax, py - ay)
    if r >= 1.0:
        return math.hypot(px - bx, py - by)
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


@nb.njit(cache=True)
def significance(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], floor: float = 0.0
                 ) -> npt.NDArray[np.float64]:
    """Per vertex, the largest tolerance at which Douglas–Peucker still keeps it (∞ for the two
    ends; -1 for a vertex never split off, which no tolerance ≥ 0 keeps). Sections whose
    farthest vertex lies within ``floor`` are not split further: right for every tolerance
    ≥ ``floor``, and it spares the recursion through GPS noise (quadratic at a stay)."""
    n = len(x)
    sig = np.full(n, -1.0)
    if n == 0:
        return sig
    sig[0] = np.inf
    sig[n - 1] = np.inf
    # Sections to split: (first, last, the smallest split distance above them).
    stack_i = np.empty(n, dtype=np.int64)
    stack_j = np.empty(n, dtype=np.int64)
    stack_c = np.empty(n)
    top = 0
    if n > 2:
        stack_i[0], stack_j[0], stack_c[0] = 0, n - 1, np.inf
        top = 1
    while top:
        top -= 1
        i, j, cap = stack_i[top], stack_j[top], stack_c[top]
        best, at = -1.0, -1
        for k in range(i + 1, j):
            d = _segment_distance(x[k], y[k], x[i], y[i], x[j], y[j])
            if d > best:
                best, at = d, k
        if best <= floor:
            continue
        s = min(best, cap)
        sig[at] = s
        if at - i > 1:
            stack_i[top], stack_j[top], stack_c[top] = i, at, s
            top += 1
        if j - at > 1:
            stack_i[top], stack_j[top], stack_c[top] = at, j, s
            top += 1
    return sig


def kept(sig: npt.NDArray[np.float64], tolerance: float) -> npt.NDArray[np.bool_]:
    """The vertices Douglas–Peucker keeps at ``tolerance`` (in the units of the coordinates)."""
    return sig > tolerance
