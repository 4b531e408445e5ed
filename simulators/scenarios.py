"""Scripted violations, and the planning of one person's whole simulated life.

Every supervisee is ``compliant`` or a violator of exactly one kind. A violator lives the same
routine as everyone else except on *episode days*, when the script changes it:

``exclusion_entry``
    an afternoon stop of 10–45 min at a point inside one of their county's exclusion zones
    (a protected residence or a school campus), reached by an ordinary road.
``inclusion_exit``
    a 30 min – 3 h visit 2–10 km beyond the nearest stretch of their county line.
``curfew``
    home 20–150 min after the curfew began (already away when it begins); or a night outing
    that leaves 45 min – 3 h into the curfew; or leaving for work 20–80 min before it ends.
``victim_proximity``
    lurking 100–400 m from a place where their protected victim stays — sometimes arriving before
    the victim does, so that it is the victim who comes near, sometimes still there as the victim
    leaves.
``separation``
    the phone stays at home while the wearer (and the bracelet) go out for 40 min or more.
``tamper``
    in the evening at home the strap is cut (refitted 1.5–4 h later by an officer) or, less
    often, the case is opened for 2–20 min.
``battery_dead``
    the bracelet is not charged: it runs flat, sends ``power_off`` and falls silent until it is
    plugged in again 2–10 h later.
``silent``
    every device of the person falls silent (shielded, switched off) for 2–8 hours.
``gathering``
    two supervisees of one county (a *leader* and a *follower*) meet at a place in the county —
    a park, outdoors — for 35–90 min in the afternoon; the follower arrives and leaves within
    two minutes of the leader.
``phone_left_behind``
    a person with a phone and no bracelet leaves it at home for an outing of 5–7 hours (or a
    working day), so that it lies still through more than four waking hours.

People with a phone and no bracelet are *restless* (:func:`add_walks`): whenever they have
stayed in one place for 2.5 waking hours (08:00–22:00, the nights neither counting nor
resetting it) they go for a walk of 10–17 minutes to a point 400–900 m away in the county's
safe area, never within the curfew or the 45 minutes before it — so a compliant phone never
lies still long enough for ``phone_left_behind``.

Every episode lies within the simulated window. A run shorter than a day may not have room for
some of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from simulators.clock import after_waking, dates, local_date, waking_seconds
from simulators.geo import degrees_for, distance_m, offset
from simulators.intervals import Interval
from simulators.labels import WAKING_HOURS
from simulators.paths import INDOOR, OUTDOOR, Path
from simulators.people import (
    Appointment,
    DayPlanner,
    Leg,
    Person,
    Place,
    insert_appointment,
    legs_to_path,
    stays,
)
from simulators.world import County, rounded

COMPLIANT = "compliant"
KINDS = ("exclusion_entry", "inclusion_exit", "curfew", "victim_proximity", "separation",
         "tamper", "battery_dead", "silent", "gathering", "phone_left_behind")
GATHERING_STAY_S = (35 * 60.0, 90 * 60.0)
GATHERING_JITTER_S = 120.0
PHONE_LEFT_S = (5 * 3600.0, 7 * 3600.0)  # an outing without the phone
REST_MAX_S = 2.5 * 3600.0  # restless people: the longest waking stay before a walk
WALK_M = (400.0, 900.0)
WALK_STAY_S = (10 * 60.0, 17 * 60.0)  # under GATHERING_MIN_S, walks and all
WALK_SPEED_M_PER_S = 1.4
EPISODE_DAY_P = 0.3  # each simulated day is an episode day with this chance (at least one)
EDGE_S = 600.0  # episodes keep this far from the ends of the simulated window


@dataclass(frozen=True, slots=True, eq=False)
class Life:
    """One person's simulated life: the plan, the true path, and the device episodes."""

    person: Person
    kind: str
    legs: tuple[Leg, ...]
    path: Path
    phone_parked: tuple[Interval, ...] = ()  # when the phone lies at home without its wearer
    tampers: tuple[tuple[str, float, float], ...] = ()  # ("strap" | "case", start, end)
    deaths: tuple[Interval, ...] = ()  # battery flat → plugged in again
    silences: tuple[Interval, ...] = ()
    meetings: tuple[Appointment, ...] = ()  # a gathering leader's: the follower comes too

    def phone_path(self) -> Path:
        path = self.path
        for t0, t1 in self.phone_parked:
            path = path.parked(t0, t1)
        return path


