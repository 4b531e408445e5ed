"""Property tests: the kernel agrees with Shapely (GEOS) on random and real polygons, for every
point farther than 1e-9 degrees from a boundary — including points placed right beside edges and
vertices, in slivers, huge and tiny polygons, holes and multiple parts."""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from geofence import INSIDE, OUTSIDE, Zone, ZoneSet

TOLERANCE = 1e-9


def star(cx: float, cy: float, radii: list[float], phase: float) -> list[tuple[float, float]]:
    n = len(radii)
    return [(cx + r * math.cos(phase + 2 * math.pi * i / n),
             cy + r * math.sin(phase + 2 * math.pi * i / n)) for i, r in enumerate(radii)]


@st.composite
def polygons(draw) -> Polygon | MultiPolygon:
    scale = draw(st.sampled_from([1e-6, 1e-4, 0.01, 1.0, 20.0]))  # tiny … huge (degrees)
    cx = draw(st.floats(-170, 170))
    cy = draw(st.floats(-60, 60))
    parts = []
    for p in range(draw(st.integers(1, 3))):
        n = draw(st.integers(3, 40))
        radii = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
        ox = cx + 3 * p * scale  # parts side by side, never overlapping
        shell = star(ox, cy, [r * scale for r in radii], draw(st.floats(0, math.pi)))
        if draw(st.booleans()):  # a sliver: squash it
            shell = [(x, cy + (y - cy) * 1e-3) for x, y in shell]
        holes = []
        if draw(st.booleans()):
            m = draw(st.integers(3, 12))
            hr = 0.25 * min(radii) * scale
            holes.append(star(ox, cy, [hr] * m, draw(st.floats(0, math.pi))))
        poly = Polygon(shell, holes)
        if poly.is_valid and poly.area > 0:
            parts.append(poly)
    if not parts:
        return Polygon(star(cx, cy, [scale] * 4, 0.0))
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def probe_points(geom, rng: np.random.Generator, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = geom.bounds
    w, h = maxx - minx, maxy - miny
    xs = [rng.uniform(minx - 0.1 * w, maxx + 0.1 * w, n)]
    ys = [rng.uniform(miny - 0.1 * h, maxy + 0.1 * h, n)]
    coords = shapely.get_coordinates(geom.boundary)
    # Right beside vertices and edge midpoints, at distances from 1e-8 to 1e-3 of the size.
    mids = (coords[:-1] + coords[1:]) / 2
    anchors = np.concatenate([coords, mids])
    k = len(anchors)
    offs = (10.0 ** rng.uniform(-8, -3, (k, 1))) * max(w, h) * rng.normal(size=(k, 2))
    xs.append(anchors[:, 0] + offs[:, 0])
    ys.append(anchors[:, 1] + offs[:, 1])
    return np.concatenate(xs), np.concatenate(ys)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geom=polygons(), seed=st.integers(0, 2**31))
def test_contains_agrees_with_shapely_off_the_boundary(geom, seed):
    rng = np.random.default_rng(seed)
    xs, ys = probe_points(geom, rng)
    zs = ZoneSet([Zone("z", "z", "exclusion", "polygon", geom)])
    ours = zs.contains(0, xs, ys)
    theirs = shapely.contains_xy(geom, xs, ys)
    far = shapely.distance(geom.boundary, shapely.points(xs, ys)) > TOLERANCE
    bad = np.flatnonzero((ours != theirs) & far)
    assert bad.size == 0, [(xs[i], ys[i], ours[i], theirs[i]) for i in bad[:5]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geoms=st.lists(polygons(), min_size=2, max_size=6), seed=st.integers(0, 2**31))
def test_many_zones_at_once_agree_with_shapely(geoms, seed):
    rng = np.random.default_rng(seed)
    zs = ZoneSet([Zone(f"z{i}", "z", "exclusion", "polygon", g) for i, g in enumerate(geoms)])
    pts = [probe_points(g, rng, 100) for g in geoms]
    xs = np.concatenate([p[0] for p in pts])
    ys = np.concatenate([p[1] for p in pts])
    offsets, zones = zs.zones_containing(xs, ys)
    fix = np.repeat(np.arange(len(xs)), np.diff(offsets))
    points = shapely.points(xs, ys)
    for z, g in enumerate(geoms):
        ours = np.zeros(len(xs), dtype=bool)
        ours[fix[zones == z]] = True
        theirs = shapely.contains_xy(g, xs, ys)
        far = shapely.distance(g.boundary, points) > TOLERANCE
        assert np.array_equal(ours[far], theirs[far])


