"""Casework: enrolment, devices (assign, swap, retire, with history), the bracelet–phone pairing,
victims and protection orders, and release (解矫).

Roles: an officer reads; enrolling, changing and releasing a person, their devices and their
orders needs the **supervisor** role on the person's jurisdiction (held there or above). A
person outside the caller's reach answers 404; seen but not theirs to change, 403; released —
read-only for good — 409. Every write is in the audit trail, in the same transaction, and bumps
the registry version: the engine and the broker's credentials follow within
``registry_refresh_s``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from psycopg import AsyncConnection
from pydantic import BaseModel, Field, model_validator

from api.auth import Caller, Principal, forbidden, invalid, not_found
from api.schemas import (
    ChangedSupervisee,
    DeviceHistory,
    ProtectionOrders,
    Released,
    VictimZones,
)
from devices.credentials import check_user
from geofence.distance import distance_m
from geofence.zones import Zone, ZoneError
from store import audit, casework
from store.caseload import plans, supervisee
from store.registry import upsert_zone

router = APIRouter(tags=["casework"])

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


async def writable(conn: AsyncConnection, caller: Principal, supervisee_id: str) -> str:
    """The person's jurisdiction, their row locked: 404 outside reach, 403 without the
    supervisor role there, 409 once released."""
    row = await casework.supervisee_row(conn, supervisee_id)
    if row is None or not caller.sees(row["jurisdiction_id"]):
        raise not_found(f"supervisee {supervisee_id}")
    if not caller.may(row["jurisdiction_id"], "supervisor"):
        raise forbidden("supervisor")
    if row["released"]:
        raise HTTPException(409, f"supervisee {supervisee_id} has been released: the record "
                                 "is read-only")
    return row["jurisdiction_id"]


async def readable(conn: AsyncConnection, caller: Principal, supervisee_id: str) -> str:
    row = await supervisee(conn, supervisee_id)
    if row is None or not caller.sees(row["jurisdiction_id"]):
        raise not_found(f"supervisee {supervisee_id}")
    return row["jurisdiction_id"]


def checked_device_id(device_id: str, where: tuple[str, ...]) -> str:
    try:
        check_user(device_id)
    except ValueError as exc:
        raise invalid(where, f"{exc}: a device id is its MQTT user name") from None
    return device_id


async def home_zone(conn: AsyncConnection, caller: Principal, supervisee_id: str,
                    jurisdiction_id: str, feature: dict[str, Any] | None,
                    zone_id: str | None) -> tuple[str, bool] | None:
    """The home zone (id, whether it is a curfew), stored if given as a Feature: always an
    inclusion zone of the person's jurisdiction, id ``<person>-home``."""
    if feature is not None:
        given = feature.get("properties")
        props = dict(given) if isinstance(given, dict) else {}
        props.update(kind="inclusion", jurisdiction_id=jurisdiction_id,
                     name=props.get("name") or f"{supervisee_id} home")
        try:
            zone = Zone.from_feature({**feature, "properties": props}, f"{supervisee_id}-home")
        except (ZoneError, AttributeError, TypeError, ValueError, KeyError) as exc:
            raise invalid(("body", "home"), f"{exc}: a GeoJSON Feature, e.g. a Point with "
                                            "properties.radius_m, optionally with a schedule "
                                            "(a curfew)") from None
        await upsert_zone(conn, zone)
        return zone.id, zone.is_curfew
    if zone_id is not None:
        cur = await conn.execute("SELECT jurisdiction_id, feature FROM zones WHERE id = %s",
                                 (zone_id,))
        row = await cur.fetchone()
        if row is None or not (row[0] is None or caller.sees(row[0])):
            raise not_found(f"zone {zone_id}")
        try:
            zone = Zone.from_feature(row[1], zone_id)
        except ZoneError as exc:
            raise invalid(("body", "home_zone_id"), str(exc)) from None
        if zone.kind != "inclusion":
            raise invalid(("body", "home_zone_id"), f"zone {zone_id} is an exclusion zone: a "
                                                    "home is an inclusion zone")
        return zone.id, zone.is_curfew
    return None


async def checked_zones(conn: AsyncConnection, caller: Principal, zone_ids: list[str]) -> None:
    owners = await casework.zone_owners(conn, zone_ids)
    missing = sorted(z for z in set(zone_ids)
                     if z not in owners or not (owners[z] is None or caller.sees(owners[z])))
    if missing:
        raise not_found(f"zone {missing[0]}")


