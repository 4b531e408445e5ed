"""Stops, trips and gaps of one person from the fixes of all their devices.

A *stop* is a stretch of at least ``dwell_s`` during which the person's fixes stay within
``radius_m`` of the stop's centre (the accuracy-weighted mean of its fixes). The rule is a
displacement rule, robust to how GPS goes wrong:

- a fix whose accuracy radius is larger than ``max_accuracy_m`` (a Wi-Fi or cell fallback, a
  kilometre wide) neither starts, extends nor ends a stop: it says where the person might be,
  not whether they moved; it still counts as coverage (it is no gap);
- a stop ends only when ``exit_fixes`` fixes in a row lie outside the radius: a single fix that
  jumps away (multipath: 50–300 m off while claiming 5 m) and comes back ends nothing;
- a *gap* — no fix at all for more than ``gap_s`` — ends a stop at the last fix before it, and is
  reported as a gap: the person was not seen, which is not the same as absent, and a gap is never
  drawn as a trip;
- two stops at the same place separated only by noise (less than ``dwell_s`` apart, no gap in
  between) are one stop.

A stop begins halfway between the fix before it and its first fix, and ends halfway between its
last fix and the next one (fixes a minute apart put the true arrival within half a minute of
that). Between stops, what is covered by fixes is a *trip*; what is not is a gap.

The scan is sequential by nature (a stop is what the fixes before say it is) and runs compiled
(Numba); the rest is NumPy.

>>> t = np.arange(0.0, 3600.0, 60.0)
>>> x = np.where(t < 1200, 0.0, np.where(t < 1500, (t - 1200) * 10.0, 3000.0))
>>> lon, lat = -97.7 + x / 96_000.0, np.full(len(t), 30.3)
>>> tl = timeline(t, lon, lat, np.full(len(t), 10.0))
>>> [(s.kind, s.start, s.end) for s in tl]
[('stop', 0.0, 1230.0), ('trip', 1230.0, 1470.0), ('stop', 1470.0, 3540.0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba as nb
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_M_PER_DEG_LAT = 111_132.0


@dataclass(frozen=True, slots=True)
class StopSettings:
    """How stops are found; a supervision plan may set these (``stop_radius_m``, ...)."""

    radius_m: float = 150.0
    dwell_s: float = 300.0
    gap_s: float = 600.0  # no fix for longer than this: a gap
    max_accuracy_m: float = 150.0  # fixes less precise than this do not move stops
    exit_fixes: int = 2  # fixes in a row outside the radius that end a stop

    @classmethod
    def from_plan(cls, plan: dict, radius_m: float | None = None, dwell_s: float | None = None,
                  gap_s: float | None = None) -> StopSettings:
        """The settings a request gives, else the plan's (``stop_radius_m``, ``stop_dwell_s``,
        ``stop_gap_s``, ``stop_max_accuracy_m``), else the defaults.

        >>> StopSettings.from_plan({"stop_radius_m": 100}, dwell_s=600).radius_m
        100.0
        """
        base = cls()
        return cls(radius_m=float(radius_m or plan.get("stop_radius_m", base.radius_m)),
                   dwell_s=float(dwell_s or plan.get("stop_dwell_s", base.dwell_s)),
                   gap_s=float(gap_s or plan.get("stop_gap_s", base.gap_s)),
                   max_accuracy_m=float(plan.get("stop_max_accuracy_m", base.max_accuracy_m)))


@dataclass(slots=True)
class Segment:
    """A piece of a person's timeline: a ``stop`` (with its place), a ``trip`` or a ``gap``."""

    kind: str
    start: float
    end: float
    fixes: int = 0
    lon: float = math.nan
    lat: float = math.nan
    radius_m: float = math.nan  # of a stop: how far its fixes lay from its centre (95th pct)
    distance_m: float = math.nan  # of a trip: along its fixes
    same_place: bool | None = None  # of a gap: whether the person was at the same place both sides
    extra: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@nb.njit(cache=True)
