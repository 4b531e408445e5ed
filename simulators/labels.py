"""Ground truth: the violation episodes that really happened, from the true paths.

A :class:`Label` says that a supervisee was in violation of one kind from ``start`` to ``end``
(Unix seconds). Labels are computed from the *true* positions and device states — never from
the noisy fixes — and every supervisee is checked against every rule, so an episode nobody
scripted (a violator's detour that clips a school campus) is labelled too. The instants are
exact: paths are piecewise linear, so crossings are solved for, not sampled (see
:mod:`simulators.paths`). Episodes are clipped to the simulated window; one that is under way
when the window ends ends at the window's end.

Per kind:

``exclusion_entry``
    from the instant the true position enters an exclusion zone of the person (a circle by
    geodesic radius, a polygon in planar lon/lat) to the instant it leaves; one label per zone
    and visit.
``inclusion_exit``
    from crossing out of the person's county (planar lon/lat, as Cordon) to crossing back in.
``curfew``
    while a curfew window is in force and the true position is farther than the home zone's
    radius from home: from the later of the window's start and leaving the zone, to the earlier
    of the window's end and coming back. Someone away when the window opens starts at the
    window's start.
``victim_proximity``
    hysteresis: from the instant the true distance between supervisee and victim first drops
    below ``VICTIM_ENTER_M`` to the instant it next rises above ``VICTIM_EXIT_M`` (both move).
``separation``
    the true bracelet–phone distance exceeds ``SEPARATION_M`` continuously for at least
    ``SEPARATION_MIN_S``: from the instant it first exceeds ``SEPARATION_M`` to the instant it
    falls back.
``tamper``
    from the device's ``strap_tamper`` (``case_open``) event to its ``strap_restored``
    (``case_closed``) event.
``battery_dead``
    from the instant the battery reaches 0 % (the ``power_off`` event) to the instant the device
    is plugged in and powers on again.
``silent``
    from the instant every device of the person stops reporting to the instant they resume: no
    fix of theirs has a fix time and no message a delivery time inside the label.
``gathering``
    two supervisees whose true positions stay within ``GATHERING_M`` of each other for at least
    ``GATHERING_MIN_S``: a label for each of them, from the instant the meeting has lasted
    ``GATHERING_MIN_S`` to the instant they part. People whose home zones are within
    ``GATHERING_M`` of each other (edge to edge) are not compared, as Cordon does not (family).
``phone_left_behind``
    for people with a phone and no bracelet: the true phone position stays put (it moves less
    than ``PHONE_STILL_M``) through ``PHONE_STILL_S`` of waking hours (``WAKING_HOURS``, local;
    nights neither count nor end it): from the instant that much waking time has passed to the
    instant it moves. Stillness counts from the window's start at the earliest (the engine knows
    nothing before it).
``low_battery``
    per device of the supervisee (bracelet, phone; not the victim's phone), the hysteresis of
    Cordon's low-battery warning: from the instant the device's true level first falls to
    ``LOW_BATTERY_ENTER_PCT`` or below to the instant it next rises above
    ``LOW_BATTERY_EXIT_PCT``. Being off (flat) does not end it: the level is still low. Nobody
    is scripted for it — it comes with ``battery_dead`` — and compliant devices never fall
    below 30 % (see :mod:`simulators.battery`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath

import numpy as np
import numpy.typing as npt
import orjson

from simulators.clock import after_waking
from simulators.geo import distance_m
from simulators.intervals import Interval, clip, complement, intersect, normalize
from simulators.paths import Path, inside_polygon, within_radius
from simulators.world import StaticZone

KINDS = ("exclusion_entry", "inclusion_exit", "curfew", "victim_proximity", "separation",
         "tamper", "battery_dead", "silent", "low_battery", "gathering", "phone_left_behind")
HOME_RADIUS_M = 75.0
VICTIM_ENTER_M = 500.0
VICTIM_EXIT_M = 700.0
SEPARATION_M = 200.0
SEPARATION_MIN_S = 600.0
GATHERING_M = 50.0
GATHERING_MIN_S = 1200.0
PHONE_STILL_S = 4 * 3600.0
PHONE_STILL_M = 1.0  # true paths stay exactly put; every move of the simulation is hundreds of m
WAKING_HOURS = (8.0, 22.0)
# Cordon's low-battery warning (alerts.rules.battery): opens at or below, clears above.
LOW_BATTERY_ENTER_PCT = 20.0
LOW_BATTERY_EXIT_PCT = 25.0


@dataclass(frozen=True, slots=True)
class Label:
    supervisee: str
    kind: str
    start: float
    end: float

    def to_json(self) -> dict[str, object]:
        return {"supervisee": self.supervisee, "kind": self.kind, "start": self.start,
                "end": self.end}


def sort_labels(labels: Iterable[Label]) -> list[Label]:
    return sorted(labels, key=lambda lb: (lb.start, lb.supervisee, lb.kind, lb.end))


def write_labels(path: str | FilePath, labels: Iterable[Label]) -> None:
    """JSON Lines: one ``{"supervisee", "kind", "start", "end"}`` object per label."""
    with open(path, "wb") as out:
        for label in labels:
            out.write(orjson.dumps(label.to_json()) + b"\n")


def read_labels(path: str | FilePath) -> list[Label]:
    with open(path, "rb") as f:
        return [Label(**orjson.loads(line)) for line in f if line.strip()]


def zone_intervals(path: Path, zone: StaticZone, lo: float, hi: float) -> list[Interval]:
    """When the path is inside ``zone``."""
    if zone.is_circle:
        centre = (zone.geometry.x, zone.geometry.y)
        return within_radius(path, centre, zone.radius_m, lo, hi)
    return inside_polygon(path, zone.geometry, lo, hi)


def hysteresis(near: list[Interval], not_far: list[Interval]) -> list[Interval]:
    """Episodes that open on entering ``near`` and close on leaving ``not_far`` (⊇ near)."""
    out = []
    for a, b in not_far:
        starts = [s for s, e in near if e > a and s < b]
        if starts:
            out.append((max(a, min(starts)), b))
    return out


def spatial_labels(sid: str, path: Path, county: StaticZone, exclusions: Sequence[StaticZone],
                   home: tuple[float, float], curfew: list[Interval], lo: float, hi: float,
                   victim: Path | None = None, bracelet: Path | None = None,
                   phone: Path | None = None) -> list[Label]:
    """Labels of the kinds decided by where the person (and their victim, and devices) were."""
    out: list[Label] = []

    def add(kind: str, intervals: Iterable[Interval]) -> None:
        for a, b in clip(normalize(intervals), lo, hi):
            out.append(Label(sid, kind, a, b))

    for zone in exclusions:
        add("exclusion_entry", zone_intervals(path, zone, lo, hi))
    add("inclusion_exit", complement(zone_intervals(path, county, lo, hi), lo, hi))
    away = complement(within_radius(path, home, HOME_RADIUS_M, lo, hi), lo, hi)
    add("curfew", intersect(away, curfew))
    if victim is not None:
        near = within_radius(path, victim, VICTIM_ENTER_M, lo, hi)
        not_far = within_radius(path, victim, VICTIM_EXIT_M, lo, hi)
        add("victim_proximity", hysteresis(near, not_far))
    if bracelet is not None and phone is not None:
        apart = complement(within_radius(bracelet, phone, SEPARATION_M, lo, hi), lo, hi)
        add("separation", [(a, b) for a, b in apart if b - a >= SEPARATION_MIN_S])
    return out


def at_or_below(t: npt.NDArray[np.float64], level: npt.NDArray[np.float64], threshold: float
                ) -> list[Interval]:
    """When the piecewise linear ``level`` (knots ``t``, increasing) is ``<= threshold``.

    Crossings are solved on each linear piece. A level that only touches the threshold gives an
    interval of length zero: kept, because an ``at or below`` rule fires on it.

    >>> at_or_below(np.array([0.0, 10.0, 20.0]), np.array([30.0, 10.0, 30.0]), 20.0)
    [(5.0, 15.0)]
    >>> at_or_below(np.array([0.0, 10.0, 20.0]), np.array([30.0, 20.0, 30.0]), 20.0)
    [(10.0, 10.0)]
    """
    out: list[Interval] = []
    for t0, t1, v0, v1 in zip(t[:-1].tolist(), t[1:].tolist(), level[:-1].tolist(),
                              level[1:].tolist(), strict=True):
        if v0 > threshold and v1 > threshold:
            continue
        a = t0 if v0 <= threshold else t0 + (v0 - threshold) / (v0 - v1) * (t1 - t0)
        b = t1 if v1 <= threshold else t0 + (threshold - v0) / (v1 - v0) * (t1 - t0)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    if len(t) == 1 and level[0] <= threshold:
        out.append((float(t[0]), float(t[0])))
    return out


def battery_labels(sid: str, t: npt.NDArray[np.float64], level: npt.NDArray[np.float64],
                   lo: float, hi: float) -> list[Label]:
    """``low_battery`` labels of one device's battery (knots ``t``, ``level`` in %).

    The hysteresis runs over the whole battery history, so an episode already under way when
    the window opens starts at ``lo``.

    >>> h = 3600.0
    >>> [(lb.start / h, lb.end / h) for lb in battery_labels(
    ...     "S-1", np.array([0, 10, 11, 12, 20]) * h, np.array([40.0, 20.0, 24.0, 10.0, 30.0]),
    ...     0.0, 19 * h)]
    [(10.0, 18.0)]
    """
    near = at_or_below(t, level, LOW_BATTERY_ENTER_PCT)
    not_far = at_or_below(t, level, LOW_BATTERY_EXIT_PCT)
    return [Label(sid, "low_battery", a, b) for a, b in clip(hysteresis(near, not_far), lo, hi)]


def still_intervals(path: Path, lo: float, hi: float) -> list[Interval]:
    """When the path stays put (moving less than ``PHONE_STILL_M`` per segment), merged."""
    step = np.asarray(distance_m(path.lon[:-1], path.lat[:-1], path.lon[1:], path.lat[1:]))
    still = [(float(path.t[i]), float(path.t[i + 1])) for i in np.flatnonzero(
        step < PHONE_STILL_M).tolist()]
    if len(path.t) and path.t[0] > lo:
        still.append((lo, float(path.t[0])))
    if len(path.t) and path.t[-1] < hi:
        still.append((float(path.t[-1]), hi))
    return clip(normalize(still), lo, hi)


def phone_left_behind_labels(sid: str, phone: Path, tz: str, lo: float, hi: float
                             ) -> list[Label]:
    """``phone_left_behind`` labels of a phone (its true path) over ``[lo, hi]``."""
    out = []
    for a, b in still_intervals(phone, lo, hi):
        c = after_waking(a, PHONE_STILL_S, tz, WAKING_HOURS)
        if c < b:
            out.append(Label(sid, "phone_left_behind", c, b))
    return out


def gathering_labels(people: Sequence[tuple[str, Path, tuple[float, float], float]], lo: float,
                     hi: float, sample_s: float = 120.0) -> list[Label]:
    """``gathering`` labels among ``people`` (id, true path, home centre, home radius m).

    Candidate pairs come from the paths sampled every ``sample_s`` (a meeting of
    ``GATHERING_MIN_S`` holds several samples) and bucketed in four half-shifted grids of
    cells twice the reach; the candidates' exact meetings are then solved for."""
    if len(people) < 2:
        return []
    ts = np.arange(lo, hi + sample_s, sample_s)
    xy = np.array([np.stack(p.at(ts), axis=-1) for _s, p, _h, _r in people])  # people × t × 2
    cell = 4 * GATHERING_M / 111_320.0  # degrees: 200 m of latitude
    n_people, n_t = xy.shape[:2]
    who = np.repeat(np.arange(n_people), n_t)
    when = np.tile(np.arange(n_t), n_people)
    flat = xy.reshape(-1, 2)
    pairs: set[tuple[int, int]] = set()
    for sx in (0.0, 0.5):
        for sy in (0.0, 0.5):
            cx = np.floor(flat[:, 0] / cell + sx).astype(np.int64)
            cy = np.floor(flat[:, 1] / cell + sy).astype(np.int64)
            order = np.lexsort((who, cy, cx, when))
            key = np.stack([when[order], cx[order], cy[order]], axis=1)
            same = np.all(key[1:] == key[:-1], axis=1)
            w = who[order]
            for i in np.flatnonzero(same).tolist():
                j = i  # everyone earlier in the same cell at the same sample
                while j >= 0 and (j == i or same[j]):
                    a, b = int(w[j]), int(w[i + 1])
                    pairs.add((min(a, b), max(a, b)))
                    j -= 1
    out: list[Label] = []
    for a, b in sorted(pairs):
        (sa, pa, ha, ra), (sb, pb, hb, rb) = people[a], people[b]
        if float(distance_m(ha[0], ha[1], hb[0], hb[1])) - ra - rb <= GATHERING_M:
            continue
        for s, e in within_radius(pa, pb, GATHERING_M, lo, hi):
            if e - s >= GATHERING_MIN_S:
                out += [Label(sa, "gathering", s + GATHERING_MIN_S, e),
                        Label(sb, "gathering", s + GATHERING_MIN_S, e)]
    return out
