"""The demo jurisdiction: five real Texas counties (US Census boundaries from the
``bokeh-sampledata`` package), zones inside them, and supervisees — some of them violators.

Deterministic for a given seed, so every demo looks the same.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from bokeh_sampledata.us_counties import records
from shapely.geometry import Point, Polygon, box, mapping
from shapely.ops import nearest_points

from devices.models import Device, Jurisdiction, Supervisee
from geofence.zones import Zone
from simulators.demo_fleet import SimDevice

STATE = Jurisdiction("tx", "Texas", "state", None, "America/Chicago")
COUNTIES = ("Travis", "Williamson", "Hays", "Bastrop", "Caldwell")
M_PER_DEG_LAT = 111_320.0


@dataclass(slots=True)
class DemoWorld:
    jurisdictions: list[tuple[Jurisdiction, dict | None]] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    supervisees: list[Supervisee] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    fleet: list[SimDevice] = field(default_factory=list)


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (
        lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
        lat + north_m / M_PER_DEG_LAT,
    )


def _random_inside(poly, rng: random.Random, margin_m: float = 2000.0) -> tuple[float, float]:
    minx, miny, maxx, maxy = poly.bounds
    inner = poly.buffer(-margin_m / M_PER_DEG_LAT)
    target = inner if not inner.is_empty else poly
    while True:
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if target.contains(p):
            return p.x, p.y


def build_demo_world(n_supervisees: int = 300, seed: int = 7) -> DemoWorld:
    rng = random.Random(seed)
    world = DemoWorld()
    world.jurisdictions.append((STATE, None))
    counties = {r["name"]: r for r in records(state="TX") if r["name"] in COUNTIES}
    county_zone: dict[str, Zone] = {}
    exclusions: dict[str, list[Zone]] = {}
    for name in COUNTIES:
        rec = counties[name]
        jid = f"tx-{name.lower()}"
        geom = rec["geometry"]
        world.jurisdictions.append(
            (Jurisdiction(jid, rec["detailed_name"], "county", STATE.id, STATE.timezone),
             mapping(geom))
        )
        inclusion = Zone(f"{jid}-line", f"{name} County line", "inclusion", "polygon", geom,
                         jurisdiction_id=jid)
        county_zone[jid] = inclusion
        world.zones.append(inclusion)
        exclusions[jid] = []
        for i in range(3):
            lon, lat = _random_inside(geom, rng, 5000)
            zone = Zone(f"{jid}-victim-{i + 1}", f"Protected residence {name} #{i + 1}",
                        "exclusion", "circle", Point(lon, lat), rng.choice([300.0, 500.0]),
                        jurisdiction_id=jid)
            exclusions[jid].append(zone)
        lon, lat = _random_inside(geom, rng, 5000)
        sw, ne = _offset(lon, lat, -400, -300), _offset(lon, lat, 400, 300)
        exclusions[jid].append(
            Zone(f"{jid}-school-1", f"School campus {name}", "exclusion", "polygon",
                 box(sw[0], sw[1], ne[0], ne[1]), jurisdiction_id=jid)
        )
        world.zones.extend(exclusions[jid])

    jids = list(county_zone)
    for i in range(n_supervisees):
        jid = jids[i % len(jids)]
        county: Polygon = county_zone[jid].geometry
        sid = f"P-{i + 1:04d}"
        zone_ids = (county_zone[jid].id, *(z.id for z in exclusions[jid]))
        world.supervisees.append(Supervisee(sid, f"Supervisee {i + 1:04d}", jid, zone_ids))
        kind = "bracelet" if i % 2 else "phone"
        did = f"{'br' if kind == 'bracelet' else 'ph'}-{i + 1:04d}"
        world.devices.append(Device(did, sid, kind))
        fmt = "native" if kind == "bracelet" else "owntracks"
        roll = rng.random()
        if roll < 0.04:  # walks into an exclusion zone
            zone = rng.choice(exclusions[jid])
            c = zone.geometry.centroid
            home = _offset(c.x, c.y, rng.choice([-1, 1]) * 1500, rng.choice([-1, 1]) * 1500)
            fleet = SimDevice(did, sid, fmt, home, (c.x, c.y), period_s=rng.uniform(90, 150))
        elif roll < 0.08:  # crosses the county line
            fleet = _line_crosser(did, sid, fmt, county, rng)
        else:
            fleet = SimDevice(did, sid, fmt, _random_inside(county, rng, 1500))
        world.fleet.append(fleet)
    return world


def _line_crosser(did: str, sid: str, fmt: str, county: Polygon, rng: random.Random) -> SimDevice:
    """Home 1.5 km inside the county line, target 1.5 km outside it, along the line's normal."""
    while True:
        inside = Point(_random_inside(county, rng, 1500))
        edge = nearest_points(county.exterior, inside)[0]
        dx, dy = inside.x - edge.x, inside.y - edge.y
        norm = math.hypot(dx * M_PER_DEG_LAT * math.cos(math.radians(edge.y)), dy * M_PER_DEG_LAT)
        if norm < 1.0:
            continue
        ux, uy = dx / norm, dy / norm  # degrees per metre, pointing inward
        home = (edge.x + ux * 1500, edge.y + uy * 1500)
        target = (edge.x - ux * 1500, edge.y - uy * 1500)
        if county.contains(Point(home)) and not county.buffer(0.005).contains(Point(target)):
            return SimDevice(did, sid, fmt, home, target, period_s=rng.uniform(90, 150))
