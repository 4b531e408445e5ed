"""Zones: the areas rules are about, read from and written to GeoJSON.

A zone is a GeoJSON Feature in WGS 84 lon/lat:

- a ``Polygon`` or ``MultiPolygon`` (holes allowed);
- a circle: a ``Point`` with ``properties.radius_m`` (geodesic distance from the centre);
- a corridor: a ``LineString`` with ``properties.width_m`` (the full width: a fix is inside when
  it is within ``width_m / 2`` of the line).

``properties.kind`` is ``exclusion`` (the wearer must not be inside) or ``inclusion`` (the wearer
must be inside, such as the county they may not leave). ``properties.schedule`` (a
:class:`~geofence.schedules.Schedule` as JSON) makes the zone's rule apply only while the
schedule is active: an inclusion zone on a schedule is a *curfew* (be home at night).

Invalid polygons are repaired with :func:`shapely.make_valid`, keeping the polygonal part, and a
warning names the zone; so are rings left unclosed. What cannot be repaired is rejected with a
:class:`ZoneError` that names the zone and the problem. Containment is planar in lon/lat (as in
GEOS and PostGIS geometry), so a polygon may not cross the antimeridian: such a zone is rejected
with advice to split it. A MultiPolygon whose parts lie on either side of it (the Aleutians) is
fine.

>>> z = Zone.from_feature({"type": "Feature", "id": "school-1",
...     "properties": {"kind": "exclusion", "radius_m": 300},
...     "geometry": {"type": "Point", "coordinates": [-97.74, 30.27]}})
>>> z.shape, z.radius_m
('circle', 300.0)
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping, shape

from geofence.schedules import Schedule, ScheduleError

log = logging.getLogger(__name__)

ZoneKind = Literal["exclusion", "inclusion"]
ZONE_KINDS: tuple[str, ...] = ("exclusion", "inclusion")


class ZoneError(ValueError):
    """A zone that cannot be evaluated correctly; the message names the zone."""


Geometry = Polygon | MultiPolygon | Point | LineString


class Zone:
    """A zone, immutable. A circle holds its centre as two numbers and makes its
    :attr:`geometry` (a shapely ``Point``) when asked: a million home circles would otherwise
    hold a million GEOS points that nothing on the path of a fix reads (the kernel reads
    :class:`~geofence.zoneset.ZoneSet`'s arrays), and making them was most of a start."""

    __slots__ = ("id", "name", "kind", "shape", "_geometry", "_x", "_y", "radius_m",
                 "jurisdiction_id", "width_m", "schedule")
    id: str
    name: str
    kind: ZoneKind
    shape: Literal["polygon", "circle", "corridor"]
    radius_m: float
    jurisdiction_id: str | None
    width_m: float
    schedule: Schedule | None  # None: always in force

    def __init__(self, id: str, name: str, kind: ZoneKind,
                 shape: Literal["polygon", "circle", "corridor"],
                 geometry: Geometry | tuple[float, float], radius_m: float = 0.0,
                 jurisdiction_id: str | None = None, width_m: float = 0.0,
                 schedule: Schedule | None = None):
        """``geometry``: a circle's may be its centre, ``(lon, lat)``."""
        put = object.__setattr__
        if shape == "circle":  # its centre, not a GEOS point nor even a tuple
            x, y = geometry if isinstance(geometry, tuple) else (
                float(geometry.x), float(geometry.y))  # type: ignore[union-attr]
            put(self, "_x", x)
            put(self, "_y", y)
            geometry = None  # type: ignore[assignment]
        put(self, "id", id)
        put(self, "name", name)
        put(self, "kind", kind)
        put(self, "shape", shape)
        put(self, "_geometry", geometry)
        put(self, "radius_m", radius_m)
        put(self, "jurisdiction_id", jurisdiction_id)
        put(self, "width_m", width_m)
        put(self, "schedule", schedule)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Zone is immutable (use replace): {name}")

    def __reduce__(self) -> tuple:
        return (Zone, (self.id, self.name, self.kind, self.shape, self._stored(), self.radius_m,
                       self.jurisdiction_id, self.width_m, self.schedule))

    def _stored(self) -> Geometry | tuple[float, float]:
        return (self._x, self._y) if self._geometry is None else self._geometry

    def __copy__(self) -> Zone:
        return self  # immutable

    def __deepcopy__(self, memo: dict) -> Zone:
        return self

    @property
    def geometry(self) -> Geometry:
        g = self._geometry
        return Point(self._x, self._y) if g is None else g

    @property
    def center(self) -> tuple[float, float]:
        """A circle's centre (lon, lat); another zone's centroid."""
        g = self._geometry
        return (self._x, self._y) if g is None else (g.centroid.x, g.centroid.y)

    def replace(self, **changes: Any) -> Zone:
        """A copy with some attributes changed (as :func:`dataclasses.replace`)."""
        values = {attr: getattr(self, attr) for attr in _INIT}
        values["geometry"] = self._stored()
        values.update(changes)
        return Zone(**values)

    def _key(self) -> tuple:
        g = self._geometry
        return (self.id, self.name, self.kind, self.shape,
                (self._x, self._y) if g is None else g.wkb, self.radius_m, self.jurisdiction_id,
                self.width_m, self.schedule)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Zone):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Zone(id={self.id!r}, name={self.name!r}, kind={self.kind!r}, "
                f"shape={self.shape!r}, radius_m={self.radius_m!r}, width_m={self.width_m!r}, "
                f"schedule={self.schedule!r})")

    @property
    def is_curfew(self) -> bool:
        """An inclusion zone in force on a schedule: be inside (at home) at those times."""
        return self.kind == "inclusion" and self.schedule is not None

    @classmethod
    def from_feature(cls, feature: dict[str, Any], zone_id: str | None = None) -> Zone:
        """Build a zone from a GeoJSON Feature, repairing or rejecting bad geometry."""
        props = feature.get("properties") or {}
        zid = str(zone_id or feature.get("id") or props.get("id") or "")
        if not zid:
            raise ZoneError("zone has no id")
        name = str(props.get("name") or zid)
        kind = props.get("kind", "exclusion")
        if kind not in ZONE_KINDS:
            raise ZoneError(f"zone {zid}: kind {kind!r} is not one of {', '.join(ZONE_KINDS)}")
        circle = _circle_centre(zid, feature.get("geometry"))
        if circle is not None:  # the common case, read without GEOS
            geom: Any = circle
        else:
            try:
                geom = shape(_closed(zid, feature["geometry"]))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ZoneError(f"zone {zid}: geometry is not valid GeoJSON ({exc})") from None
        jurisdiction_id = props.get("jurisdiction_id")
        schedule = None
        if props.get("schedule") is not None:
            try:
                schedule = Schedule.from_dict(props["schedule"])
            except ScheduleError as exc:
                raise ZoneError(f"zone {zid}: schedule: {exc}") from None

        if isinstance(geom, tuple | Point):
            radius = props.get("radius_m")
            if not isinstance(radius, int | float) or not radius > 0:
                raise ZoneError(f"zone {zid}: a circle needs a positive properties.radius_m")
            if isinstance(geom, Point):
                _check_lonlat(zid, geom)
            return cls(zid, name, kind, "circle", geom, float(radius), jurisdiction_id,
                       schedule=schedule)

        if isinstance(geom, LineString):
            width = props.get("width_m")
            if not isinstance(width, int | float) or not width > 0:
                raise ZoneError(f"zone {zid}: a corridor needs a positive properties.width_m")
            if geom.length == 0:
                raise ZoneError(f"zone {zid}: a corridor's line has no length")
            _check_lonlat(zid, geom)
            return cls(zid, name, kind, "corridor", geom, 0.0, jurisdiction_id, float(width),
                       schedule)

        if not isinstance(geom, Polygon | MultiPolygon):
            raise ZoneError(
                f"zone {zid}: geometry type {geom.geom_type} is not Polygon, MultiPolygon, a "
                "Point with radius_m or a LineString with width_m"
            )
        geom = _repaired(zid, geom)
        _check_lonlat(zid, geom)
        return cls(zid, name, kind, "polygon", geom, 0.0, jurisdiction_id, schedule=schedule)

    def to_feature(self) -> dict[str, Any]:
        props: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.shape == "circle":
            props["radius_m"] = self.radius_m
        if self.shape == "corridor":
            props["width_m"] = self.width_m
        if self.jurisdiction_id:
            props["jurisdiction_id"] = self.jurisdiction_id
        if self.schedule is not None:
            props["schedule"] = self.schedule.to_dict()
        return {
            "type": "Feature",
            "id": self.id,
            "properties": props,
            "geometry": mapping(self.geometry),
        }


