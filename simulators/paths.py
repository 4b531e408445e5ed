"""True trajectories: piecewise-linear paths in lon/lat, and exactly when they cross a boundary.

A :class:`Path` is a list of knots ``(t, lon, lat)``; between knots the position moves linearly
in lon/lat with time (a person drives a straight road segment at constant speed, or stays put
when two knots share a position). Each segment carries a *mode* — indoors, outdoors or driving —
which the GPS model uses to pick its error regime.

Because the motion is linear between knots, the instants at which a path enters or leaves an
area can be computed exactly rather than found by sampling:

- a polygon (a county, a school campus): each moving segment is intersected with the polygon in
  planar lon/lat (Shapely, as Cordon does), and the pieces are mapped back to time;
- a circle, or the distance between two moving paths (a victim zone, bracelet–phone separation):
  on the union of both paths' knots the separation vector is linear in time, so the squared
  distance is a quadratic in time and its crossings of ``radius²`` are its roots. Metres come from
  the WGS 84 scale at the latitude of each piece (see :mod:`simulators.geo`).

>>> p = Path.build([(0, -97.70, 30.30), (600, -97.70, 30.30), (1200, -97.60, 30.30)], [0, 2])
>>> [round(a) for a in within_radius(p, (-97.65, 30.30), 1000.0, 0, 1200)[0]]
[838, 962]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from simulators.geo import metres_per_degree
from simulators.intervals import Interval, complement, normalize

FloatArray = npt.NDArray[np.float64]

# Segment modes: how the GPS sees the wearer.
INDOOR = 0  # staying inside a building: weak GPS, drift, Wi-Fi/cell fallback
OUTDOOR = 1  # staying outside (lurking in a parked car, standing in a schoolyard)
DRIVE = 2  # moving along a road

Knot = tuple[float, float, float]


@dataclass(frozen=True, slots=True, eq=False)
class Path:
    """Knots ``t`` (strictly increasing Unix seconds), ``lon``, ``lat``; ``mode[i]`` is the mode of
    the segment from knot ``i`` to ``i + 1``. Before the first knot and after the last the position
    is held."""

    t: FloatArray
    lon: FloatArray
    lat: FloatArray
    mode: npt.NDArray[np.int8]

    @classmethod
    def build(cls, knots: Sequence[Knot], modes: Sequence[int]) -> Path:
        arr = np.asarray(knots, dtype=np.float64).reshape(-1, 3)
        if len(arr) < 2 or np.any(np.diff(arr[:, 0]) <= 0):
            raise ValueError("a path needs two or more knots at strictly increasing times")
        if len(modes) != len(arr) - 1:
            raise ValueError("a path needs one mode per segment")
        return cls(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(),
                   np.asarray(modes, dtype=np.int8))

    def at(self, ts: float | FloatArray) -> tuple[FloatArray, FloatArray]:
        """True (lon, lat) at ``ts``."""
        return np.interp(ts, self.t, self.lon), np.interp(ts, self.t, self.lat)

    def segment_at(self, ts: FloatArray) -> npt.NDArray[np.intp]:
        return np.clip(np.searchsorted(self.t, ts, side="right") - 1, 0, len(self.mode) - 1)

    def mode_at(self, ts: FloatArray) -> npt.NDArray[np.int8]:
        return self.mode[self.segment_at(ts)]

    def speed_at(self, ts: FloatArray) -> FloatArray:
        """Ground speed in m/s (0 outside the path's time span)."""
        i = self.segment_at(ts)
        dt = self.t[i + 1] - self.t[i]
        m_lon, m_lat = metres_per_degree(self.lat[i])
        d = np.hypot((self.lon[i + 1] - self.lon[i]) * m_lon,
                     (self.lat[i + 1] - self.lat[i]) * m_lat)
        inside = (ts >= self.t[0]) & (ts <= self.t[-1])
        return np.where(inside, d / dt, 0.0)

    def parked(self, t0: float, t1: float) -> Path:
        """This path, except that over ``[t0, t1]`` the position stays where it was at ``t0``: a
        phone left behind. The wearer is back at that spot at ``t1`` (the phone is picked up
        again), so the result is continuous."""
        lon0, lat0 = self.at(t0)
        before, after = self.t < t0, self.t > t1
        t = np.concatenate([self.t[before], [t0, t1], self.t[after]])
        lon = np.concatenate([self.lon[before], [lon0, lon0], self.lon[after]])
        lat = np.concatenate([self.lat[before], [lat0, lat0], self.lat[after]])
        # Pieces outside [t0, t1] are parts of original segments and keep their modes.
        modes = self.mode_at((t[:-1] + t[1:]) / 2.0)
        modes[int(before.sum())] = INDOOR
        return Path(t, lon, lat, modes.astype(np.int8))


class PathBuilder:
    """Builds a path as a sequence of stays and drives."""

    def __init__(self, t: float, lon: float, lat: float):
        self._knots: list[Knot] = [(t, lon, lat)]
        self._modes: list[int] = []

    @property
    def t(self) -> float:
        return self._knots[-1][0]

    @property
    def position(self) -> tuple[float, float]:
        return self._knots[-1][1], self._knots[-1][2]

    def stay_until(self, t: float, mode: int = INDOOR) -> None:
        if t > self.t:
            self._knots.append((t, *self.position))
            self._modes.append(mode)

    def move_to(self, lon: float, lat: float, arrive: float, mode: int = DRIVE) -> None:
        if arrive <= self.t:
            raise ValueError("a move must take time")
        self._knots.append((arrive, lon, lat))
        self._modes.append(mode)

    def build(self) -> Path:
        return Path.build(self._knots, self._modes)


def _merged_times(paths: Sequence[Path], lo: float, hi: float) -> FloatArray:
    ts = np.concatenate([p.t for p in paths] + [np.array([lo, hi])])
    ts = np.unique(ts)
    return ts[(ts >= lo) & (ts <= hi)]


def within_radius(path: Path, other: Path | tuple[float, float], radius_m: float,
                  lo: float, hi: float) -> list[Interval]:
    """When, within ``[lo, hi]``, ``path`` is within ``radius_m`` of ``other`` (a fixed point or
    another moving path). Exact for piecewise-linear motion."""
    if isinstance(other, Path):
        ts = _merged_times([path, other], lo, hi)
        olon, olat = other.at(ts)
    else:
        ts = _merged_times([path], lo, hi)
        olon, olat = np.full(len(ts), other[0]), np.full(len(ts), other[1])
    if len(ts) < 2:
        return []
    plon, plat = path.at(ts)
    m_lon, m_lat = metres_per_degree(olat[:-1])
    # The separation vector in metres at both ends of each piece, with the scale of its start.
    x0, y0 = (plon[:-1] - olon[:-1]) * m_lon, (plat[:-1] - olat[:-1]) * m_lat
    x1, y1 = (plon[1:] - olon[1:]) * m_lon, (plat[1:] - olat[1:]) * m_lat
    dx, dy = x1 - x0, y1 - y0
    a = dx * dx + dy * dy
    b = 2.0 * (x0 * dx + y0 * dy)
    c = x0 * x0 + y0 * y0 - radius_m * radius_m
    s0 = np.zeros_like(a)
    s1 = np.zeros_like(a)
    still = a < 1e-12
    s1[still] = np.where(c[still] <= 0.0, 1.0, 0.0)
    moving = ~still
    disc = b[moving] ** 2 - 4.0 * a[moving] * c[moving]
    root = np.sqrt(np.maximum(disc, 0.0))
    lo_root = (-b[moving] - root) / (2.0 * a[moving])
    hi_root = (-b[moving] + root) / (2.0 * a[moving])
    s0[moving] = np.where(disc > 0, np.clip(lo_root, 0.0, 1.0), 0.0)
    s1[moving] = np.where(disc > 0, np.clip(hi_root, 0.0, 1.0), 0.0)
    dt = ts[1:] - ts[:-1]
    starts, ends = ts[:-1] + s0 * dt, ts[:-1] + s1 * dt
    keep = ends > starts
    return normalize(zip(starts[keep].tolist(), ends[keep].tolist(), strict=True))


def beyond_radius(path: Path, other: Path | tuple[float, float], radius_m: float,
                  lo: float, hi: float) -> list[Interval]:
    return complement(within_radius(path, other, radius_m, lo, hi), lo, hi)


def inside_polygon(path: Path, polygon: Polygon | MultiPolygon, lo: float, hi: float
                   ) -> list[Interval]:
    """When, within ``[lo, hi]``, ``path`` is inside ``polygon`` (planar lon/lat). Exact."""
    ts = _merged_times([path], lo, hi)
    if len(ts) < 2:
        return []
    lon, lat = path.at(ts)
    inside = shapely.contains_xy(polygon, lon, lat)
    moving = (lon[:-1] != lon[1:]) | (lat[:-1] != lat[1:])
    crossing = np.zeros(len(ts) - 1, dtype=bool)
    idx = np.flatnonzero(moving)
    lines = None
    if len(idx):
        coords = np.empty((2 * len(idx), 2))
        coords[0::2, 0], coords[0::2, 1] = lon[idx], lat[idx]
        coords[1::2, 0], coords[1::2, 1] = lon[idx + 1], lat[idx + 1]
        lines = shapely.linestrings(coords, indices=np.repeat(np.arange(len(idx)), 2))
        boundary = polygon.boundary
        shapely.prepare(boundary)
        crossing[idx] = shapely.intersects(boundary, lines)
    out: list[Interval] = []
    for i in np.flatnonzero(~crossing & inside[:-1]):
        out.append((float(ts[i]), float(ts[i + 1])))
    if lines is not None:
        where = {int(seg): k for k, seg in enumerate(idx)}
        for i in np.flatnonzero(crossing):
            line = lines[where[int(i)]]
            t0, t1 = float(ts[i]), float(ts[i + 1])
            for piece in _line_parts(line.intersection(polygon)):
                a = line.project(Point(piece.coords[0]), normalized=True)
                b = line.project(Point(piece.coords[-1]), normalized=True)
                a, b = min(a, b), max(a, b)
                out.append((t0 + a * (t1 - t0), t0 + b * (t1 - t0)))
    return normalize(out)


def _line_parts(geom: shapely.Geometry) -> list[shapely.LineString]:
    if geom.is_empty:
        return []
    if isinstance(geom, shapely.LineString):
        return [geom] if geom.length > 0 else []
    parts: list[shapely.LineString] = []
    for g in getattr(geom, "geoms", []):
        parts.extend(_line_parts(g))
    return parts