@dataclass(slots=True)
class Episodes:
    planner: DayPlanner
    county: County
    start: float
    end: float
    rng: np.random.Generator
    victim: Life | None = None

    def within(self, t0: float, t1: float) -> bool:
        return self.start + EDGE_S <= t0 and t1 <= self.end - EDGE_S

    # --- appointments that change the true path ------------------------------------------

    def exclusion_entry(self, day: date, legs: list[Leg]) -> Appointment | None:
        rng, county = self.rng, self.county
        zone = county.exclusions[int(rng.integers(len(county.exclusions)))]
        if zone.is_circle:
            r, a = rng.uniform(0.0, 0.5) * zone.radius_m, rng.uniform(0, 2 * math.pi)
            x, y = offset(zone.geometry.x, zone.geometry.y, r * math.cos(a), r * math.sin(a))
        else:
            core = zone.geometry.buffer(-degrees_for(40.0, zone.geometry.centroid.y))
            x, y = county.random_safe_point(rng, area=core)
        arrive = self._afternoon(day, legs)
        stay = rng.uniform(10 * 60, 45 * 60)
        return Appointment(Place(f"in {zone.id}", rounded(x), rounded(y)), arrive, arrive + stay,
                           OUTDOOR, safe_route=False)

    def inclusion_exit(self, day: date, legs: list[Leg]) -> Appointment | None:
        rng, county, home = self.rng, self.county, self.planner.person.home
        line = county.geometry.boundary
        us = rng.uniform(0.0, 1.0, 40)
        edges = [line.interpolate(float(u), normalized=True) for u in us]
        dist = [float(distance_m(home.lon, home.lat, e.x, e.y)) for e in edges]
        for k in np.argsort(dist)[:8]:
            edge = edges[int(k)]
            d = max(dist[int(k)], 1.0)
            out = rng.uniform(2000.0, 10_000.0)
            # Straight on from home through the nearest stretch of the line.
            x = edge.x + (edge.x - home.lon) * out / d
            y = edge.y + (edge.y - home.lat) * out / d
            x, y = rounded(x), rounded(y)
            if not shapely.dwithin(county.geometry, Point(x, y), degrees_for(1000.0, y)):
                arrive = self._afternoon(day, legs, early=True)
                stay = rng.uniform(30 * 60, 180 * 60)
                return Appointment(Place("beyond the county line", x, y), arrive, arrive + stay,
                                   safe_route=False)
        return None

    def curfew(self, day: date, legs: list[Leg]) -> Appointment | None:
        rng, planner = self.rng, self.planner
        person = planner.person
        assert person.curfew is not None
        night_start = person.curfew.window_starting(day)[0]
        errand = person.errands[int(rng.integers(len(person.errands)))]
        router = planner.router
        roll = rng.random()
        if roll < 0.45:  # comes home late: already away when the curfew begins
            back = router.travel_s(router.route_or_direct(errand, person.home))
            depart = night_start + rng.uniform(20 * 60, 150 * 60) - back
            arrive = depart - rng.uniform(40 * 60, 120 * 60)
            return Appointment(errand, arrive, depart)
        if roll < 0.8:  # slips out at night
            there = router.travel_s(router.route_or_direct(person.home, errand))
            arrive = night_start + rng.uniform(45 * 60, 180 * 60) + there
            back = router.travel_s(router.route_or_direct(errand, person.home))
            latest = planner.at(day + timedelta(days=1), 5.5) - back
            depart = min(arrive + rng.uniform(20 * 60, 120 * 60), latest)
            return Appointment(errand, arrive, depart) if depart > arrive + 600 else None
        # Leaves before the curfew of the night before has ended.
        place = person.work or errand
        morning_end = person.curfew.window_starting(day - timedelta(days=1))[1]
        leave = morning_end - rng.uniform(20 * 60, 80 * 60)
        arrive = leave + router.travel_s(router.route_or_direct(person.home, place))
        return Appointment(place, arrive, arrive + rng.uniform(2 * 3600, 8 * 3600))

    def victim_proximity(self, day: date, legs: list[Leg]) -> Appointment | None:
        rng, victim = self.rng, self.victim
        assert victim is not None
        v_legs = [leg for leg in victim.legs if self.planner.at(day, 0) <= leg.depart
                  < self.planner.at(day, 24)]
        v_stays = stays(victim.person.home, self.planner.at(day, 0), v_legs)
        ends = [leg.depart for leg in v_legs] + [self.planner.at(day, 24)]
        lo_day, hi_day = self.planner.at(day, 8.0), self.planner.at(day, 19.5)
        options = []
        for (place, since), until in zip(v_stays, ends, strict=True):
            lo, hi = max(since - 30 * 60, lo_day), min(until - 15 * 60, hi_day)
            if hi - lo >= 30 * 60:
                options.append((place, lo, hi))
        if not options:
            return None
        place, lo, hi = options[int(rng.integers(len(options)))]
        for _ in range(20):
            r, a = rng.uniform(100.0, 400.0), rng.uniform(0, 2 * math.pi)
            x, y = offset(place.lon, place.lat, r * math.cos(a), r * math.sin(a))
            if shapely.contains_xy(self.county.safe, x, y):
                break
        else:
            return None
        arrive = rng.uniform(lo, hi)
        return Appointment(Place("near the victim", rounded(x), rounded(y)), arrive,
                           arrive + rng.uniform(15 * 60, 50 * 60), OUTDOOR)

    def gathering(self, day: date, legs: list[Leg]) -> Appointment | None:
        rng = self.rng
        x, y = self.county.random_safe_point(rng)
        working = self.planner.person.work is not None and any(
            leg.dest is self.planner.person.work for leg in legs)
        arrive = self.planner.at(day, 15.5 if working else 11.0) + rng.uniform(
            0, (1.5 if working else 4.5) * 3600)
        return Appointment(Place("meeting place", x, y), arrive,
                           arrive + rng.uniform(*GATHERING_STAY_S), OUTDOOR)

    def _afternoon(self, day: date, legs: list[Leg], early: bool = False) -> float:
        working = self.planner.person.work is not None and any(
            leg.dest is self.planner.person.work for leg in legs)
        if working:
            return self.planner.at(day, 16.0) + self.rng.uniform(0, (1.5 if early else 3) * 3600)
        return self.planner.at(day, 10.0) + self.rng.uniform(0, (5 if early else 8) * 3600)

    # --- the phone left behind ----------------------------------------------------------------

    def away_spans(self, legs: list[Leg]) -> list[Interval]:
        """(left home, back home) of each outing of a day's legs."""
        home, spans, left = self.planner.person.home, [], None
        prev_home = True
        for leg in legs:
            if prev_home and leg.dest is not home:
                left = leg.depart
            if leg.dest is home and left is not None:
                spans.append((left, leg.arrive))
                left = None
            prev_home = leg.dest is home
        return spans

    # --- device episodes --------------------------------------------------------------------

    def tamper(self, day: date, legs: list[Leg]) -> tuple[str, float, float] | None:
        rng = self.rng
        home_at = legs[-1].arrive if legs else self.planner.at(day, 17.0)
        t0 = max(home_at, self.planner.at(day, 18.0)) + rng.uniform(10 * 60, 90 * 60)
        if t0 > self.planner.at(day, 23.5):
            return None
        if rng.random() < 0.7:
            return "strap", t0, t0 + rng.uniform(1.5 * 3600, 4 * 3600)
        return "case", t0, t0 + rng.uniform(2 * 60, 20 * 60)

    def battery_death(self) -> Interval | None:
        span = self.end - self.start
        t_dead = self.start + self.rng.uniform(0.15, 0.85) * span
        t_back = t_dead + self.rng.uniform(2 * 3600, 10 * 3600)
        return (t_dead, t_back) if self.within(t_dead, t_dead + 1) else None

    def silences(self) -> list[Interval]:
        span = self.end - self.start
        n = 2 if span > 4 * 86400 and self.rng.random() < 0.5 else 1
        out: list[Interval] = []
        for k in range(n):
            lo = self.start + span * k / n
            t0 = lo + self.rng.uniform(0.1, 0.75) * span / n
            if self.within(t0, t0 + 1):
                out.append((t0, t0 + self.rng.uniform(2 * 3600, 8 * 3600)))
        return out


