"""A person's day (日报告), from their timeline: where they slept, how long at home, at work and
elsewhere, moving or unseen, how far they went, the places they stopped, and each gap in their
coverage with its likely cause. Pure: the timeline (:func:`history.stops.timeline`), the home
zone, the inferred work place and the device events come in; :mod:`store.reports` reads them.

Definitions:

- a stop is **at home** when its centre lies inside the registered home zone widened by the
  stop's own spread (its fixes' 95th-percentile distance from the centre, at most 150 m): a stay
  in the garden of a 50 m home circle is at home; **at work** when its centre is within
  ``WORK_RADIUS_M`` of the work place inferred from the weeks before (:func:`infer_places`);
  otherwise **elsewhere**;
- **slept at**: the stop holding the most of 00:00–05:00 local (none: unknown — no fix at night
  is not a night away);
- a gap's **cause**: ``device_off`` when one of the person's devices reported switching off
  (``power_off``) within it or in the ten minutes before; ``no_fix`` when a device was heard
  (any other event) during it but sent no position; otherwise ``silence``.

>>> from history.stops import Segment
>>> day = [Segment("stop", 0, 6 * 3600, 300, 10.0, 50.0, 20.0),
...        Segment("trip", 6 * 3600, 7 * 3600, 60, distance_m=12_000.0),
...        Segment("stop", 7 * 3600, 17 * 3600, 600, 10.1, 50.0, 30.0),
...        Segment("gap", 17 * 3600, 24 * 3600)]
>>> r = summarise(day, 0.0, 86400.0, night=(0.0, 5 * 3600.0), home=Place(10.0, 50.0, 60.0),
...               work=Place(10.1, 50.0, 100.0), events=[])
>>> r.slept, r.home_s, r.work_s, r.moving_s, r.unseen_s, r.distance_m
('home', 21600.0, 36000.0, 3600.0, 25200.0, 12000.0)
>>> [(g.cause, g.start) for g in r.gaps]
[('silence', 61200.0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from history.cells import haversine_m
from history.stops import Segment

WORK_RADIUS_M = 200.0
MAX_SPREAD_M = 150.0
OFF_BEFORE_S = 600.0


@dataclass(frozen=True, slots=True)
class Place:
    """A place as a circle: centre and radius (m)."""

    lon: float
    lat: float
    radius_m: float

    def holds(self, lon: float, lat: float, slack_m: float = 0.0) -> bool:
        return float(haversine_m(self.lon, self.lat, lon, lat)) <= self.radius_m + slack_m


@dataclass(frozen=True, slots=True)
class Visit:
    place: str  # home | work | elsewhere
    start: float
    end: float
    lon: float
    lat: float
    radius_m: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Gap:
    start: float
    end: float
    cause: str  # device_off | no_fix | silence
    same_place: bool | None


@dataclass(slots=True)
class DaySummary:
    slept: str | None  # home | work | elsewhere | None (unknown)
    slept_lon: float | None
    slept_lat: float | None
    home_s: float = 0.0
    work_s: float = 0.0
    elsewhere_s: float = 0.0
    moving_s: float = 0.0
    unseen_s: float = 0.0
    distance_m: float = 0.0
    visits: list[Visit] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


def _where(s: Segment, home: Place | None, work: Place | None) -> str:
    spread = 0.0 if math.isnan(s.radius_m) else min(s.radius_m, MAX_SPREAD_M)
    if home is not None and home.holds(s.lon, s.lat, spread):
        return "home"
    if work is not None and work.holds(s.lon, s.lat):
        return "work"
    return "elsewhere"


def gap_cause(start: float, end: float, events: Sequence[tuple[float, str]]) -> str:
    """Why nothing was seen from ``start`` to ``end``, from the person's device events
    (time, event) — see the module's definitions.

    >>> gap_cause(100.0, 900.0, [(50.0, "power_off")])
    'device_off'
    >>> gap_cause(100.0, 900.0, [(500.0, "heartbeat")])
    'no_fix'
    """
    if any(e == "power_off" and start - OFF_BEFORE_S <= t <= end for t, e in events):
        return "device_off"
    if any(e != "power_off" and start < t < end for t, e in events):
        return "no_fix"
    return "silence"


def summarise(segments: Sequence[Segment], start: float, end: float,
              night: tuple[float, float], home: Place | None, work: Place | None,
              events: Sequence[tuple[float, str]]) -> DaySummary:
    """The day ``[start, end)`` of a timeline covering it (segments clipped to the day);
    ``night`` is the local 00:00–05:00 of that day in seconds."""
    out = DaySummary(None, None, None)
    best_night = 0.0
    for s in segments:
        a, b = max(s.start, start), min(s.end, end)
        if b <= a:
            continue
        span = b - a
        if s.kind == "stop":
            where = _where(s, home, work)
            setattr(out, f"{where}_s", getattr(out, f"{where}_s") + span)
            out.visits.append(Visit(where, float(a), float(b), s.lon, s.lat,
                                    0.0 if math.isnan(s.radius_m) else s.radius_m))
            at_night = max(0.0, min(b, night[1]) - max(a, night[0]))
            if at_night > best_night:
                best_night = at_night
                out.slept, out.slept_lon, out.slept_lat = where, s.lon, s.lat
        elif s.kind == "trip":
            out.moving_s += span
            if not math.isnan(s.distance_m):
                out.distance_m += s.distance_m * span / max(s.duration_s, 1e-9)
        else:
            out.unseen_s += span
            out.gaps.append(Gap(float(a), float(b), gap_cause(a, b, events), s.same_place))
    return out


def infer_places(stops: Sequence[Segment], nights: Sequence[tuple[float, float]],
                 days: Sequence[tuple[float, float]], home: Place | None,
                 merge_m: float = 150.0, min_days: int = 3, min_day_s: float = 7200.0
                 ) -> tuple[Place | None, Place | None]:
    """(home, work) inferred from the stops of the weeks before: stops merged into places
    (greedy, by total dwell, within ``merge_m``); home is the place holding the most of the
    ``nights``; work is the place, away from the registered and the inferred home, that holds
    at least ``min_day_s`` of at least ``min_days`` of the ``days`` (working hours), the most
    in all. Either may be None.

    >>> from history.stops import Segment
    >>> day = lambda d: [Segment("stop", d * 86400, d * 86400 + 25200, 1, 10.0, 50.0, 10.0),
    ...                  Segment("stop", d * 86400 + 30000, d * 86400 + 60000, 1, 10.05, 50.0)]
    >>> stops = [s for d in range(5) for s in day(d)]
    >>> nights = [(d * 86400, d * 86400 + 18000) for d in range(5)]
    >>> hours = [(d * 86400 + 28800, d * 86400 + 64800) for d in range(5)]
    >>> h, w = infer_places(stops, nights, hours, None)
    >>> (round(h.lon, 3), round(w.lon, 3))
    (10.0, 10.05)
    """
    if not stops:
        return None, None
    lon = np.array([s.lon for s in stops])
    lat = np.array([s.lat for s in stops])
    dwell = np.array([s.duration_s for s in stops])
    label = np.full(len(stops), -1)
    centres: list[tuple[float, float]] = []
    for i in np.argsort(-dwell, kind="stable").tolist():
        if label[i] >= 0:
            continue
        k = len(centres)
        centres.append((float(lon[i]), float(lat[i])))
        near = (label < 0) & (haversine_m(lon[i], lat[i], lon, lat) <= merge_m)
        label[near] = k

    def overlap(windows: Sequence[tuple[float, float]]) -> np.ndarray:
        """Seconds of each place within each window: (places, windows)."""
        got = np.zeros((len(centres), len(windows)))
        for s, k in zip(stops, label.tolist(), strict=True):
            for j, (a, b) in enumerate(windows):
                got[k, j] += max(0.0, min(s.end, b) - max(s.start, a))
        return got

    at_night = overlap(nights).sum(axis=1)
    inferred_home = None
    if at_night.max() > 0:
        k = int(np.argmax(at_night))
        inferred_home = Place(*centres[k], merge_m)
    by_day = overlap(days)
    best, work = 0.0, None
    for k, (x, y) in enumerate(centres):
        if any(p is not None and p.holds(x, y, WORK_RADIUS_M) for p in (home, inferred_home)):
            continue
        if int(np.sum(by_day[k] >= min_day_s)) >= min_days and by_day[k].sum() > best:
            best, work = float(by_day[k].sum()), Place(x, y, WORK_RADIUS_M)
    return inferred_home, work
