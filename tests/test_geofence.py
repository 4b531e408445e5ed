"""The geofence kernel against Shapely on real county polygons, and accuracy-aware decisions."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from bokeh_sampledata.us_counties import records
from shapely.geometry import MultiPolygon, Point, Polygon, box, mapping

import geofence
from geofence import INSIDE, OUTSIDE, UNCERTAIN, Zone, ZoneError, ZoneSet


@pytest.fixture(scope="module")
def counties():
    return [r for r in records() if r["state"] in ("TX", "MI", "HI", "AK")]


def test_contains_matches_shapely_on_real_counties(counties):
    rng = np.random.default_rng(1)
    checked = 0
    for rec in counties[::7]:
        geom = rec["geometry"]
        minx, miny, maxx, maxy = geom.bounds
        xs = rng.uniform(minx - 0.1, maxx + 0.1, 2000)
        ys = rng.uniform(miny - 0.1, maxy + 0.1, 2000)
        ours = geofence.contains(geom, xs, ys)
        theirs = shapely.contains_xy(geom, xs, ys)
        # Compare only points farther than 1e-9 degrees from the boundary.
        far = shapely.distance(geom.boundary, shapely.points(xs, ys)) > 1e-9
        assert np.array_equal(ours[far], theirs[far]), rec["detailed_name"]
        checked += int(far.sum())
    assert checked > 50_000


def test_contains_handles_holes_multipart_and_geojson():
    shell = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
    hole = [(4, 4), (6, 4), (6, 6), (4, 6), (4, 4)]
    geom = MultiPolygon([Polygon(shell, [hole]), box(20, 20, 21, 21)])
    got = geofence.contains(mapping(geom), [1, 5, 20.5, 15], [1, 5, 20.5, 15])
    assert got.tolist() == [True, False, True, False]
    assert geofence.contains(geom, 1.0, 1.0).shape == ()


def circle(zone_id="c", radius=500.0, lon=-97.74, lat=30.27, kind="exclusion"):
    return Zone.from_feature({"type": "Feature", "id": zone_id,
                              "properties": {"kind": kind, "radius_m": radius},
                              "geometry": {"type": "Point", "coordinates": [lon, lat]}})


def metres_north(lat: float, m: float) -> float:
    return lat + m / 111_000.0


def test_accuracy_makes_boundary_fixes_uncertain():
    zs = ZoneSet([circle(radius=500.0)])
    # Fixes 300 m, 490 m, 510 m and 800 m north of the centre, each with 20 m accuracy.
    lats = np.array([metres_north(30.27, d) for d in (300, 490, 510, 800)])
    lons = np.full(4, -97.74)
    decisions = zs.classify(lons, lats, np.full(4, 20.0), np.arange(4), np.zeros(4, int))
    assert decisions.tolist() == [INSIDE, UNCERTAIN, UNCERTAIN, OUTSIDE]
    # A fix 100 m inside with a 150 m accuracy radius is not certain either.
    d = zs.classify(lons[:1], np.array([metres_north(30.27, 400)]), np.array([150.0]),
                    np.array([0]), np.array([0]))
    assert d.tolist() == [UNCERTAIN]


def test_polygon_decisions_with_accuracy():
    # A square ~1.1 km a side; fixes at its centre, 30 m inside its south edge, and 1 km out.
    zs = ZoneSet([Zone("sq", "sq", "inclusion", "polygon", box(0.0, 0.0, 0.01, 0.01))])
    lon = np.array([0.005, 0.005, 0.005])
    lat = np.array([0.005, 30 / 110_574, -0.01])
    got = zs.classify(lon, lat, np.array([10.0, 50.0, 10.0]), np.arange(3), np.zeros(3, int))
    assert got.tolist() == [INSIDE, UNCERTAIN, OUTSIDE]


def test_invalid_polygon_is_repaired_with_a_warning(caplog):
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    z = Zone.from_feature({"type": "Feature", "id": "bow", "properties": {}, "geometry": bowtie})
    assert z.geometry.is_valid and z.geometry.area == pytest.approx(0.5)
    assert "zone bow: repaired invalid polygon" in caplog.text


def test_unclosed_ring_is_closed_with_a_warning(caplog):
    open_ring = {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2]]]}
    z = Zone.from_feature({"type": "Feature", "id": "open", "properties": {},
                           "geometry": open_ring})
    assert z.geometry.area == pytest.approx(4.0)
    assert "zone open: ring 0 was not closed" in caplog.text
    assert open_ring["coordinates"][0][-1] == [0, 2]  # the caller's data is left alone


def test_multipolygon_on_both_sides_of_the_antimeridian_is_fine():
    aleutians = {"type": "MultiPolygon", "coordinates": [
        [[[179.0, 51.0], [179.9, 51.0], [179.9, 52.0], [179.0, 52.0], [179.0, 51.0]]],
        [[[-179.9, 51.0], [-179.0, 51.0], [-179.0, 52.0], [-179.9, 52.0], [-179.9, 51.0]]]]}
    z = Zone.from_feature({"type": "Feature", "id": "ak", "properties": {},
                           "geometry": aleutians})
    got = ZoneSet([z]).contains(0, np.array([179.5, -179.5, 0.0]), np.array([51.5, 51.5, 51.5]))
    assert got.tolist() == [True, True, False]


@pytest.mark.parametrize(
    ("geometry", "props", "message"),
    [
        ({"type": "Polygon", "coordinates": [[[170, 0], [-170, 0], [-170, 1], [170, 1],
                                              [170, 0]]]}, {}, "antimeridian"),
        ({"type": "Point", "coordinates": [0, 0]}, {}, "positive properties.radius_m"),
        ({"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]}, {}, "MultiPoint is not"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}, {}, "not valid GeoJSON"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}, {}, "no area"),
        (mapping(box(0, 0, 1, 1)), {"kind": "forbidden"}, "kind 'forbidden'"),
    ],
)
def test_bad_zones_are_rejected_by_name(geometry, props, message):
    with pytest.raises(ZoneError, match=message) as err:
        Zone.from_feature({"type": "Feature", "id": "z-9", "properties": props,
                           "geometry": geometry})
    assert "z-9" in str(err.value)


def test_zone_geojson_round_trip():
    z = circle("school", 250.0)
    again = Zone.from_feature(z.to_feature())
    assert (again.id, again.shape, again.radius_m, again.kind) == ("school", "circle", 250.0,
                                                                   "exclusion")
    assert again.geometry.equals(Point(-97.74, 30.27))


def test_circle_distances_match_pyproj_geod_within_half_a_metre_at_10_km():
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    rng = np.random.default_rng(5)
    lat0 = rng.uniform(-70, 70, 300)
    lon0 = rng.uniform(-179, 179, 300)
    az = rng.uniform(0, 360, 300)
    dist = rng.uniform(0, 10_000, 300)
    lon1, lat1, _ = geod.fwd(lon0, lat0, az, dist)
    zones = [circle(f"c{i}", 1000.0, lon0[i], lat0[i]) for i in range(300)]
    zs = ZoneSet(zones)
    signed = zs.distance_m(lon1, lat1, np.arange(300), np.arange(300))
    assert np.max(np.abs((signed + 1000.0) - dist)) < 0.5


def test_corridor_is_the_band_around_its_line():
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    line = {"type": "LineString", "coordinates": [[-97.80, 30.20], [-97.70, 30.25],
                                                  [-97.60, 30.25]]}
    z = Zone.from_feature({"type": "Feature", "id": "route",
                           "properties": {"kind": "inclusion", "width_m": 400},
                           "geometry": line})
    assert (z.shape, z.width_m) == ("corridor", 400.0)
    zs = ZoneSet([z])
    # Points 100 m and 300 m due north of the middle of the second leg's flat part.
    lon, lat100, _ = geod.fwd(-97.65, 30.25, 0, 100)
    _, lat300, _ = geod.fwd(-97.65, 30.25, 0, 300)
    lats = np.array([lat100, lat300, lat300])
    lons = np.array([lon, lon, lon])
    got = zs.classify(lons, lats, np.array([10.0, 10.0, 150.0]), np.arange(3), np.zeros(3, int))
    assert got.tolist() == [INSIDE, OUTSIDE, UNCERTAIN]
    d = zs.distance_m(lons, lats, np.arange(3), np.zeros(3, int))
    assert d[0] == pytest.approx(-100.0, abs=0.5) and d[1] == pytest.approx(100.0, abs=0.5)
    offsets, hits = zs.zones_containing(lons, lats)
    assert np.diff(offsets).tolist() == [1, 0, 0]
    with pytest.raises(ZoneError, match="positive properties.width_m"):
        Zone.from_feature({"type": "Feature", "id": "r", "properties": {}, "geometry": line})


def test_a_path_through_a_zone_between_two_fixes_is_seen():
    # Fixes 2 km either side of a 300 m circle, and of a small square, both outside.
    zs = ZoneSet([circle("c", 300.0, 0.0, 0.0),
                  Zone("sq", "sq", "exclusion", "polygon", box(0.05, -0.001, 0.052, 0.001))])
    lon = np.array([-0.02, 0.02, -0.02, 0.045, 0.06, 0.045])
    lat = np.array([0.0, 0.0, 0.01, 0.0, 0.0, 0.01])
    # through the circle / passing 1.1 km north of it / through the square / beside the square
    frm = np.array([0, 2, 3, 5])
    to = np.array([1, 2, 4, 4])  # (the second is a fix paired with itself: no path at all)
    zone = np.array([0, 0, 1, 1])
    got = zs.segment_enters(lon, lat, frm, to, zone)
    assert got.tolist() == [True, False, True, False]
    # Against Shapely for the square, on random paths.
    rng = np.random.default_rng(9)
    a = rng.uniform(0.04, 0.06, (500, 2)) - [0, 0.005]
    b = rng.uniform(0.04, 0.06, (500, 2)) - [0, 0.005]
    lon = np.concatenate([a[:, 0], b[:, 0]])
    lat = np.concatenate([a[:, 1], b[:, 1]])
    idx = np.arange(500)
    ours = zs.segment_enters(lon, lat, idx, idx + 500, np.ones(500, int))
    square = box(0.05, -0.001, 0.052, 0.001)
    theirs = shapely.intersects(shapely.linestrings(np.stack([a, b], axis=1)), square)
    assert np.array_equal(ours, theirs)


def test_index_of_ten_thousand_zones_is_built_and_answers(counties):
    rng = np.random.default_rng(2)
    zones = []
    for i in range(10_000):
        lon, lat = rng.uniform(-120, -75), rng.uniform(28, 48)
        if i % 2:
            zones.append(circle(f"c{i}", float(rng.uniform(100, 2000)), lon, lat))
        else:
            zones.append(Zone(f"p{i}", "p", "exclusion", "polygon",
                              box(lon, lat, lon + 0.01, lat + 0.01)))
    zs = ZoneSet(zones)
    xs = np.array([zones[0].geometry.centroid.x, zones[1].geometry.x, -60.0])
    ys = np.array([zones[0].geometry.centroid.y, zones[1].geometry.y, 0.0])
    offsets, hits = zs.zones_containing(xs, ys)
    assert 0 in hits[offsets[0]:offsets[1]] and 1 in hits[offsets[1]:offsets[2]]
    assert offsets[3] == offsets[2]


def test_assignments_apply_schedules_per_fix_time_across_dst():
    from geofence import INACTIVE, Assignment, AssignmentSet, Schedule
    from geofence.schedules import local_ts

    home = Zone("home", "home", "inclusion", "polygon", box(-74.01, 40.70, -74.00, 40.71))
    curfew = Schedule.from_dict({"timezone": "America/New_York", "windows": [
        {"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}]})
    rules = AssignmentSet([home], [Assignment("p1", "home", curfew),
                                   Assignment("p2", "home")])
    tz = "America/New_York"
    # The spring-forward night: 21:59 Sat (off), 23:00 (on), 05:59 Sun EDT (on), 06:00 (off).
    times = [local_ts(t, tz) for t in ("2026-03-07T21:59", "2026-03-07T23:00",
                                       "2026-03-08T05:59", "2026-03-08T06:00")]
    away = (-73.90, 40.80)
    d = rules.evaluate(["p1"] * 4 + ["p2"], times + [times[0]], [away[0]] * 5, [away[1]] * 5,
                       [10.0] * 5)
    assert d.decision.tolist() == [INACTIVE, OUTSIDE, OUTSIDE, INACTIVE, OUTSIDE]
    assert d.assignment.tolist() == [0, 0, 0, 0, 1]
    with pytest.raises(ZoneError, match="unknown zones: nowhere"):
        AssignmentSet([home], [Assignment("p1", "nowhere")])
