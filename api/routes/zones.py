"""Zones as GeoJSON: read them, and import a FeatureCollection in bulk with a report of what
each feature became.

A feature is a circle (Point + ``radius_m``), a corridor (LineString + ``width_m``) or a
(Multi)Polygon, with ``properties.kind`` exclusion or inclusion, an optional ``schedule`` and
``jurisdiction_id`` (see :mod:`geofence.zones`). An import needs the supervisor role on each
feature's jurisdiction. Each feature is judged on its own: the good ones are stored, and the
report names every bad one with its index, id and reason — unless ``all_or_nothing`` is set,
when one bad feature stores none.

Single zones are created, replaced and deleted with ``POST /zones``, ``PUT /zones/{id}`` and
``DELETE /zones/{id}`` under the same rules (the supervisor role on the zone's jurisdiction,
anything outside reach ``404``, bad geometry or schedule ``422`` naming the field). A zone that
people or zone groups hold is not deleted (``409`` naming them) unless ``?detach=true`` asks to
take it from them first, recorded in the audit entry; a zone held by the record of a released
person is never deleted. A shared zone (no jurisdiction) changes only through the registry.
``GET /zones?download=true`` is the same FeatureCollection as a file (``zones.geojson``), which
the import takes back as it is.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import Caller, forbidden, invalid, not_found
from api.schemas import ImportReport, ZoneFeature, Zones
from geofence.zones import Zone, ZoneError
from store import audit
from store.caseload import zone, zones
from store.registry import upsert_zone
from store.zone_edits import ZoneTaken, detach_and_delete, holders, insert_zone

router = APIRouter(tags=["zones"])


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(max_length=50_000)


# exclude_unset: a zone's optional properties (radius_m, width_m, schedule) stay absent
# when it has none, as stored.
@router.get("/zones", response_model=Zones, response_model_exclude_unset=True)
async def list_zones(
    request: Request,
    caller: Caller,
    response: Response,
    jurisdiction_id: str | None = Query(None, max_length=200,
                                        description="only this jurisdiction's zones"),
    download: bool = Query(False, description="as a file, zones.geojson (the import takes it "
                                              "back as it is)"),
) -> dict[str, Any]:
    """Zones of the jurisdictions the caller reaches, and zones that belong to none."""
    async with request.app.state.cordon.pool.connection() as conn:
        if jurisdiction_id is None:
            features = await zones(conn, caller.jurisdictions)
        else:
            scope = caller.scope(jurisdiction_id)
            if not scope:
                raise not_found(f"jurisdiction {jurisdiction_id}")
            features = [f for f in await zones(conn, scope)
                        if f["properties"]["jurisdiction_id"] == jurisdiction_id]
        if download:
            response.headers["Content-Disposition"] = 'attachment; filename="zones.geojson"'
            await audit.record(conn, caller.username, "zones.exported", str(len(features)),
                               {"jurisdiction_id": jurisdiction_id} if jurisdiction_id else {})
    return {"type": "FeatureCollection", "features": features}


@router.get("/zones/{zone_id}", response_model=ZoneFeature, response_model_exclude_unset=True)
async def one_zone(request: Request, caller: Caller, zone_id: str) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        found = await zone(conn, zone_id)
    j = found["properties"]["jurisdiction_id"] if found else None
    if found is None or (j is not None and not caller.sees(j)):
        raise not_found(f"zone {zone_id}")
    return found


@router.post("/zones/import", response_model=ImportReport)
async def import_zones(
    request: Request,
    caller: Caller,
    body: FeatureCollection,
    jurisdiction_id: str | None = Query(
        None, max_length=200, description="for features that name no jurisdiction"),
    all_or_nothing: bool = False,
) -> dict[str, Any]:
    """Store each valid feature (new or replacing the zone of the same id); report the rest."""
    if jurisdiction_id is not None and not caller.sees(jurisdiction_id):
        raise not_found(f"jurisdiction {jurisdiction_id}")
    good: list[Zone] = []
    errors: list[dict[str, Any]] = []
    async with request.app.state.cordon.pool.connection() as conn:
        for i, feature in enumerate(body.features):
            fid = feature.get("id") if isinstance(feature, dict) else None
            try:
                props = feature.get("properties")
                if props is not None and not isinstance(props, dict):
                    raise ZoneError("properties must be an object")
                if jurisdiction_id is not None and not (props or {}).get("jurisdiction_id"):
                    feature = {**feature, "properties": {**(props or {}),
                                                         "jurisdiction_id": jurisdiction_id}}
                z = Zone.from_feature(feature)
                if z.jurisdiction_id is None:
                    raise ZoneError(f"zone {z.id}: no jurisdiction_id (set it on the feature or "
                                    "as the jurisdiction_id parameter)")
                if not caller.may(z.jurisdiction_id, "supervisor"):
                    raise ZoneError(f"zone {z.id}: needs the supervisor role on jurisdiction "
                                    f"{z.jurisdiction_id!r}")
                existing = await zone(conn, z.id)
                owner = existing["properties"]["jurisdiction_id"] if existing else None
                if existing is not None and not caller.may(owner, "supervisor"):
                    raise ZoneError(f"zone {z.id}: the id is taken")
                good.append(z)
            except (ZoneError, AttributeError, TypeError) as exc:
                # A GeoJSON id is a string or a number; true/false is neither (bool is an int
                # to Python) and is reported as no id.
                named = isinstance(fid, str | int) and not isinstance(fid, bool)
                errors.append({"index": i, "id": fid if named else None, "error": str(exc)})
        stored = 0
        if not (all_or_nothing and errors):
            async with conn.transaction():
                for z in good:
                    await upsert_zone(conn, z)
                await audit.record(conn, caller.username, "zones.imported", str(len(good)),
                                   {"zone_ids": [z.id for z in good][:1000],
                                    "errors": len(errors)})
            stored = len(good)
    return {"stored": stored, "rejected": len(errors), "errors": errors,
            "zone_ids": [z.id for z in good] if stored else []}


# --- one zone at a time -----------------------------------------------------------------------

ZONE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"


class ZoneInProperties(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["exclusion", "inclusion"]
    jurisdiction_id: str = Field(min_length=1, max_length=200)
    radius_m: float | None = Field(None, gt=0, le=500_000, description="a circle's radius")
    width_m: float | None = Field(None, gt=0, le=100_000,
                                  description="a corridor's full width (a LineString)")
    schedule: dict[str, Any] | None = Field(
        None, description="weekly windows (and dated exceptions) in an IANA time zone; an "
                          "inclusion zone on a schedule is a curfew. See geofence/schedules.py")


class ZoneIn(BaseModel):
    """One zone as a GeoJSON Feature: a (Multi)Polygon, a circle (a Point with ``radius_m``) or
    a corridor (a LineString with ``width_m``)."""

    type: Literal["Feature"] = "Feature"
    id: str | None = Field(None, pattern=ZONE_ID,
                           description="new zones: made up (z-…) when not given")
    properties: ZoneInProperties
    geometry: dict[str, Any]


def _zone_of(body: ZoneIn, zone_id: str) -> Zone:
    """The zone the body describes, or a 422 naming the field at fault."""
    feature = {"type": "Feature", "id": zone_id, "geometry": body.geometry,
               "properties": body.properties.model_dump(exclude_none=True)}
    try:
        return Zone.from_feature(feature)
    except ZoneError as exc:
        msg = str(exc)
        field = ("properties", "schedule") if ": schedule:" in msg else (
            ("properties", "radius_m") if "positive properties.radius_m" in msg else (
                ("properties", "width_m") if "positive properties.width_m" in msg
                else ("geometry",)))
        raise invalid(("body", *field), msg) from None


def _may_write(caller: Caller, jurisdiction_id: str | None, zone_id: str) -> None:
    if jurisdiction_id is None:
        raise HTTPException(403, f"zone {zone_id} is shared by every jurisdiction; it changes "
                                 "only through the registry import")
    if not caller.sees(jurisdiction_id):
        raise not_found(f"jurisdiction {jurisdiction_id}")
    if not caller.may(jurisdiction_id, "supervisor"):
        raise forbidden("supervisor")


async def _visible(conn: Any, caller: Caller, zone_id: str) -> dict[str, Any]:
    found = await zone(conn, zone_id)
    j = found["properties"]["jurisdiction_id"] if found else None
    if found is None or (j is not None and not caller.sees(j)):
        raise not_found(f"zone {zone_id}")
    return found


@router.post("/zones", status_code=201, response_model=ZoneFeature,
             response_model_exclude_unset=True,
             responses={409: {"description": "a zone with this id exists"}})
async def create_zone(request: Request, caller: Caller, body: ZoneIn) -> dict[str, Any]:
    """A new zone (supervisor role on its jurisdiction). Assign it to people with
    ``PATCH /supervisees/{id}`` ``{"zone_ids": [...]}``."""
    _may_write(caller, body.properties.jurisdiction_id, body.id or "")
    z = _zone_of(body, body.id or f"z-{uuid.uuid4().hex[:10]}")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        try:
            await insert_zone(conn, z)
        except ZoneTaken:
            raise HTTPException(409, f"zone {z.id} exists: choose another id, or change it "
                                     f"with PUT /api/v1/zones/{z.id}") from None
        await audit.record(conn, caller.username, "zone.created", z.id,
                           {"jurisdiction_id": z.jurisdiction_id, "kind": z.kind,
                            "shape": z.shape, "curfew": z.is_curfew})
        return await zone(conn, z.id)


@router.put("/zones/{zone_id}", response_model=ZoneFeature, response_model_exclude_unset=True)
async def replace_zone(request: Request, caller: Caller, zone_id: str,
                       body: ZoneIn) -> dict[str, Any]:
    """Replace a zone's shape, kind, name and schedule — and its jurisdiction, with the
    supervisor role on both. The engine applies it within ``registry_refresh_s``."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        found = await _visible(conn, caller, zone_id)
        if body.id is not None and body.id != zone_id:
            raise invalid(("body", "id"),
                          f"the body's id {body.id!r} is not the zone's, {zone_id!r}")
        before = found["properties"]["jurisdiction_id"]
        _may_write(caller, before, zone_id)
        _may_write(caller, body.properties.jurisdiction_id, zone_id)
        z = _zone_of(body, zone_id)
        await upsert_zone(conn, z)
        await audit.record(conn, caller.username, "zone.changed", zone_id,
                           {"jurisdiction_id": z.jurisdiction_id, "kind": z.kind,
                            "shape": z.shape, "curfew": z.is_curfew,
                            **({"from_jurisdiction_id": before}
                               if before != z.jurisdiction_id else {})})
        return await zone(conn, zone_id)