PATH_SCRIPTS = ("exclusion_entry", "inclusion_exit", "curfew", "victim_proximity", "gathering")


def plan_life(person: Person, kind: str, planner: DayPlanner, county: County, start: float,
              end: float, rng: np.random.Generator, victim: Life | None = None,
              meetings: Sequence[Appointment] = (), walks: np.random.Generator | None = None
              ) -> Life:
    """The person's legs for every day around ``[start, end]``, with ``kind``'s episodes.
    ``meetings``: a gathering follower's, the leader's meetings to join; ``walks``: the person
    is restless (:func:`add_walks`), drawing with this generator."""
    tz = planner.tz
    # Whole local days, from the midnight a day before ``start``: the path begins at home then,
    # before the first day's first departure, whatever the hour of ``start``.
    days = list(dates(start - 86400.0, end + 86400.0, tz))
    t0, t1 = planner.at(days[0], 0.0), end + 86400.0
    by_day: dict[date, list[Leg]] = {d: planner.baseline(d) for d in days}
    ep = Episodes(planner, county, start, end, rng, victim)
    in_window = [d for d in days if planner.at(d, 24) > start + EDGE_S
                 and planner.at(d, 0) < end - EDGE_S]
    order = [in_window[int(i)] for i in rng.permutation(len(in_window))]
    wanted = max(1, int(rng.binomial(len(in_window), EPISODE_DAY_P))) if in_window else 0

    def home_since(d: date) -> float:
        """When the person is last back home before day ``d`` (an earlier day's outing may run
        past midnight)."""
        return max((by_day[e][-1].arrive for e in days if e < d and by_day[e]), default=t0)

    def fits(d: date, legs: list[Leg]) -> bool:
        """Whether ``legs`` may replace day ``d``'s: home a minute before the first departure
        of a later day. Days get their episodes in random order, so both neighbours count."""
        later = min((by_day[e][0].depart for e in days if e > d and by_day[e]), default=math.inf)
        return legs[0].depart >= home_since(d) + 60 and legs[-1].arrive <= later - 60

    parked: list[Interval] = []
    tampers: list[tuple[str, float, float]] = []
    kept: list[Appointment] = []
    done = 0
    for appt in meetings:  # a follower joins the leader's meetings, give or take two minutes
        d = local_date(appt.arrive, tz)
        if d not in by_day:
            continue
        mine = Appointment(appt.place, appt.arrive + rng.uniform(-1, 1) * GATHERING_JITTER_S,
                           appt.depart + rng.uniform(-1, 1) * GATHERING_JITTER_S, appt.mode)
        new = insert_appointment(planner, by_day[d], home_since(d), mine)
        if new is not None and fits(d, new) and new[-1].arrive <= planner.latest_home(d):
            by_day[d] = new
    for d in order:
        if done >= wanted or meetings:
            break
        legs = by_day[d]
        if kind == "phone_left_behind":
            span = _long_outing(ep, person, planner, legs, home_since(d), d, fits)
            if span is not None:
                by_day[d], outing = span
                parked.append(outing)
                done += 1
        elif kind in PATH_SCRIPTS:
            for _attempt in range(6):
                appt = getattr(ep, kind)(d, legs)
                if appt is None or not ep.within(appt.arrive - 3600, appt.depart + 3600):
                    continue
                new = insert_appointment(planner, legs, home_since(d), appt)
                if new is None or not fits(d, new):
                    continue
                if kind != "curfew" and new[-1].arrive > planner.latest_home(d):
                    continue
                by_day[d] = new
                done += 1
                if kind == "gathering":
                    kept.append(appt)
                break
        elif kind == "separation":
            long_enough = [s for s in ep.away_spans(legs) if s[1] - s[0] >= 40 * 60
                           and ep.within(*s)]
            for attempt in range(10):
                if long_enough:
                    break
                # No outing of 40 min that day: make one (an errand, phone forgotten at home),
                # in the evening once home, or at any time of the day.
                errand = person.errands[int(rng.integers(len(person.errands)))]
                back_home = legs[-1].arrive if legs else planner.at(d, 9.0)
                if attempt % 2 == 0:
                    arrive = back_home + rng.uniform(30 * 60, 90 * 60)
                else:
                    arrive = planner.at(d, 9.0) + rng.uniform(0, 9 * 3600)
                appt = Appointment(errand, arrive, arrive + rng.uniform(40 * 60, 120 * 60))
                new = insert_appointment(planner, legs, home_since(d), appt)
                if new is not None and new[-1].arrive <= planner.latest_home(d) \
                        and fits(d, new):
                    long_enough = [s for s in ep.away_spans(new) if s[1] - s[0] >= 40 * 60
                                   and ep.within(*s)]
                    if long_enough:
                        by_day[d] = new
            if long_enough:
                parked.append(max(long_enough, key=lambda s: s[1] - s[0]))
                done += 1
        elif kind == "tamper":
            episode = ep.tamper(d, legs)
            if episode is not None and ep.within(episode[1], episode[1] + 1):
                tampers.append(episode)
                done += 1
    legs_all = [leg for d in days for leg in by_day[d]]
    if walks is not None:
        legs_all = add_walks(legs_all, planner, county, walks, t0, t1)
    path = legs_to_path(person.home, legs_all, t0, t1)
    deaths: list[Interval] = []
    silences: list[Interval] = []
    if kind == "battery_dead":
        death = ep.battery_death()
        deaths = [death] if death else []
    elif kind == "silent":
        silences = ep.silences()
    return Life(person, kind, tuple(legs_all), path, tuple(sorted(parked)), tuple(sorted(tampers)),
                tuple(deaths), tuple(silences), tuple(kept))


