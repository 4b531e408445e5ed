"""Geofence kernel benchmark: which zones contain each fix, Cordon against Shapely 2.

Workload: the 3,233 US counties of ``bokeh-sampledata`` (510k vertices) plus 10,000 exclusion
zones inside them — half circles (100 m – 2 km), half polygons (6–40 vertices, some with a hole) —
and 1,000,000 fixes: 70% anywhere in a random county's bounding box, 30% near a random zone.

Baseline, the fastest Shapely way found: ``STRtree.query(points, predicate="within")`` over the
polygons (prepared geometries inside GEOS), and for the circles an STRtree of their bounding boxes
followed by an exact geodesic distance (``pyproj.Geod.inv``) on the candidates. Both sides answer
the same question on the same batch, in the same run. Answers are compared pair by pair; a
disagreement for a fix within 1e-9° of the zone's boundary is counted as ``near_boundary``, any
other as a mismatch.

    python -m benchmarks.kernel [--fixes N] [--zones Z] [--repeat R] [--seed S]

Progress goes to stderr; the last line on stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numba
import numpy as np
import shapely
from bokeh_sampledata.us_counties import records
from pyproj import Geod
from shapely.geometry import Point, Polygon

from geofence import Zone, ZoneSet

GEOD = Geod(ellps="WGS84")
M_PER_DEG = 111_320.0
BOUNDARY_TOLERANCE_DEG = 1e-9


def progress(msg: str) -> None:
    print(f"[kernel] {msg}", file=sys.stderr, flush=True)


def star_polygon(rng: np.random.Generator, lon: float, lat: float, radius_m: float) -> Polygon:
    n = int(rng.integers(6, 41))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = radius_m * rng.uniform(0.5, 1.0, n)
    kx = M_PER_DEG * math.cos(math.radians(lat))
    shell = np.column_stack([lon + radii * np.cos(angles) / kx,
                             lat + radii * np.sin(angles) / M_PER_DEG])
    poly = Polygon(shell)
    if not poly.is_valid:
        poly = shapely.convex_hull(poly)
    if rng.random() < 0.1:  # a hole: a smaller square around the centre
        h = 0.2 * radius_m
        hole = [(lon - h / kx, lat - h / M_PER_DEG), (lon + h / kx, lat - h / M_PER_DEG),
                (lon + h / kx, lat + h / M_PER_DEG), (lon - h / kx, lat + h / M_PER_DEG)]
        with_hole = Polygon(poly.exterior.coords, [hole])
        if with_hole.is_valid:
            poly = with_hole
    return poly


def build_workload(n_fixes: int, n_zones: int, seed: int):
    rng = np.random.default_rng(seed)
    counties = records()
    zones = [Zone(r["fips"], r["detailed_name"], "inclusion", "polygon", r["geometry"])
             for r in counties]
    geoms = np.array([r["geometry"] for r in counties])
    bounds = shapely.bounds(geoms)
    # Zone centres: random points inside random counties (rejection sampling on the bbox).
    centres: list[tuple[float, float]] = []
    while len(centres) < n_zones:
        idx = rng.integers(0, len(geoms), 4 * n_zones)
        xs = rng.uniform(bounds[idx, 0], bounds[idx, 2])
        ys = rng.uniform(bounds[idx, 1], bounds[idx, 3])
        inside = shapely.contains_xy(geoms[idx], xs, ys)
        centres.extend(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))
    centres = centres[:n_zones]
    sizes = np.empty(n_zones)
    for i, (lon, lat) in enumerate(centres):
        if i % 2 == 0:
            r = float(rng.uniform(100, 2000))
            zones.append(Zone(f"c{i}", f"circle {i}", "exclusion", "circle", Point(lon, lat), r))
        else:
            r = float(rng.uniform(150, 3000))
            zones.append(Zone(f"p{i}", f"polygon {i}", "exclusion", "polygon",
                              star_polygon(rng, lon, lat, r)))
        sizes[i] = r

    n_near = int(0.3 * n_fixes)
    idx = rng.integers(0, len(geoms), n_fixes - n_near)
    lon = rng.uniform(bounds[idx, 0], bounds[idx, 2])
    lat = rng.uniform(bounds[idx, 1], bounds[idx, 3])
    zi = rng.integers(0, n_zones, n_near)
    c = np.asarray(centres)[zi]
    d = 2 * sizes[zi] * np.sqrt(rng.uniform(0, 1, n_near))
    a = rng.uniform(0, 2 * math.pi, n_near)
    near_lat = c[:, 1] + d * np.sin(a) / M_PER_DEG
    near_lon = c[:, 0] + d * np.cos(a) / (M_PER_DEG * np.cos(np.radians(c[:, 1])))
    order = rng.permutation(n_fixes)
    return (zones, np.concatenate([lon, near_lon])[order],
            np.concatenate([lat, near_lat])[order])


class ShapelyBaseline:
    def __init__(self, zones: list[Zone]):
        self.poly_ids = np.array([i for i, z in enumerate(zones) if z.shape == "polygon"])
        self.circle_ids = np.array([i for i, z in enumerate(zones) if z.shape == "circle"])
        self.tree = shapely.STRtree([zones[i].geometry for i in self.poly_ids])
        self.centre = np.array([(zones[i].geometry.x, zones[i].geometry.y)
                                for i in self.circle_ids])
        self.radius = np.array([zones[i].radius_m for i in self.circle_ids])
        boxes = []
        for (x, y), r in zip(self.centre, self.radius, strict=True):
            dlat = 1.01 * r / 110_574.0
            dlon = 1.01 * r / (111_320.0 * math.cos(math.radians(abs(y) + dlat)))
            boxes.append(shapely.box(x - dlon, y - dlat, x + dlon, y + dlat))
        self.circle_tree = shapely.STRtree(boxes)

    def query(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = shapely.points(lon, lat)
        fix, poly = self.tree.query(points, predicate="within")
        cfix, cand = self.circle_tree.query(points)
        _, _, dist = GEOD.inv(lon[cfix], lat[cfix], self.centre[cand, 0], self.centre[cand, 1])
        hit = dist <= self.radius[cand]
        return (np.concatenate([fix, cfix[hit]]),
                np.concatenate([self.poly_ids[poly], self.circle_ids[cand[hit]]]))


def pair_keys(fix: np.ndarray, zone: np.ndarray, n_zones: int) -> np.ndarray:
    return np.unique(fix.astype(np.int64) * n_zones + zone.astype(np.int64))


def near_boundary(zones: list[Zone], lon: float, lat: float, z: int) -> bool:
    zone = zones[z]
    if zone.shape == "circle":
        _, _, d = GEOD.inv(lon, lat, zone.geometry.x, zone.geometry.y)
        return abs(d - zone.radius_m) < BOUNDARY_TOLERANCE_DEG * M_PER_DEG
    return shapely.distance(zone.geometry.boundary, Point(lon, lat)) < BOUNDARY_TOLERANCE_DEG


def timed(fn, repeat: int):
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="benchmarks.kernel", description=__doc__.split("\n")[0])
    ap.add_argument("--fixes", type=int, default=1_000_000)
    ap.add_argument("--zones", type=int, default=10_000, help="exclusion zones besides counties")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each side (best)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    progress(f"building the workload: {args.fixes:,} fixes, 3,233 counties + {args.zones:,} zones")
    zones, lon, lat = build_workload(args.fixes, args.zones, args.seed)

    t0 = time.perf_counter()
    ZoneSet(zones[:2]).zones_containing(lon[:10], lat[:10])  # compile, or load the cache
    warmup = time.perf_counter() - t0
    progress(f"JIT warm-up {warmup:.2f} s")
    build_s, zs = timed(lambda: ZoneSet(zones), 1)
    progress(f"compiled {len(zones):,} zones, {zs.vertex_count:,} vertices in {build_s:.2f} s")
    cordon_s, (offsets, hits) = timed(lambda: zs.zones_containing(lon, lat), args.repeat)
    progress(f"cordon:  {args.fixes / cordon_s:,.0f} fixes/s")

    baseline = ShapelyBaseline(zones)
    shapely_s, (sfix, szone) = timed(lambda: baseline.query(lon, lat), args.repeat)
    progress(f"shapely: {args.fixes / shapely_s:,.0f} fixes/s")

    cfix = np.repeat(np.arange(len(lon)), np.diff(offsets))
    ours = pair_keys(cfix, hits, len(zones))
    theirs = pair_keys(sfix, szone, len(zones))
    differ = np.setxor1d(ours, theirs)
    boundary = sum(near_boundary(zones, lon[k // len(zones)], lat[k // len(zones)],
                                 int(k % len(zones))) for k in differ)
    cores = numba.get_num_threads()
    result = {
        "fixes": args.fixes,
        "zones": len(zones),
        "vertices": zs.vertex_count,
        "cordon_fixes_per_s": round(args.fixes / cordon_s),
        "shapely_fixes_per_s": round(args.fixes / shapely_s),
        "speedup": round(shapely_s / cordon_s, 2),
        "mismatches": int(len(differ) - boundary),
        "near_boundary": int(boundary),
        "pairs": int(len(ours)),
        "jit_warmup_s": round(warmup, 3),
        "build_s": round(build_s, 3),
        "cores": cores,
        "cordon_fixes_per_s_per_core": round(args.fixes / cordon_s / cores),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