def _scan(ts, x, y, w, good, radius, dwell, gap, exit_fixes):  # pragma: no cover - compiled
    """Candidate stops as (first fix, last fix) index pairs into the sorted arrays."""
    n = ts.shape[0]
    first = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    found = 0
    r2 = radius * radius
    open_ = False
    start = 0
    last_in = 0
    sw = 0.0
    sx = 0.0
    sy = 0.0
    out_run = 0
    first_out = 0
    prev_t = -1e300
    i = 0
    while i < n:
        if ts[i] - prev_t > gap and open_:
            # A gap closes the stop at its last fix, whatever follows.
            if ts[last_in] - ts[start] >= 0.0:
                first[found] = start
                last[found] = last_in
                found += 1
            open_ = False
        prev_t = ts[i]
        if not good[i]:
            i += 1
            continue
        if not open_:
            open_ = True
            start = i
            last_in = i
            sw = w[i]
            sx = w[i] * x[i]
            sy = w[i] * y[i]
            out_run = 0
            i += 1
            continue
        cx = sx / sw
        cy = sy / sw
        dx = x[i] - cx
        dy = y[i] - cy
        if dx * dx + dy * dy <= r2:
            sw += w[i]
            sx += w[i] * x[i]
            sy += w[i] * y[i]
            last_in = i
            out_run = 0
            i += 1
            continue
        if out_run == 0:
            first_out = i
        out_run += 1
        if out_run < exit_fixes:
            i += 1
            continue
        # Left: keep the stretch, start again from the first fix outside.
        first[found] = start
        last[found] = last_in
        found += 1
        open_ = False
        i = first_out
        prev_t = ts[i - 1] if i > 0 else -1e300
    if open_:
        first[found] = start
        last[found] = last_in
        found += 1
    return first[:found], last[:found]


def _local_xy(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray, float, float]:
    lat0 = float(np.nanmedian(lat))
    lon0 = float(np.nanmedian(lon))
    m_lon = _M_PER_DEG_LAT * math.cos(math.radians(lat0))
    return (lon - lon0) * m_lon, (lat - lat0) * _M_PER_DEG_LAT, lon0, lat0


def timeline(ts: FloatArray, lon: FloatArray, lat: FloatArray, accuracy_m: FloatArray,
             settings: StopSettings = StopSettings(), start: float | None = None,
             end: float | None = None) -> list[Segment]:
    """Stops, trips and gaps, in time order, from fixes of one person (any order, any number
    of devices). ``start``/``end``: the window asked about; missing coverage at its ends is a
    gap too."""
    s = settings
    order = np.argsort(ts, kind="stable")
    ts = np.asarray(ts, dtype=np.float64)[order]
    lon = np.asarray(lon, dtype=np.float64)[order]
    lat = np.asarray(lat, dtype=np.float64)[order]
    acc = np.asarray(accuracy_m, dtype=np.float64)[order]
    out: list[Segment] = []
    lo = ts[0] if start is None and len(ts) else start
    hi = ts[-1] if end is None and len(ts) else end
    if len(ts) == 0:
        if lo is not None and hi is not None and hi > lo:
            out.append(Segment("gap", float(lo), float(hi)))
        return out
    x, y, lon0, lat0 = _local_xy(lon, lat)
    good = acc <= s.max_accuracy_m
    w = 1.0 / np.maximum(acc, 3.0) ** 2
    first, last = _scan(ts, x, y, w, good, s.radius_m, s.dwell_s, s.gap_s, s.exit_fixes)
    stops = _stops(ts, x, y, w, good, first, last, s)
    stops = _merged(stops, ts, x, y, w, good, s)
    m_lon = _M_PER_DEG_LAT * math.cos(math.radians(lat0))

    def stop_segment(a: int, b: int) -> Segment:
        sel = np.arange(a, b + 1)
        sel = sel[good[sel]]
        cx = float(np.sum(w[sel] * x[sel]) / np.sum(w[sel]))
        cy = float(np.sum(w[sel] * y[sel]) / np.sum(w[sel]))
        spread = float(np.percentile(np.hypot(x[sel] - cx, y[sel] - cy), 95))
        t0 = _boundary(ts, a, -1, s.gap_s)
        t1 = _boundary(ts, b, +1, s.gap_s)
        return Segment("stop", t0, t1, int(b - a + 1), lon0 + cx / m_lon,
                       lat0 + cy / _M_PER_DEG_LAT, spread)

    # Gaps: consecutive fixes farther apart than gap_s, and the window's uncovered ends.
    dt = np.diff(ts)
    gap_after = np.flatnonzero(dt > s.gap_s)
    gaps = [(float(ts[k]), float(ts[k + 1]), int(k)) for k in gap_after.tolist()]
    pieces: list[Segment] = [stop_segment(a, b) for a, b in stops]
    for g0, g1, k in gaps:
        near = math.hypot(x[k + 1] - x[k], y[k + 1] - y[k]) <= s.radius_m
        pieces.append(Segment("gap", g0, g1, same_place=bool(near)))
    if lo is not None and ts[0] - lo > s.gap_s:
        pieces.append(Segment("gap", float(lo), float(ts[0])))
    if hi is not None and hi - ts[-1] > s.gap_s:
        pieces.append(Segment("gap", float(ts[-1]), float(hi)))
    pieces.sort(key=lambda p: (p.start, p.end))
    # What lies between stops and gaps, covered by fixes, is a trip.
    out = []
    cursor = float(ts[0]) if lo is None else max(float(lo), float(ts[0]))
    for p in pieces:
        if p.start > cursor:
            out.append(_trip(ts, x, y, good, cursor, p.start))
        out.append(p)
        cursor = max(cursor, p.end)
    tail = float(ts[-1])
    if tail > cursor:
        out.append(_trip(ts, x, y, good, cursor, tail))
    return [p for p in out if p.end > p.start or p.kind != "trip"]


