"""Coverage: when a person's devices were heard, as *runs* of fixes, and the gaps between them.

A run is a stretch ``[first, last]`` of one device's fixes in which no two consecutive fixes are
more than ``step_s`` apart. For any ``gap_s ≥ step_s`` the coverage gaps of a person — the
stretches longer than ``gap_s`` in which none of their devices sent a fix — are exactly the
stretches between the union of all their devices' runs: a fix-free stretch longer than
``step_s`` cannot reach into a run (a run has a fix every ``step_s``), so it lies between runs,
and it ends at a run's last fix and begins again at a run's first. So a day of a device, once
over, is summed up by its runs (a few pairs of times instead of 1,440 fixes a day at one a
minute), and a month's gaps are read from thirty of those (:mod:`store.coverage`).

>>> t = np.array([0.0, 60.0, 120.0, 1000.0, 1060.0, 5000.0])
>>> runs_of(t, 300.0).tolist()
[[0.0, 120.0], [1000.0, 1060.0], [5000.0, 5000.0]]
>>> gaps_between(runs_of(t, 300.0), -100.0, 6000.0, 600.0)
[(120.0, 1000.0), (1060.0, 5000.0), (5000.0, 6000.0)]
>>> from history.near import coverage_gaps
>>> coverage_gaps(t, -100.0, 6000.0, 600.0)
[(120.0, 1000.0), (1060.0, 5000.0), (5000.0, 6000.0)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def runs_of(ts: FloatArray, step_s: float) -> FloatArray:
    """The runs of the sorted fix times ``ts``: an ``(n, 2)`` array of (first, last), in
    order; a fix alone is a run of one instant."""
    if not len(ts):
        return np.zeros((0, 2))
    breaks = np.flatnonzero(np.diff(ts) > step_s)
    first = ts[np.concatenate(([0], breaks + 1))]
    last = ts[np.concatenate((breaks, [len(ts) - 1]))]
    return np.column_stack((first, last)).astype(np.float64)


def gaps_between(runs: FloatArray | Sequence[FloatArray], lo: float, hi: float, gap_s: float
                 ) -> list[tuple[float, float]]:
    """The stretches of ``[lo, hi)`` longer than ``gap_s`` outside every run (of any device, in
    any order; the window's ends count, and no run at all is no gap — nobody was heard), as
    :func:`history.near.coverage_gaps` finds them from every fix when ``gap_s`` is at least the
    runs' ``step_s``."""
    if not isinstance(runs, np.ndarray):
        parts = [r for r in runs if len(r)]
        runs = np.concatenate(parts) if parts else np.zeros((0, 2))
    if not len(runs):
        return []
    runs = runs[np.argsort(runs[:, 0], kind="stable")]
    # The latest end so far: a stretch between runs is one where the next start passes it.
    reach = np.maximum.accumulate(runs[:, 1])
    out = [(lo, float(runs[0, 0]))] if runs[0, 0] - lo > gap_s else []
    steps = np.flatnonzero(runs[1:, 0] - reach[:-1] > gap_s)
    out += [(float(reach[i]), float(runs[i + 1, 0])) for i in steps.tolist()]
    if hi - reach[-1] > gap_s:
        out.append((float(reach[-1]), hi))
    return out
