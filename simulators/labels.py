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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath

import orjson

from simulators.intervals import Interval, clip, complement, intersect, normalize
from simulators.paths import Path, inside_polygon, within_radius
from simulators.world import StaticZone

KINDS = ("exclusion_entry", "inclusion_exit", "curfew", "victim_proximity", "separation",
         "tamper", "battery_dead", "silent")
HOME_RADIUS_M = 75.0
VICTIM_ENTER_M = 500.0
VICTIM_EXIT_M = 700.0
SEPARATION_M = 200.0
SEPARATION_MIN_S = 600.0


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