def stops(ts: FloatArray, lon: FloatArray, lat: FloatArray, accuracy_m: FloatArray,
          settings: StopSettings = StopSettings()) -> list[Segment]:
    """Only the stops of :func:`timeline`."""
    return [p for p in timeline(ts, lon, lat, accuracy_m, settings) if p.kind == "stop"]


def _boundary(ts: FloatArray, i: int, step: int, gap_s: float) -> float:
    """Halfway to the neighbouring fix (any accuracy), unless a gap or the end lies between."""
    j = i + step
    if j < 0 or j >= len(ts) or abs(ts[j] - ts[i]) > gap_s:
        return float(ts[i])
    return float((ts[i] + ts[j]) / 2.0)


def _stops(ts: FloatArray, x: FloatArray, y: FloatArray, w: FloatArray, good: np.ndarray,
           first: np.ndarray, last: np.ndarray, s: StopSettings) -> list[tuple[int, int]]:
    """The candidates long enough to be stops."""
    out = []
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        if _boundary(ts, b, 1, s.gap_s) - _boundary(ts, a, -1, s.gap_s) >= s.dwell_s:
            out.append((a, b))
    return out


def _merged(stops: list[tuple[int, int]], ts: FloatArray, x: FloatArray, y: FloatArray,
            w: FloatArray, good: np.ndarray, s: StopSettings) -> list[tuple[int, int]]:
    """Neighbouring stops at the same place, less than ``dwell_s`` apart with no gap between,
    are one."""
    out: list[tuple[int, int]] = []
    for a, b in stops:
        if out:
            pa, pb = out[-1]
            between = ts[a] - ts[pb]
            no_gap = not np.any(np.diff(ts[pb:a + 1]) > s.gap_s)
            if between < s.dwell_s and no_gap:
                c0 = _centre(x, y, w, good, pa, pb)
                c1 = _centre(x, y, w, good, a, b)
                if math.hypot(c0[0] - c1[0], c0[1] - c1[1]) <= s.radius_m:
                    out[-1] = (pa, b)
                    continue
        out.append((a, b))
    return out


def _centre(x: FloatArray, y: FloatArray, w: FloatArray, good: np.ndarray, a: int, b: int
            ) -> tuple[float, float]:
    sel = slice(a, b + 1)
    ww = w[sel] * good[sel]
    return float(np.sum(ww * x[sel]) / np.sum(ww)), float(np.sum(ww * y[sel]) / np.sum(ww))


def _trip(ts: FloatArray, x: FloatArray, y: FloatArray, good: np.ndarray, t0: float, t1: float
          ) -> Segment:
    sel = np.flatnonzero((ts >= t0) & (ts <= t1) & good)
    dist = float(np.sum(np.hypot(np.diff(x[sel]), np.diff(y[sel])))) if len(sel) > 1 else 0.0
    return Segment("trip", t0, t1, int(np.count_nonzero((ts >= t0) & (ts <= t1))),
                   distance_m=dist)


def speed_stops(ts: FloatArray, lon: FloatArray, lat: FloatArray, speed_mps: float = 1.0,
                dwell_s: float = 300.0) -> list[tuple[float, float]]:
    """The naive detector (what simple trackers do): a stop is a run of at least ``dwell_s``
    of fixes whose speed from the fix before is below ``speed_mps``. No accuracy, no gaps."""
    order = np.argsort(ts, kind="stable")
    ts, lon, lat = ts[order], lon[order], lat[order]
    if len(ts) < 2:
        return []
    x, y, _, _ = _local_xy(lon, lat)
    v = np.hypot(np.diff(x), np.diff(y)) / np.maximum(np.diff(ts), 1e-3)
    slow = np.r_[False, v < speed_mps]
    edges = np.diff(np.r_[0, slow.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        t0, t1 = float(ts[max(a - 1, 0)]), float(ts[b])
        if t1 - t0 >= dwell_s:
            out.append((t0, t1))
    return out
