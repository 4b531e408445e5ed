"""Zones as GeoJSON: read them, and import a FeatureCollection in bulk with a report of what
each feature became.

A feature is a circle (Point + ``radius_m``), a corridor (LineString + ``width_m``) or a
(Multi)Polygon, with ``properties.kind`` exclusion or inclusion, an optional ``schedule`` and
``jurisdiction_id`` (see :mod:`geofence.zones`). An import needs the supervisor role on each
feature's jurisdiction. Each feature is judged on its own: the good ones are stored, and the
report names every bad one with its index, id and reason — unless ``all_or_nothing`` is set,
when one bad feature stores none.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.auth import Caller, not_found
from api.schemas import ImportReport, ZoneFeature, Zones
from geofence.zones import Zone, ZoneError
from store import audit
from store.caseload import zone, zones
from store.registry import upsert_zone

router = APIRouter(tags=["zones"])


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(max_length=50_000)


# exclude_unset: a zone's optional properties (radius_m, width_m, schedule) stay absent
# when it has none, as stored.
@router.get("/zones", response_model=Zones, response_model_exclude_unset=True)
async def list_zones(request: Request, caller: Caller) -> dict[str, Any]:
    """Zones of the jurisdictions the caller reaches, and zones that belong to none."""
    async with request.app.state.cordon.pool.connection() as conn:
        return {"type": "FeatureCollection", "features": await zones(conn, caller.jurisdictions)}


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