class Enrolment(BaseModel):
    id: str = Field(pattern=ID_PATTERN, description="the person's id in the agency")
    name: str = Field(min_length=1, max_length=200)
    jurisdiction_id: str = Field(min_length=1, max_length=200)
    plan_id: str | None = Field(None, max_length=200, description="supervision level: "
                                "strict (严管), normal (普管), relaxed (宽管) or a plan of yours")
    home: dict[str, Any] | None = Field(
        None, description="the home as a GeoJSON Feature (stored as zone <id>-home, an "
                          "inclusion zone); with properties.schedule it is a curfew and applies")
    home_zone_id: str | None = Field(None, max_length=200,
                                     description="or an existing inclusion zone as the home")
    zone_ids: list[str] = Field(default_factory=list, max_length=1000)
    case_no: str | None = Field(None, max_length=100,
                                description="the case number, shared by co-defendants (同案犯)")

    @model_validator(mode="after")
    def one_home(self) -> Enrolment:
        if self.home is not None and self.home_zone_id is not None:
            raise ValueError("give home or home_zone_id, not both")
        return self


@router.post("/supervisees", response_model=ChangedSupervisee, status_code=201)
async def enrol(request: Request, caller: Caller, body: Enrolment) -> dict[str, Any]:
    """Enrol a person (supervisor of the jurisdiction): their plan, home and zones. Devices,
    pairing and orders follow with their own requests."""
    if not caller.sees(body.jurisdiction_id):
        raise not_found(f"jurisdiction {body.jurisdiction_id}")
    if not caller.may(body.jurisdiction_id, "supervisor"):
        raise forbidden("supervisor")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        if body.plan_id is not None and not await plans(conn, [body.jurisdiction_id],
                                                        plan_id=body.plan_id):
            raise not_found(f"plan {body.plan_id}")
        await checked_zones(conn, caller, body.zone_ids)
        if not await casework.insert_supervisee(conn, body.id, body.name, body.jurisdiction_id,
                                                body.plan_id):
            raise HTTPException(409, f"supervisee {body.id} exists (released or not): ids are "
                                     "never reused")
        if body.case_no and body.case_no.strip():
            await conn.execute("UPDATE supervisees SET case_no = %s WHERE id = %s",
                               (body.case_no.strip(), body.id))
        zones = list(body.zone_ids)
        home = await home_zone(conn, caller, body.id, body.jurisdiction_id, body.home,
                               body.home_zone_id)
        if home is not None:
            await casework.update_supervisee(conn, body.id, {"home_zone_id": home[0]})
            if home[1]:
                zones.append(home[0])
        await casework.set_zones(conn, body.id, zones)
        await audit.record(conn, caller.username, "supervisee.enrolled", body.id,
                           {"jurisdiction_id": body.jurisdiction_id, "name": body.name,
                            "plan_id": body.plan_id, "home_zone_id": home and home[0],
                            "zone_ids": sorted(set(zones)),
                            "case_no": body.case_no})
        return {"supervisee": await supervisee(conn, body.id)}


class Release(BaseModel):
    reason: str = Field(min_length=1, max_length=2000,
                        description="why supervision ends (term served, revoked, …)")


@router.post("/supervisees/{supervisee_id}/release", response_model=Released)
async def release(request: Request, caller: Caller, supervisee_id: str,
                  body: Release) -> dict[str, Any]:
    """Release (解矫): supervision ends. Devices leave the engine and the broker at the
    registry's next check, positioning orders in force end, live alerts are resolved; the
    record stays, read-only."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, supervisee_id)
        done = await casework.release(conn, supervisee_id, caller.username, body.reason.strip())
        await audit.record(conn, caller.username, "supervisee.released", supervisee_id,
                           {"jurisdiction_id": jid, "reason": body.reason, **done})
        return {"supervisee": await supervisee(conn, supervisee_id), **done}


class NewDevice(BaseModel):
    device_id: str = Field(min_length=1, max_length=100)
    kind: Literal["bracelet", "phone", "beacon"]
    report_interval_s: float | None = Field(None, gt=0, le=86400,
                                            description="null: the plan's interval")


@router.post("/supervisees/{supervisee_id}/devices", response_model=ChangedSupervisee)
async def assign_device(request: Request, caller: Caller, supervisee_id: str,
                        body: NewDevice) -> dict[str, Any]:
    """Give the person a device: a new one, or one retired earlier (history kept)."""
    checked_device_id(body.device_id, ("body", "device_id"))
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, supervisee_id)
        await casework.act_as(conn, caller.username)
        why_not = await casework.assign_device(conn, supervisee_id, body.device_id, body.kind,
                                               body.report_interval_s)
        if why_not:
            raise HTTPException(409, why_not)
        await audit.record(conn, caller.username, "device.assigned", body.device_id,
                           {"jurisdiction_id": jid, "supervisee_id": supervisee_id,
                            **body.model_dump()})
        return {"supervisee": await supervisee(conn, supervisee_id)}


async def _own_device(conn: AsyncConnection, supervisee_id: str, device_id: str
                      ) -> dict[str, Any]:
    found = await casework.device_row(conn, device_id)
    if found is None or found["supervisee_id"] != supervisee_id or found["retired"]:
        raise not_found(f"device {device_id} in service for {supervisee_id}")
    return found


class Retirement(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/supervisees/{supervisee_id}/devices/{device_id}/retire",
             response_model=ChangedSupervisee)
async def retire_device(request: Request, caller: Caller, supervisee_id: str, device_id: str,
                        body: Retirement) -> dict[str, Any]:
    """Take a device out of service (lost, broken, returned): it leaves the engine and the
    broker; its pairing goes with it."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, supervisee_id)
        await _own_device(conn, supervisee_id, device_id)
        await casework.act_as(conn, caller.username, body.reason)
        await casework.retire_device(conn, device_id)
        await audit.record(conn, caller.username, "device.retired", device_id,
                           {"jurisdiction_id": jid, "supervisee_id": supervisee_id,
                            "reason": body.reason})
        return {"supervisee": await supervisee(conn, supervisee_id)}