def _long_outing(ep: Episodes, person: Person, planner: DayPlanner, legs: list[Leg],
                 home_since: float, d: date, fits: Callable[[date, list[Leg]], bool]
                 ) -> tuple[list[Leg], Interval] | None:
    """Day ``d``'s legs with an outing of at least ``PHONE_LEFT_S[0]`` (the day's own, or an
    errand made long), and that outing (left home, back home)."""
    rng = ep.rng
    for attempt in range(8):
        spans = [s for s in ep.away_spans(legs) if s[1] - s[0] >= PHONE_LEFT_S[0]
                 and ep.within(*s)]
        if spans:
            return legs, max(spans, key=lambda s: s[1] - s[0])
        errand = person.errands[int(rng.integers(len(person.errands)))]
        arrive = planner.at(d, 9.0) + rng.uniform(0, 2.5 * 3600)
        appt = Appointment(errand, arrive, arrive + rng.uniform(*PHONE_LEFT_S))
        new = insert_appointment(planner, list(legs) if attempt % 2 else [], home_since, appt)
        if new is not None and new[-1].arrive <= planner.latest_home(d) and fits(d, new):
            legs = new
    return None


def add_walks(legs: list[Leg], planner: DayPlanner, county: County, rng: np.random.Generator,
              t0: float, t1: float) -> list[Leg]:
    """``legs`` with a walk (out, 10–20 min outdoors, back) wherever the person would otherwise
    stay in one place for more than ``REST_MAX_S`` of waking time (see the module)."""
    tz = planner.tz
    out: list[Leg] = []
    here, since, mode = planner.person.home, t0, INDOOR
    for leg in [*legs, None]:
        until = leg.depart if leg is not None else t1
        while waking_seconds(since, until, tz, WAKING_HOURS) > REST_MAX_S:
            due = after_waking(since, REST_MAX_S - rng.uniform(0, 1800), tz, WAKING_HOURS)
            walk = _walk(here, mode, due, since, until, planner, county, rng)
            if walk is None:  # the evening before the curfew is over: first thing tomorrow
                morning = planner.at(local_date(due, tz) + timedelta(days=1),
                                     WAKING_HOURS[0]) + rng.uniform(0, 900)
                if morning < until:
                    walk = _walk(here, mode, morning, since, until, planner, county, rng)
            if walk is None:
                break
            out += walk
            since = walk[-1].arrive
        if leg is not None:
            out.append(leg)
            here, since, mode = leg.dest, leg.arrive, leg.stay_mode
    return out


