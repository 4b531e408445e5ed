"""The simulated world: a state's real counties (US Census boundaries) and their exclusion zones.

Counties come from ``bokeh_sampledata.us_counties`` exactly as published; every coordinate the
simulator invents (zone centres, school corners, homes) is rounded to 7 decimals *before* it is
used for anything, so the GeoJSON handed to Cordon describes the very geometry the ground truth
was computed on.

Each county is an inclusion zone for the people who live there (they may not leave it), and
holds a few exclusion zones: protected residences (circles of 200–500 m) and school campuses
(small irregular quadrilaterals). For planning compliant lives, each county also has a *safe
area*: the county shrunk by :data:`COUNTY_MARGIN_M` minus every exclusion zone grown by
:data:`ZONE_MARGIN_M`; compliant people live, work and drive only there, so that their true
paths are never near a line they must not cross (their noisy fixes may still be).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from bokeh_sampledata.us_counties import records
from shapely.geometry import MultiPolygon, Point, Polygon, mapping

from simulators.geo import circle_polygon, degrees_for, distance_m, offset

COUNTY_MARGIN_M = 1500.0
ZONE_MARGIN_M = 400.0
STATE_TIMEZONES = {
    "TX": "America/Chicago", "OK": "America/Chicago", "LA": "America/Chicago",
    "IL": "America/Chicago", "MN": "America/Chicago", "WI": "America/Chicago",
    "NY": "America/New_York", "PA": "America/New_York", "GA": "America/New_York",
    "NC": "America/New_York", "OH": "America/New_York", "VA": "America/New_York",
    "CO": "America/Denver", "UT": "America/Denver", "NM": "America/Denver",
    "AZ": "America/Phoenix", "CA": "America/Los_Angeles", "WA": "America/Los_Angeles",
    "OR": "America/Los_Angeles", "NV": "America/Los_Angeles",
}
STATE_NAMES = {
    "TX": "Texas", "OK": "Oklahoma", "LA": "Louisiana", "IL": "Illinois", "MN": "Minnesota",
    "WI": "Wisconsin", "NY": "New York", "PA": "Pennsylvania", "GA": "Georgia",
    "NC": "North Carolina", "OH": "Ohio", "VA": "Virginia", "CO": "Colorado", "UT": "Utah",
    "NM": "New Mexico", "AZ": "Arizona", "CA": "California", "WA": "Washington",
    "OR": "Oregon", "NV": "Nevada",
}


def rounded(x: float) -> float:
    return round(float(x), 7)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True, slots=True, eq=False)
class StaticZone:
    """An exclusion or inclusion zone that does not move: a circle or a polygon."""

    id: str
    name: str
    kind: str  # "exclusion" | "inclusion"
    category: str  # "protected_residence" | "school" | "county_line" | "home"
    geometry: Point | Polygon | MultiPolygon
    radius_m: float = 0.0  # circles only
    jurisdiction_id: str | None = None
    schedule: dict[str, Any] | None = None

    @property
    def is_circle(self) -> bool:
        return isinstance(self.geometry, Point)

    def footprint(self, margin_m: float) -> Polygon | MultiPolygon:
        """The zone grown by ``margin_m``, as a lon/lat polygon, for keeping people away."""
        if isinstance(self.geometry, Point):
            return circle_polygon(self.geometry.x, self.geometry.y, self.radius_m + margin_m + 5.0)
        lat = self.geometry.centroid.y
        return self.geometry.buffer(degrees_for(margin_m, lat))

    def feature(self) -> dict[str, Any]:
        """The zone as Cordon reads it: a GeoJSON Feature (a circle is a Point + radius_m)."""
        props: dict[str, Any] = {"name": self.name, "kind": self.kind, "category": self.category}
        if self.is_circle:
            props["radius_m"] = self.radius_m
        if self.jurisdiction_id:
            props["jurisdiction_id"] = self.jurisdiction_id
        if self.schedule is not None:
            props["schedule"] = self.schedule
        return {"type": "Feature", "id": self.id, "properties": props,
                "geometry": mapping(self.geometry)}


@dataclass(frozen=True, slots=True, eq=False)
class County:
    id: str
    name: str
    detailed_name: str
    fips: str
    geometry: Polygon | MultiPolygon
    line: StaticZone  # the county as an inclusion zone
    exclusions: tuple[StaticZone, ...]
    safe: Polygon | MultiPolygon = field(repr=False)  # where compliant lives are planned

    def random_safe_point(self, rng: np.random.Generator, area: Any = None) -> tuple[float, float]:
        """A uniformly random point of ``area`` (default: the safe area), rounded."""
        target = self.safe if area is None else area
        minx, miny, maxx, maxy = target.bounds
        for _ in range(200):
            xs = rng.uniform(minx, maxx, 64)
            ys = rng.uniform(miny, maxy, 64)
            ok = np.flatnonzero(shapely.contains_xy(target, xs, ys))
            if len(ok):
                return rounded(xs[ok[0]]), rounded(ys[ok[0]])
        raise RuntimeError(f"{self.detailed_name}: no room for a point in the planning area")


@dataclass(frozen=True, slots=True, eq=False)
class World:
    state: str  # postal code, e.g. "TX"
    state_id: str  # jurisdiction id, e.g. "tx"
    state_name: str
    timezone: str
    counties: tuple[County, ...]

    def county(self, county_id: str) -> County:
        for c in self.counties:
            if c.id == county_id:
                return c
        raise KeyError(county_id)

    @property
    def zones(self) -> list[StaticZone]:
        out: list[StaticZone] = []
        for c in self.counties:
            out.append(c.line)
            out.extend(c.exclusions)
        return out


def build_world(state: str, counties: tuple[str, ...], rng: np.random.Generator,
                residences_per_county: int = 4, schools_per_county: int = 2,
                timezone: str | None = None) -> World:
    """Load the named counties of ``state`` and place exclusion zones in them."""
    state = state.upper()
    tz = timezone or STATE_TIMEZONES.get(state)
    if tz is None:
        raise ValueError(f"no default time zone for state {state!r}: pass FleetConfig.timezone")
    by_name = {r["name"]: r for r in records(state=state)}
    missing = [n for n in counties if n not in by_name]
    if missing:
        raise ValueError(
            f"counties {missing} are not in {state} (known: {', '.join(sorted(by_name)[:8])}, …)"
        )
    state_id = state.lower()
    built = []
    for name in counties:
        rec = by_name[name]
        cid = f"{state_id}-{slug(name)}"
        geom = rec["geometry"]
        line = StaticZone(f"{cid}-line", f"{name} County line", "inclusion", "county_line", geom,
                          jurisdiction_id=cid)
        exclusions = _place_exclusions(cid, name, geom, rng, residences_per_county,
                                       schools_per_county)
        lat = geom.centroid.y
        safe = geom.buffer(-degrees_for(COUNTY_MARGIN_M, lat))
        for z in exclusions:
            safe = safe.difference(z.footprint(ZONE_MARGIN_M))
        shapely.prepare(safe)
        shapely.prepare(geom)
        built.append(County(cid, name, rec["detailed_name"], str(rec["fips"]), geom, line,
                            exclusions, safe))
    return World(state, state_id, STATE_NAMES.get(state, state), tz, tuple(built))


def _place_exclusions(cid: str, name: str, county: Polygon | MultiPolygon,
                      rng: np.random.Generator, n_residences: int, n_schools: int
                      ) -> tuple[StaticZone, ...]:
    lat = county.centroid.y
    interior = county.buffer(-degrees_for(4000.0, lat))
    if interior.is_empty:
        interior = county
    minx, miny, maxx, maxy = interior.bounds
    centres: list[tuple[float, float]] = []
    want = n_residences + n_schools
    for _ in range(20_000):
        if len(centres) == want:
            break
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not shapely.contains_xy(interior, x, y):
            continue
        # Zones 3 km apart keep one person's errand from skirting two of them.
        if any(distance_m(x, y, cx, cy) < 3000.0 for cx, cy in centres):
            continue
        centres.append((rounded(x), rounded(y)))
    zones: list[StaticZone] = []
    for i, (x, y) in enumerate(centres[:n_residences]):
        radius = float(rng.integers(20, 51) * 10)
        zones.append(StaticZone(f"{cid}-residence-{i + 1}", f"Protected residence {name} #{i + 1}",
                                "exclusion", "protected_residence", Point(x, y), radius,
                                jurisdiction_id=cid))
    for i, (x, y) in enumerate(centres[n_residences:]):
        zones.append(StaticZone(f"{cid}-school-{i + 1}", f"School campus {name} #{i + 1}",
                                "exclusion", "school", _campus(x, y, rng), jurisdiction_id=cid))
    return tuple(zones)


def _campus(x: float, y: float, rng: np.random.Generator) -> Polygon:
    """An irregular quadrilateral of roughly 250–600 m across, turned at random."""
    turn = rng.uniform(0.0, math.pi)
    corners = []
    for k in range(4):
        a = turn + k * math.pi / 2 + rng.uniform(-0.25, 0.25)
        r = rng.uniform(150.0, 300.0)
        lon, lat = offset(x, y, r * math.cos(a), r * math.sin(a))
        corners.append((rounded(lon), rounded(lat)))
    return Polygon(corners)
