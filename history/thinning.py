"""Douglas–Peucker thinning of a track at the smallest of a doubling series of tolerances that
leaves at most so many points, in one pass.

Douglas–Peucker at tolerance τ keeps a vertex when its distance from the chord of its section
exceeds τ and every section above it was split (its split vertex farther than τ too). One full
recursion records each vertex's split distance, lowered to the smallest on its way down
(:func:`significance`); then "kept at τ" is just ``significance > τ`` (and the two ends), so
each tolerance of the series costs a count, not another simplification. Distances are planar in
degrees, computed as GEOS computes them (``shapely.simplify(…, preserve_topology=False)``), so the
vertices kept are those GEOS keeps at the same tolerance.

Thinning that keeps time (:func:`significance_in_time`, the top-down time-ratio algorithm of
Meratnia and de By, 2004): the same recursion with the *synchronised* distance — from where the
chord says the person was at the vertex's time, not from the nearest point of the chord. A
stay of two hours halfway along a straight trip is on the chord, so Douglas–Peucker drops it
and a replay would glide through it at constant speed; in time it is far from where the chord
puts the person, so its first and last fixes are kept. At tolerance τ every dropped fix lies
within τ of the thinned track at its own time.

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
def _synchronised_distance(k: int, i: int, j: int, t: npt.NDArray[np.float64],
                           x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    # From vertex k to the point of the chord i→j at k's time (linear in time).
    span = t[j] - t[i]
    r = 0.0 if span <= 0.0 else (t[k] - t[i]) / span
    return math.hypot(x[k] - (x[i] + r * (x[j] - x[i])), y[k] - (y[i] + r * (y[j] - y[i])))


def significance(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], floor: float = 0.0
                 ) -> npt.NDArray[np.float64]:
    """Per vertex, the largest tolerance at which Douglas–Peucker still keeps it (∞ for the two
    ends; -1 for a vertex never split off, which no tolerance ≥ 0 keeps). Sections whose
    farthest vertex lies within ``floor`` are not split further: right for every tolerance
    ≥ ``floor``, and it spares the recursion through GPS noise (quadratic at a stay)."""
    return _significance(np.zeros(len(x)), np.asarray(x, dtype=np.float64),
                         np.asarray(y, dtype=np.float64), floor, False)


def significance_in_time(t: npt.NDArray[np.float64], x: npt.NDArray[np.float64],
                         y: npt.NDArray[np.float64], floor: float = 0.0
                         ) -> npt.NDArray[np.float64]:
    """:func:`significance` with the synchronised distance (``t`` ascending): thinning that
    keeps time.

    >>> t = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0])  # a long stop at x = 2
    >>> x = np.array([0.0, 1.0, 2.0, 2.0, 3.0, 4.0]); y = np.zeros(6)
    >>> np.flatnonzero(kept(significance(x, y), 0.5)).tolist()
    [0, 5]
    >>> np.flatnonzero(kept(significance_in_time(t, x, y), 0.5)).tolist()
    [0, 2, 3, 5]
    """
    return _significance(np.asarray(t, dtype=np.float64), np.asarray(x, dtype=np.float64),
                         np.asarray(y, dtype=np.float64), floor, True)


@nb.njit(cache=True)
def _significance(t: npt.NDArray[np.float64], x: npt.NDArray[np.float64],
                  y: npt.NDArray[np.float64], floor: float, in_time: bool
                  ) -> npt.NDArray[np.float64]:
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
            if in_time:
                d = _synchronised_distance(k, i, j, t, x, y)
            else:
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
