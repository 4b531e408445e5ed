"""Sets of time intervals, held as sorted, disjoint ``(start, end)`` pairs of Unix seconds.

Ground truth is a set of intervals (when a person was inside a zone, when curfew was in force,
when a device was off); combining them is set algebra on those lists.

>>> intersect([(0, 10), (20, 30)], [(5, 25)])
[(5, 10), (20, 25)]
>>> complement([(5, 10)], 0, 20)
[(0, 5), (10, 20)]
>>> normalize([(3, 4), (0, 2), (2, 3), (8, 8)])
[(0.0, 4.0)]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

Interval = tuple[float, float]


def normalize(intervals: Iterable[Interval], join_s: float = 1e-6) -> list[Interval]:
    """Sorted, merged (touching or overlapping within ``join_s``), empty ones dropped."""
    out: list[Interval] = []
    for a, b in sorted((float(a), float(b)) for a, b in intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1] + join_s:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def intersect(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def complement(xs: list[Interval], lo: float, hi: float) -> list[Interval]:
    out: list[Interval] = []
    t = lo
    for a, b in xs:
        if b <= lo or a >= hi:
            continue
        if a > t:
            out.append((t, a))
        t = max(t, b)
    if t < hi:
        out.append((t, hi))
    return out


def clip(xs: list[Interval], lo: float, hi: float) -> list[Interval]:
    return [(max(a, lo), min(b, hi)) for a, b in xs if min(b, hi) > max(a, lo)]


def as_array(xs: list[Interval]) -> npt.NDArray[np.float64]:
    return np.array(xs, dtype=np.float64).reshape(-1, 2)


def member(ts: npt.NDArray[np.float64], xs: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """For each time, the index of the interval ``[start, end)`` holding it, or -1."""
    if len(xs) == 0:
        return np.full(len(ts), -1, dtype=np.intp)
    i = np.searchsorted(xs[:, 0], ts, side="right") - 1
    ok = (i >= 0) & (ts < xs[np.maximum(i, 0), 1])
    return np.where(ok, i, -1)
