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


@pytest.mark.parametrize(
    ("geometry", "props", "message"),
    [
        ({"type": "Polygon", "coordinates": [[[170, 0], [-170, 0], [-170, 1], [170, 1],
                                              [170, 0]]]}, {}, "antimeridian"),
        ({"type": "Point", "coordinates": [0, 0]}, {}, "positive properties.radius_m"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, {}, "LineString"),
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