class Swap(BaseModel):
    new_device_id: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=2000)
    report_interval_s: float | None = Field(None, gt=0, le=86400)


@router.post("/supervisees/{supervisee_id}/devices/{device_id}/swap",
             response_model=ChangedSupervisee)
async def swap_device(request: Request, caller: Caller, supervisee_id: str, device_id: str,
                      body: Swap) -> dict[str, Any]:
    """Replace a device by another of the same kind, in one step: the old one is retired, the
    new one takes its place (and its pairing)."""
    checked_device_id(body.new_device_id, ("body", "new_device_id"))
    if body.new_device_id == device_id:
        raise invalid(("body", "new_device_id"), "the new device is the old one")
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, supervisee_id)
        old = await _own_device(conn, supervisee_id, device_id)
        paired = await casework.pairing_of(conn, device_id)
        await casework.act_as(conn, caller.username, f"swapped for {body.new_device_id}: "
                                                     f"{body.reason}")
        await casework.retire_device(conn, device_id)
        await casework.act_as(conn, caller.username)
        why_not = await casework.assign_device(conn, supervisee_id, body.new_device_id,
                                               old["kind"], body.report_interval_s)
        if why_not:
            raise HTTPException(409, why_not)
        if paired is not None:
            bracelet, phone = paired
            await casework.set_pairing(
                conn, supervisee_id, body.new_device_id if bracelet == device_id else bracelet,
                body.new_device_id if phone == device_id else phone)
        await audit.record(conn, caller.username, "device.swapped", device_id,
                           {"jurisdiction_id": jid, "supervisee_id": supervisee_id,
                            "new_device_id": body.new_device_id, "reason": body.reason})
        return {"supervisee": await supervisee(conn, supervisee_id)}


@router.get("/supervisees/{supervisee_id}/device-history", response_model=DeviceHistory)
async def device_history(request: Request, caller: Caller, supervisee_id: str
                         ) -> dict[str, Any]:
    """Every device the person wore or carried, from when to when, who assigned and ended it."""
    async with request.app.state.cordon.pool.connection() as conn:
        await readable(conn, caller, supervisee_id)
        return {"supervisee_id": supervisee_id,
                "assignments": await casework.device_history(conn, supervisee_id)}


class PairingBody(BaseModel):
    bracelet_id: str = Field(min_length=1, max_length=100)
    phone_id: str = Field(min_length=1, max_length=100)


@router.put("/supervisees/{supervisee_id}/pairing", response_model=ChangedSupervisee)
async def pair(request: Request, caller: Caller, supervisee_id: str,
               body: PairingBody) -> dict[str, Any]:
    """Pair the person's bracelet and phone (replacing an earlier pairing): they must stay
    together (the separation rule)."""
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, supervisee_id)
        for field, device_id, kind in (("bracelet_id", body.bracelet_id, "bracelet"),
                                       ("phone_id", body.phone_id, "phone")):
            found = await _own_device(conn, supervisee_id, device_id)
            if found["kind"] != kind:
                raise invalid(("body", field), f"device {device_id} is a {found['kind']}, "
                                               f"not a {kind}")
        await casework.set_pairing(conn, supervisee_id, body.bracelet_id, body.phone_id)
        await audit.record(conn, caller.username, "pairing.set", supervisee_id,
                           {"jurisdiction_id": jid, **body.model_dump()})
        return {"supervisee": await supervisee(conn, supervisee_id)}