@settings(max_examples=60, deadline=None)
@given(geom=polygons(), seed=st.integers(0, 2**31), acc=st.floats(0.0, 500.0))
def test_certain_decisions_are_right(geom, seed, acc):
    """INSIDE and OUTSIDE are only ever said when they are true; UNCERTAIN only near edges."""
    rng = np.random.default_rng(seed)
    xs, ys = probe_points(geom, rng, 200)
    zs = ZoneSet([Zone("z", "z", "exclusion", "polygon", geom)])
    n = len(xs)
    decision = zs.classify(xs, ys, np.full(n, acc), np.arange(n), np.zeros(n, dtype=int))
    theirs = shapely.contains_xy(geom, xs, ys)
    far = shapely.distance(geom.boundary, shapely.points(xs, ys)) > TOLERANCE
    assert not np.any(far & (decision == INSIDE) & ~theirs)
    assert not np.any(far & (decision == OUTSIDE) & theirs)
    # Signed distances agree with the decisions.
    dist = zs.distance_m(xs, ys, np.arange(n), np.zeros(n, dtype=int))
    assert np.all((np.abs(dist) <= acc) == (decision == 2))


def test_real_counties_against_shapely():
    from bokeh_sampledata.us_counties import records

    recs = records()
    zs = ZoneSet([Zone(r["fips"], r["name"], "inclusion", "polygon", r["geometry"])
                  for r in recs])
    rng = np.random.default_rng(3)
    geoms = np.array([r["geometry"] for r in recs])
    b = shapely.bounds(geoms)
    idx = rng.integers(0, len(geoms), 200_000)
    xs = rng.uniform(b[idx, 0], b[idx, 2])
    ys = rng.uniform(b[idx, 1], b[idx, 3])
    offsets, zones = zs.zones_containing(xs, ys)
    fix = np.repeat(np.arange(len(xs)), np.diff(offsets))
    tree = shapely.STRtree(geoms)
    sfix, szone = tree.query(shapely.points(xs, ys), predicate="within")
    ours = set(zip(fix.tolist(), zones.tolist(), strict=True))
    theirs = set(zip(sfix.tolist(), szone.tolist(), strict=True))
    differ = ours ^ theirs
    near = [f for f, z in differ
            if shapely.distance(geoms[z].boundary, shapely.Point(xs[f], ys[f])) <= TOLERANCE]
    assert len(differ) == len(near)
    assert len(ours) > 190_000


def test_grid_settles_far_fixes_exactly_as_the_exhaustive_test():
    """The grids may only settle a fix whose accuracy disc is wholly inside or outside: on real
    counties, with accuracies from 1 m to 5 km, the answer is the exhaustive kernel's."""
    from bokeh_sampledata.us_counties import records

    from geofence import grid, kernel

    recs = records(state="TX")[:60]
    zs = ZoneSet([Zone(r["fips"], r["name"], "inclusion", "polygon", r["geometry"])
                  for r in recs])
    rng = np.random.default_rng(11)
    n = 40_000
    zone = rng.integers(0, len(recs), n)
    b = zs.bbox[zone]
    # Around each zone's box, half of the points within a few hundred metres of a vertex.
    lon = rng.uniform(b[:, 0] - 0.02, b[:, 2] + 0.02)
    lat = rng.uniform(b[:, 1] - 0.02, b[:, 3] + 0.02)
    vertex = rng.integers(0, len(zs.vx), n)
    near = rng.random(n) < 0.5
    lon[near] = zs.vx[vertex[near]] + rng.normal(0, 0.003, near.sum())
    lat[near] = zs.vy[vertex[near]] + rng.normal(0, 0.003, near.sum())
    acc = np.exp(rng.uniform(0, np.log(5000), n))
    fix = np.arange(n)
    got = zs.classify(lon, lat, acc, fix, zone)
    exhaustive = kernel.classify_pairs(fix, zone.astype(np.int64), lon, lat, acc,
                                       *zs._zone_arrays())
    assert np.array_equal(got, exhaustive)
    settled = grid.certain_pairs(fix, zone.astype(np.int64), lon, lat, acc, zs.part_lo,
                                 zs.part_hi, zs.part_bbox, zs.grid_gx, zs.grid_gy, zs.grid_off,
                                 zs.cell_state)
    assert (settled != grid.CELL_EDGES).mean() > 0.5  # the grids do most of the work
