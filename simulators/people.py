"""People and their days: homes, workplaces, errands, roads, and the daily routine.

A :class:`Person` (a supervisee, or a protected victim) lives in one county and has a home, maybe
a workplace (with workdays), and a few errand places, all inside the county's *safe area* (see
:mod:`simulators.world`). Between places they drive along a :class:`Route`: a straight segment,
an L-shaped pair of segments (a grid of roads), or a detour through a waypoint or two — whichever
first stays inside the safe area. Speed grows with distance (town streets to highways).

A day is a list of :class:`Leg` s (depart, drive, arrive, stay). The routine:

- workdays: leave home between 06:20 and 08:00, work until 15:30–18:00, zero to two errands
  (15–60 min each), home;
- other days: from 09:00–12:00, zero to three errands (20–90 min), sometimes home in between;
- always home by 45 minutes before the night's curfew (errands are dropped to make it), and
  never out before 06:20: the true path of a compliant person honours the curfew with margin.

Scripted violations are *appointments* (be at place P from ``arrive`` to ``depart``) inserted
into a day by :func:`insert_appointment`: the person leaves whatever stay lets them arrive on
time, keeps the appointment, and drives home; the rest of that day's plan is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from simulators.clock import Curfew, local_ts
from simulators.geo import distance_m, metres_per_degree
from simulators.paths import INDOOR, Path, PathBuilder
from simulators.world import rounded

LATEST_HOME_BEFORE_CURFEW_S = 45 * 60
EARLIEST_DEPARTURE_H = 6 + 20 / 60
MIN_STAY_S = 300.0


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    lon: float
    lat: float

    @property
    def xy(self) -> tuple[float, float]:
        return self.lon, self.lat


@dataclass(frozen=True, slots=True)
class Route:
    via: tuple[tuple[float, float], ...]  # waypoints between the two places
    length_m: float


@dataclass(frozen=True, slots=True)
class Leg:
    depart: float
    arrive: float
    dest: Place
    via: tuple[tuple[float, float], ...]
    stay_mode: int  # how the GPS sees the stay that follows the arrival


@dataclass(frozen=True, slots=True)
class Appointment:
    place: Place
    arrive: float
    depart: float
    mode: int = INDOOR
    safe_route: bool = True  # compliant roads to and from it, if there are any


@dataclass(frozen=True, slots=True, eq=False)
class Person:
    id: str
    name: str
    role: str  # "supervisee" | "victim"
    county_id: str
    home: Place
    work: Place | None
    workdays: tuple[int, ...]  # ISO weekday numbers 0 = Monday
    errands: tuple[Place, ...]
    speed_factor: float  # how briskly this person drives
    curfew: Curfew | None = None


class Router:
    """Routes between places, memoised per pair. A *safe* route stays inside the safe area; any
    other route stays inside ``inner`` (the county) when it can, and is straight when it cannot
    (it is bound outside)."""

    def __init__(self, safe: Polygon | MultiPolygon, inner: Polygon | MultiPolygon,
                 rng: np.random.Generator, speed: float):
        self.safe = safe
        self.inner = inner
        self.rng = rng
        self.speed_factor = speed
        self._cache: dict[tuple[float, float, float, float, bool], Route | None] = {}

    def route(self, a: Place, b: Place, safe: bool = True) -> Route | None:
        key = (a.lon, a.lat, b.lon, b.lat, safe)
        if key not in self._cache:
            back = self._cache.get((b.lon, b.lat, a.lon, a.lat, safe))
            if back is not None:
                self._cache[key] = Route(tuple(reversed(back.via)), back.length_m)
            else:
                self._cache[key] = self._find(a.xy, b.xy, safe)
        return self._cache[key]

    def route_or_direct(self, a: Place, b: Place) -> Route:
        return self.route(a, b, True) or self.route(a, b, False)  # type: ignore[return-value]

    def travel_s(self, route: Route) -> float:
        km = route.length_m / 1000.0
        speed = min(24.0, 6.0 + 0.35 * km) * self.speed_factor  # m/s: streets to highways
        return max(60.0, route.length_m / speed)

    def _find(self, a: tuple[float, float], b: tuple[float, float], safe: bool) -> Route | None:
        corners = [(b[0], a[1]), (a[0], b[1])]
        if self.rng.random() < 0.5:
            corners.reverse()
        candidates: list[tuple[tuple[float, float], ...]] = [(corners[0],), (), (corners[1],)]
        if self.rng.random() < 0.35:  # a fair share of plain straight drives
            candidates = [(), *[c for c in candidates if c]]
        length = float(distance_m(a[0], a[1], b[0], b[1]))
        m_lon, m_lat = metres_per_degree((a[1] + b[1]) / 2)
        for _ in range(16):
            mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            spread = max(length, 2000.0) * 0.4
            candidates.append(((rounded(mid[0] + self.rng.normal(0, spread) / m_lon),
                                rounded(mid[1] + self.rng.normal(0, spread) / m_lat)),))
        area = self.safe if safe else self.inner
        for via in candidates:
            via = tuple((rounded(x), rounded(y)) for x, y in via)
            if shapely.contains(area, LineString([a, *via, b])):
                return Route(via, _length_m([a, *via, b]))
        return None if safe else Route((), length)


def _length_m(points: Sequence[tuple[float, float]]) -> float:
    arr = np.asarray(points)
    return float(np.sum(distance_m(arr[:-1, 0], arr[:-1, 1], arr[1:, 0], arr[1:, 1])))


@dataclass(slots=True)
class DayPlanner:
    """Plans the days of one person. ``tz`` is the local zone; ``latest_home_h`` applies to people
    without a curfew (victims)."""

    person: Person
    router: Router
    rng: np.random.Generator
    tz: str
    latest_home_h: float = 21.25
    _home_cache: dict[date, float] = field(default_factory=dict)

    def latest_home(self, day: date) -> float:
        if self.person.curfew is None:
            return local_ts(day, self.latest_home_h, self.tz)
        return self.person.curfew.window_starting(day)[0] - LATEST_HOME_BEFORE_CURFEW_S

    def at(self, day: date, hours: float) -> float:
        return local_ts(day, hours, self.tz)

    def baseline(self, day: date) -> list[Leg]:
        """The ordinary routine of ``day``: the legs from the morning departure back home."""
        p, rng = self.person, self.rng
        working = p.work is not None and day.weekday() in p.workdays
        stops: list[tuple[Place, float, bool]] = []  # place, stay (s) or until (abs), is "until"
        if working:
            first = self.at(day, EARLIEST_DEPARTURE_H) + rng.uniform(0, 100 * 60)
            stops.append((p.work, self.at(day, 15.5) + rng.uniform(0, 150 * 60), True))  # type: ignore[arg-type]
            for e in rng.choice(len(p.errands), size=int(rng.integers(0, 3)), replace=False):
                stops.append((p.errands[int(e)], rng.uniform(15 * 60, 60 * 60), False))
        else:
            first = self.at(day, 9.0) + rng.uniform(0, 180 * 60)
            n = int(rng.integers(0, 4))
            for e in rng.choice(len(p.errands), size=n, replace=False):
                if stops and rng.random() < 0.4:
                    stops.append((p.home, rng.uniform(30 * 60, 120 * 60), False))
                stops.append((p.errands[int(e)], rng.uniform(20 * 60, 90 * 60), False))
        while stops:
            legs = self.chain(p.home, first, stops)
            if legs[-1].arrive <= self.latest_home(day):
                return legs
            stops.pop()  # drop the last errand and try again
            if stops and stops[-1][0] is p.home:
                stops.pop()
        return []

    def chain(self, origin: Place, depart: float, stops: list[tuple[Place, float, bool]]
              ) -> list[Leg]:
        """Legs from ``origin`` at ``depart`` through ``stops`` and back home."""
        legs: list[Leg] = []
        here, t = origin, depart
        for place, stay, until in [*stops, (self.person.home, 0.0, False)]:
            route = self.router.route_or_direct(here, place)
            arrive = t + self.router.travel_s(route)
            legs.append(Leg(t, arrive, place, route.via, INDOOR))
            t = max(stay, arrive + MIN_STAY_S) if until else arrive + max(stay, MIN_STAY_S)
            here = place
        return legs


def stays(home: Place, home_since: float, legs: Sequence[Leg]) -> list[tuple[Place, float]]:
    """Where the person stays during a day, and since when: home first, then each arrival."""
    return [(home, home_since), *((leg.dest, leg.arrive) for leg in legs)]


def insert_appointment(planner: DayPlanner, legs: list[Leg], home_since: float,
                       appt: Appointment) -> list[Leg] | None:
    """``legs`` changed so that the person keeps ``appt`` and then goes home; None if they
    cannot get there in time from any stay of the day."""
    router, home = planner.router, planner.person.home
    places = stays(home, home_since, legs)
    for i in range(len(places) - 1, -1, -1):
        here, since = places[i]
        there = (router.route(here, appt.place) if appt.safe_route else None) or \
            router.route(here, appt.place, safe=False)
        assert there is not None
        depart = appt.arrive - router.travel_s(there)
        if depart >= since + MIN_STAY_S:
            break
    else:
        return None
    back = (router.route(appt.place, home) if appt.safe_route else None) or \
        router.route(appt.place, home, safe=False)
    assert back is not None
    return [
        *legs[:i],
        Leg(depart, appt.arrive, appt.place, there.via, appt.mode),
        Leg(appt.depart, appt.depart + router.travel_s(back), home, back.via, INDOOR),
    ]


def legs_to_path(home: Place, legs: Sequence[Leg], t0: float, t1: float) -> Path:
    """The true path: at home from ``t0``, through ``legs``, held at the last place to ``t1``.
    Along a leg the time is spread over its waypoints in proportion to distance."""
    b = PathBuilder(t0, home.lon, home.lat)
    mode = INDOOR
    for leg in legs:
        if leg.depart < b.t:
            raise ValueError(f"leg departs at {leg.depart} before the previous one ends at {b.t}")
        b.stay_until(leg.depart, mode)
        points = np.array([b.position, *leg.via, leg.dest.xy])
        steps = distance_m(points[:-1, 0], points[:-1, 1], points[1:, 0], points[1:, 1])
        total = float(np.sum(steps))
        if total <= 0.0:
            b.stay_until(leg.arrive, mode)
        else:
            done = np.cumsum(steps) / total
            for (x, y), step, frac in zip(points[1:].tolist(), steps.tolist(), done.tolist(),
                                          strict=True):
                if step > 0:
                    b.move_to(x, y, leg.arrive if frac >= 1.0 else leg.depart
                              + (leg.arrive - leg.depart) * frac)
        mode = leg.stay_mode
    b.stay_until(max(t1, b.t + 1.0), mode)
    return b.build()


def make_person(pid: str, name: str, role: str, county_id: str, safe: Polygon | MultiPolygon,
                inner: Polygon | MultiPolygon, rng: np.random.Generator,
                router_rng: np.random.Generator, curfew: Curfew | None,
                random_point: Callable[[np.random.Generator], tuple[float, float]],
                avoid: Sequence[tuple[float, float]] = (),
                avoid_m: float = 0.0) -> tuple[Person, Router]:
    """A person with places in the safe area, every pair of them joined by a safe route.

    ``random_point(rng)`` draws a point of the safe area; ``avoid`` are points every place must
    stay ``avoid_m`` from (a victim's places keep their distance from the supervisee's)."""
    speed = float(rng.uniform(0.85, 1.15))
    router = Router(safe, inner, router_rng, speed)
    avoid_xy = np.asarray(avoid, dtype=np.float64).reshape(-1, 2)

    def draw(near: Place | None, within_m: float) -> Place:
        best = None
        for _ in range(60):
            x, y = random_point(rng)
            if len(avoid) and float(np.min(distance_m(x, y, avoid_xy[:, 0], avoid_xy[:, 1]))) \
                    < avoid_m:
                continue
            best = (x, y)
            if near is None or float(distance_m(x, y, near.lon, near.lat)) <= within_m:
                break
        if best is None:
            best = random_point(rng)
        return Place("", *best)

    for _attempt in range(40):
        home = Place("home", *draw(None, 0).xy)
        employed = rng.random() < 0.8
        work = Place("work", *draw(home, 25_000).xy) if employed else None
        errands = tuple(Place(f"errand-{k + 1}", *draw(home, 12_000).xy) for k in range(3))
        places = [home, *([work] if work else []), *errands]
        if all(router.route(a, b) is not None for i, a in enumerate(places)
               for b in places[i + 1:]):
            break
    else:
        raise RuntimeError(f"{pid}: no set of places joined by safe roads in {county_id}")
    if employed:
        workdays = (0, 1, 2, 3, 4) if rng.random() < 0.8 else (1, 2, 3, 4, 5)
    else:
        workdays = ()
    return Person(pid, name, role, county_id, home, work, workdays, errands, speed, curfew), router