class ProtectionOrderBody(BaseModel):
    victim_id: str = Field(pattern=ID_PATTERN)
    victim_name: str = Field(min_length=1, max_length=200)
    device_id: str = Field(min_length=1, max_length=100,
                           description="the victim's phone (registered here if new)")
    enter_m: float = Field(500.0, gt=0, le=100_000)
    exit_m: float = Field(700.0, gt=0, le=100_000)

    @model_validator(mode="after")
    def exit_beyond_enter(self) -> ProtectionOrderBody:
        if self.exit_m < self.enter_m:
            raise ValueError(f"exit_m ({self.exit_m}) must be at least enter_m "
                             f"({self.enter_m}): an alert clears farther out than it opens")
        return self


@router.get("/supervisees/{supervisee_id}/protection-orders", response_model=ProtectionOrders)
async def list_protection_orders(request: Request, caller: Caller, supervisee_id: str
                                 ) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn:
        await readable(conn, caller, supervisee_id)
        return {"supervisee_id": supervisee_id,
                "protection_orders": await casework.protection_orders(conn, supervisee_id)}


@router.get("/supervisees/{supervisee_id}/victim-zones", response_model=VictimZones)
async def victim_zones(request: Request, caller: Caller, supervisee_id: str,
                       since_s: float = Query(86400.0, gt=0, le=30 * 86400)
                       ) -> dict[str, Any]:
    """The person's protection orders as moving exclusion zones: each victim's phone's newest
    fix (within ``since_s``), the zone's ``enter_m`` / ``exit_m``, and the distance from the
    person's newest fix. Victims are not supervisees: their phones are in no other position
    read (``/positions``, the live feed). Scoped to the person's jurisdiction, and recorded in
    the audit trail as a position read (``victim_zones.read``), naming the victims."""
    async with request.app.state.cordon.pool.connection() as conn:
        jid = await readable(conn, caller, supervisee_id)
        person, zones = await casework.victim_zones(conn, supervisee_id, since_s)
        for z in zones:
            fix = z["fix"]
            z["distance_m"] = (float(distance_m(person["lon"], person["lat"], fix["lon"],
                                                fix["lat"]))
                               if person is not None and fix is not None else None)
        await audit.record(conn, caller.username, "victim_zones.read", supervisee_id,
                           {"jurisdiction_id": jid, "since_s": since_s,
                            "victim_ids": [z["victim_id"] for z in zones],
                            "fixes": sum(z["fix"] is not None for z in zones)})
    return {"supervisee_id": supervisee_id, "person_fix": person, "victim_zones": zones}


@router.put("/supervisees/{supervisee_id}/protection-orders", response_model=ProtectionOrders)
async def set_protection_order(request: Request, caller: Caller, supervisee_id: str,
                               body: ProtectionOrderBody) -> dict[str, Any]:
    """Protect a victim from the person: a moving exclusion zone around the victim's phone."""
    checked_device_id(body.device_id, ("body", "device_id"))
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, supervisee_id)
        why_not = await casework.add_protection_order(
            conn, supervisee_id, jid, body.victim_id, body.victim_name, body.device_id,
            body.enter_m, body.exit_m)
        if why_not:
            raise HTTPException(409, why_not)
        await audit.record(conn, caller.username, "protection_order.set", supervisee_id,
                           {"jurisdiction_id": jid, **body.model_dump()})
        return {"supervisee_id": supervisee_id,
                "protection_orders": await casework.protection_orders(conn, supervisee_id)}


@router.delete("/supervisees/{supervisee_id}/protection-orders/{victim_id}",
               response_model=ProtectionOrders)
async def remove_protection_order(request: Request, caller: Caller, supervisee_id: str,
                                  victim_id: str) -> dict[str, Any]:
    async with request.app.state.cordon.pool.connection() as conn, conn.transaction():
        jid = await writable(conn, caller, supervisee_id)
        if not await casework.remove_protection_order(conn, supervisee_id, victim_id):
            raise not_found(f"protection order for victim {victim_id}")
        await audit.record(conn, caller.username, "protection_order.removed", supervisee_id,
                           {"jurisdiction_id": jid, "victim_id": victim_id})
        return {"supervisee_id": supervisee_id,
                "protection_orders": await casework.protection_orders(conn, supervisee_id)}