@router.delete("/zones/{zone_id}", status_code=204,
               responses={409: {"description": "people or zone groups hold the zone"}})
async def delete_zone(request: Request, caller: Caller, zone_id: str,
                      detach: bool = Query(False, description="take the zone from the people "
                                           "and zone groups holding it, then delete it")) -> None:
    """Delete a zone. Held by people or zone groups: ``409`` naming them, unless ``detach``.
    Held by the record of a released person: ``409`` always (their record stays as it was)."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        found = await _visible(conn, caller, zone_id)
        jid = found["properties"]["jurisdiction_id"]
        _may_write(caller, jid, zone_id)
        held = await holders(conn, zone_id)
        people = held["supervisees"]
        released = [p["id"] for p in people if p["released"]]
        if released:
            raise HTTPException(409, f"zone {zone_id} is part of the record of released "
                                     f"supervisee(s) {', '.join(released[:20])}; it stays")
        if (people or held["zone_groups"]) and not detach:
            named = [f"{p['id']} ({p['name']})" for p in people[:20]]
            more = f" and {len(people) - 20} more" if len(people) > 20 else ""
            groups = (f"; zone groups {', '.join(held['zone_groups'])}"
                      if held["zone_groups"] else "")
            raise HTTPException(409, f"zone {zone_id} is held by supervisees "
                                     f"{', '.join(named) or 'none'}{more}{groups}: take it from "
                                     "them first, or delete with ?detach=true")
        await detach_and_delete(conn, zone_id)
        await audit.record(conn, caller.username, "zone.deleted", zone_id,
                           {"jurisdiction_id": jid, "detached_from": [p["id"] for p in people],
                            "zone_groups": held["zone_groups"]})