def _walk(here: Place, mode: int, due: float, since: float, until: float, planner: DayPlanner,
          county: County, rng: np.random.Generator) -> list[Leg] | None:
    """Two legs, out and back, of a walk from ``here`` leaving at ``due`` or the latest allowed
    instant before (after ``since``, back before ``until``); None if there is none."""
    for _ in range(20):
        r, a = rng.uniform(*WALK_M), rng.uniform(0, 2 * math.pi)
        x, y = offset(here.lon, here.lat, r * math.cos(a), r * math.sin(a))
        x, y = rounded(x), rounded(y)
        if shapely.contains(county.safe, LineString([here.xy, (x, y)])):
            break
    else:
        return None
    out_s = r / WALK_SPEED_M_PER_S
    total = 2 * out_s + rng.uniform(*WALK_STAY_S)
    day = local_date(due, planner.tz)
    # Back home 45 min before the curfew (or the victims' latest hour), never before 08:00.
    latest = min(planner.latest_home(day), until - 60) - total
    earliest = max(planner.at(day, WAKING_HOURS[0]), since + 300)
    leave = min(due, latest)
    if leave < earliest:
        return None
    place = Place("walk", x, y)
    return [Leg(leave, leave + out_s, place, (), OUTDOOR),
            Leg(leave + total - out_s, leave + total, here, (), mode)]