_INIT = ("id", "name", "kind", "shape", "radius_m", "jurisdiction_id", "width_m", "schedule")


_NUMBERS = (float, int)


def _circle_centre(zid: str, geometry: Any) -> tuple[float, float] | None:
    """A GeoJSON Point's lon and lat, checked (None: not a plain Point, for shapely to read)."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return None
    xy = geometry.get("coordinates")
    if type(xy) is not list or len(xy) != 2:
        return None  # (shapely reads the rest, or says what is wrong)
    lon, lat = xy
    if type(lon) not in _NUMBERS or type(lat) not in _NUMBERS:
        return None
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ZoneError(f"zone {zid}: coordinates outside lon [-180, 180] / lat [-90, 90]")
    return lon, lat


def _repaired(zid: str, geom: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    if geom.is_empty:
        raise ZoneError(f"zone {zid}: polygon is empty")
    if geom.is_valid:
        return geom
    problem = shapely.is_valid_reason(geom)
    fixed = shapely.make_valid(geom)
    parts: list[Polygon] = []
    for g in getattr(fixed, "geoms", [fixed]):
        if not isinstance(g, Polygon | MultiPolygon):
            continue  # the lines and points a repair can leave behind have no area
        parts.extend(g.geoms if isinstance(g, MultiPolygon) else [g])
    parts = [p for p in parts if not p.is_empty and p.area > 0]
    if not parts:
        raise ZoneError(f"zone {zid}: invalid polygon ({problem}) has no area once repaired")
    repaired = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    log.warning("zone %s: repaired invalid polygon (%s)", zid, problem)
    return repaired


def _check_lonlat(zid: str, geom: Any) -> None:
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ZoneError(f"zone {zid}: coordinates outside lon [-180, 180] / lat [-90, 90]")
    for part in getattr(geom, "geoms", [geom]):
        pminx, _, pmaxx, _ = part.bounds
        if pmaxx - pminx > 180:
            raise ZoneError(
                f"zone {zid}: a part spans {pmaxx - pminx:.0f}° of longitude, so it crosses the "
                "antimeridian, which planar lon/lat cannot represent — split it into an east and "
                "a west part (a MultiPolygon)"
            )


def _closed(zid: str, geometry: Any) -> Any:
    """The geometry with rings a GeoJSON writer left open closed (RFC 7946 requires closed ones),
    with a warning. The caller's mapping is not modified."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return geometry
    multi = geometry["type"] == "MultiPolygon"
    polygons = geometry.get("coordinates") if multi else [geometry.get("coordinates")]
    if not isinstance(polygons, list):
        return geometry
    fixed = []
    for polygon in polygons:
        rings = []
        for i, ring in enumerate(polygon if isinstance(polygon, list) else []):
            if isinstance(ring, list) and len(ring) >= 3 and list(ring[0]) != list(ring[-1]):
                log.warning("zone %s: ring %d was not closed; closed it", zid, i)
                ring = [*ring, ring[0]]
            rings.append(ring)
        fixed.append(rings)
    return {"type": geometry["type"], "coordinates": fixed if multi else fixed[0]}
