"""What the REST endpoints answer: one pydantic model per shape, grouped by resource.

They describe the wire format as it is — field names, nesting and types as the queries in
:mod:`store` build them — so the OpenAPI document says what a client gets. Routes return the
plain dicts of :mod:`store`; FastAPI validates them against these models and writes the JSON.

Conventions:

- Times of the engine (alerts, fixes, supervisees) are **seconds since the epoch** (UTC), as
  floats; times of accounts and the audit trail are ISO 8601 strings with their offset.
- ``X | None`` fields are always present, ``null`` when there is nothing. A field that is left
  out when it does not apply (a zone's ``radius_m``, an error that did not happen) is marked
  *absent when …*; its route sets ``response_model_exclude_unset`` so it stays absent.
- GeoJSON geometries are passed through as stored (``dict``: ``type`` and ``coordinates``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["officer", "supervisor", "admin"]
EpochSeconds = Annotated[float, Field(description="seconds since the epoch (UTC)")]
IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"},
                               description="ISO 8601, with its UTC offset")]
Geometry = Annotated[dict[str, Any], Field(description="a GeoJSON geometry (WGS 84)")]


class Wire(BaseModel):
    """Base of the response models: every field listed. A key the model does not know is an
    error (a 500, which the tests catch), never silently left out of the answer."""

    model_config = ConfigDict(extra="forbid")


# --- health -----------------------------------------------------------------------------------


class BrokerHealth(Wire):
    connected: bool
    error: str | None = Field(None, description="a consumer's last broker error; absent when "
                                                "none has one")


class DatabaseHealth(Wire):
    connected: bool
    timescaledb: str | None = Field(description="extension version; null on plain PostgreSQL")
    error: str | None = Field(None, description="absent when connected: why not")


class Counters(Wire):
    """Counters of the intake, summed over every consumer process."""

    messages_received: int
    fixes_received: int
    fixes_stored: int
    fixes_duplicate: int
    quarantined: int
    fixes_without_order: int = Field(description="fixes of bracelets outside every positioning "
                                                 "order in force: counted, neither stored nor "
                                                 "evaluated")
    batches: int
    alerts_opened: int
    alerts_cleared: int
    http_refused: int = Field(description="OsmAnd reports refused for want of a valid device "
                                          "password")
    http_rate_limited: int = Field(description="OsmAnd reports answered 429 (rate limit)")
    decode_s: float
    decide_s: float
    fold_s: float
    store_s: float
    devices_seen: int
    last_batch_ms: float
    commit_lag_p50_ms: float | None
    commit_lag_p99_ms: float | None
    uptime_s: float
    consumers: int
    alerts_open: int | None = Field(description="live alerts; null if the database is away")


class LagHistogram(Wire):
    bounds_ms: list[float] = Field(description="upper bound of each bucket but the last")
    counts: list[int] = Field(description="one more than bounds_ms: the last is overflow")


class Health(Wire):
    status: Literal["ok", "degraded"]
    broker: BrokerHealth
    database: DatabaseHealth
    counters: Counters
    live_clients: int
    commit_lag_histogram: LagHistogram


# --- accounts ---------------------------------------------------------------------------------


class TokenResponse(Wire):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class Grant(Wire):
    jurisdiction_id: str
    role: Role


class Me(Wire):
    id: int
    username: str
    grants: list[Grant]
    reach: dict[str, Role] = Field(description="every jurisdiction reached → the role there")


class NewApiTokenOut(Wire):
    id: int
    name: str
    token: str = Field(description="the secret, shown this once")


class ApiToken(Wire):
    id: int
    name: str
    created_at: IsoTime
    expires_at: IsoTime | None
    revoked_at: IsoTime | None


class ApiTokens(Wire):
    tokens: list[ApiToken]


class User(Wire):
    id: int
    username: str
    display_name: str
    disabled: bool
    grants: list[Grant]


class OneUser(Wire):
    user: User


class Users(Wire):
    users: list[User]


class CreatedUser(Wire):
    id: int
    username: str
    grants: list[Grant]


class NewUserOut(Wire):
    user: CreatedUser


# --- jurisdictions ----------------------------------------------------------------------------


class Jurisdiction(Wire):
    id: str
    parent_id: str | None
    name: str
    kind: str = Field(description="province, city, county, township, …")
    timezone: str
    has_boundary: bool
    role: Role = Field(description="the caller's role here")


class JurisdictionNode(Jurisdiction):
    children: list[JurisdictionNode]


class Jurisdictions(Wire):
    jurisdictions: list[Jurisdiction]
    tree: list[JurisdictionNode] = Field(description="the topmost reached, with their children")


class OneJurisdiction(Wire):
    jurisdiction: Jurisdiction


class BoundaryProperties(Wire):
    name: str
    kind: str
    parent_id: str | None


class BoundaryFeature(Wire):
    type: Literal["Feature"]
    id: str
    properties: BoundaryProperties
    geometry: Geometry


class Boundaries(Wire):
    type: Literal["FeatureCollection"]
    features: list[BoundaryFeature]


# --- supervisees, devices, pairings -----------------------------------------------------------


class Device(Wire):
    id: str
    kind: Literal["phone", "bracelet", "beacon"]
    supervisee_id: str | None = Field(description="null for a victim's device")
    victim_id: str | None
    report_interval_s: float | None
    jurisdiction_id: str
    retired_at: EpochSeconds | None = Field(description="out of service since (lists show "
                                                        "only devices in service)")
    heard_without_order_at: EpochSeconds | None = Field(
        None, description="a bracelet still sending while no positioning order is in force: "
                          "when last heard (its positions are not kept); absent otherwise")


class Devices(Wire):
    devices: list[Device]


class OneDevice(Wire):
    device: Device


class Pairing(Wire):
    supervisee_id: str
    bracelet_id: str
    phone_id: str


class Pairings(Wire):
    pairings: list[Pairing]


class Supervisee(Wire):
    id: str
    name: str
    jurisdiction_id: str
    plan_id: str | None
    created_at: EpochSeconds
    zone_ids: list[str]
    device_ids: list[str] = Field(description="devices in service")
    home_zone_id: str | None
    released_at: EpochSeconds | None = Field(description="released (解矫): read-only since")
    release_reason: str | None


class SuperviseeDetail(Supervisee):
    devices: list[Device]
    pairings: list[Pairing]


class Supervisees(Wire):
    supervisees: list[Supervisee]


class OneSupervisee(Wire):
    supervisee: SuperviseeDetail


class ChangedSupervisee(Wire):
    supervisee: Supervisee


# --- zones ------------------------------------------------------------------------------------


class ZoneProperties(Wire):
    name: str
    kind: Literal["exclusion", "inclusion"]
    radius_m: float | None = Field(None, description="absent when not a circle")
    width_m: float | None = Field(None, description="absent when not a corridor")
    jurisdiction_id: str | None = Field(description="null: shared by every jurisdiction")
    schedule: dict[str, Any] | None = Field(
        None, description="absent when always in force; see geofence/schedules.py")


class ZoneFeature(Wire):
    type: Literal["Feature"]
    id: str
    properties: ZoneProperties
    geometry: Geometry


class Zones(Wire):
    type: Literal["FeatureCollection"]
    features: list[ZoneFeature]


class RejectedFeature(Wire):
    index: int = Field(description="the feature's position in the import")
    id: str | int | None = Field(description="the feature's id, if it had one")
    error: str


class ImportReport(Wire):
    stored: int
    rejected: int
    errors: list[RejectedFeature]
    zone_ids: list[str] = Field(description="the zones stored (none when nothing was)")


# --- plans and zone groups --------------------------------------------------------------------


class Plan(Wire):
    id: str
    name: str
    jurisdiction_id: str | None = Field(description="the jurisdiction it belongs to (seen "
                                                    "from there and below); null: the whole "
                                                    "agency's")
    settings: dict[str, Any] = Field(description="see alerts/plans.py for the keys")
    supervisees: int = Field(description="how many of the caller's supervisees are on it")


class Plans(Wire):
    plans: list[Plan]


class OnePlan(Wire):
    plan: Plan


class ChangedPlan(Wire):
    id: str
    name: str
    jurisdiction_id: str | None
    settings: dict[str, Any]


class PutPlan(Wire):
    plan: ChangedPlan


class ZoneGroup(Wire):
    id: str
    name: str
    zone_ids: list[str]


class ZoneGroups(Wire):
    zone_groups: list[ZoneGroup]


# --- positions and tracks ---------------------------------------------------------------------


class Position(Wire):
    device_id: str
    supervisee_id: str
    ts: EpochSeconds
    lon: float
    lat: float
    accuracy_m: float
    battery: float | None = Field(description="percent, when the device reports it")
    jurisdiction_id: str


class Positions(Wire):
    positions: list[Position]


class TrackProperties(Wire):
    device_id: str
    times: list[IsoTime] = Field(description="one per fix, in UTC")
    accuracy_m: list[float]
    battery: list[float | None]


class TrackFeature(Wire):
    type: Literal["Feature"]
    id: str = Field(description="the device")
    geometry: Geometry = Field(description="a LineString, or a Point for a single fix")
    properties: TrackProperties


class TrackSummary(Wire):
    supervisee_id: str
    simplified_tolerance_m: float = Field(description="0: every fix is shown")
    thinning: Literal["time", "shape"] = Field(description="how it was thinned (see the "
                                                          "thinning parameter)")
    fixes: int = Field(description="fixes in the range")
    fixes_shown: int


class TrackCollection(Wire):
    """A person's track as GeoJSON: one feature per device."""

    type: Literal["FeatureCollection"]
    properties: TrackSummary
    features: list[TrackFeature]


# --- history: who was near, stops and trips ---------------------------------------------------


class Interval(Wire):
    start: EpochSeconds
    end: EpochSeconds


class NearFix(Wire):
    device_id: str
    ts: EpochSeconds
    lon: float
    lat: float
    accuracy_m: float
    distance_m: float


class Visit(Wire):
    first: EpochSeconds = Field(description="first fix within the radius")
    last: EpochSeconds = Field(description="last fix within the radius")
    fixes: int


class NearPerson(Wire):
    supervisee_id: str
    name: str
    jurisdiction_id: str
    closest: NearFix = Field(description="the fix closest to the point")
    fixes_within: int = Field(description="fixes within the radius")
    visits: list[Visit] = Field(description="runs of fixes within the radius")
    fixes: list[NearFix] = Field(description="fixes within the radius, closest first, at most "
                                             "max_fixes")
    gaps: list[Interval] = Field(description="stretches of the window with no fix from any of "
                                             "the person's devices: not seen is not absent")


class NearSearch(Wire):
    lon: float
    lat: float
    radius_m: float
    start: EpochSeconds
    end: EpochSeconds
    reason: str
    people: list[NearPerson] = Field(description="closest first; only the caller's reach")


class TimelineSegment(Wire):
    kind: Literal["stop", "trip", "gap"]
    start: EpochSeconds
    end: EpochSeconds
    duration_s: float
    fixes: int = Field(description="fixes in the segment (0 for a gap)")
    lon: float | None = Field(None, description="a stop's place")
    lat: float | None = None
    radius_m: float | None = Field(None, description="a stop: 95 % of its fixes lie this close")
    distance_m: float | None = Field(None, description="a trip: along its fixes")
    same_place: bool | None = Field(None, description="a gap: the fixes on both sides of it lie "
                                                      "within the stop radius of each other")


class StopSettingsOut(Wire):
    radius_m: float
    dwell_s: float
    gap_s: float
    max_accuracy_m: float


class Timeline(Wire):
    supervisee_id: str
    start: EpochSeconds
    end: EpochSeconds
    fixes: int
    settings: StopSettingsOut
    segments: list[TimelineSegment] = Field(description="stops, trips and gaps in time order")


# --- alerts and the audit trail ---------------------------------------------------------------


class Alert(Wire):
    id: int
    kind: str = Field(description="exclusion_entry, inclusion_exit, tamper, …")
    severity: str = Field(description="low, medium, high or critical")
    status: Literal["open", "acknowledged", "resolved", "cleared"]
    supervisee_id: str
    device_id: str
    subject: str = Field(description="what the rule is about: a zone id, a device pair, …")
    started_at: EpochSeconds
    ended_at: EpochSeconds | None
    lon: float | None
    lat: float | None
    subject_name: str = Field(description="the zone's name, or the subject")
    raised_at: EpochSeconds | None
    escalated_at: EpochSeconds | None
    jurisdiction_id: str


class AlertStep(Wire):
    action: str = Field(description="opened, acknowledged, escalated, resolved, cleared")
    actor: str = Field(description="'engine' or a username")
    at: EpochSeconds
    note: str | None
    cause: str | None = Field(None, description="a resolution's cause: a code of "
                                                 "GET /alert-resolutions")
    outcome: str | None = Field(None, description="a resolution's outcome: a code of "
                                                   "GET /alert-resolutions")


class Alerts(Wire):
    alerts: list[Alert]


class AlertWithHistory(Wire):
    alert: Alert
    history: list[AlertStep] = Field(description="oldest first")


class OneAlert(Wire):
    alert: Alert


class Resolution(BaseModel):
    """An officer's resolution of an alert: what was done, why the alert happened and how it
    ended, the last two from the agency's lists (``GET /alert-resolutions``)."""

    note: str = Field(min_length=1, max_length=10_000, description="what was done")
    cause: str = Field(min_length=1, max_length=64, description="发生原因: a cause's code")
    outcome: str = Field(min_length=1, max_length=64, description="处置结果: an outcome's code")


class ResolutionLabels(Wire):
    en: str
    zh_CN: str = Field(alias="zh-CN")


class ResolutionCode(Wire):
    code: str
    labels: ResolutionLabels


class ResolutionCodes(Wire):
    causes: list[ResolutionCode] = Field(description="发生原因, in the agency's order")
    outcomes: list[ResolutionCode] = Field(description="处置结果, in the agency's order")


class AuditEntry(Wire):
    id: int
    at: IsoTime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


class AuditTrail(Wire):
    entries: list[AuditEntry] = Field(description="newest first")


# --- replay and explained alerts ----------------------------------------------------------------


class DeviceEvent(Wire):
    device_id: str
    ts: EpochSeconds
    event: str = Field(description="strap_open, case_open, power_off, lost_link, …")
    battery: float | None
    peer: str | None


class DeviceEvents(Wire):
    supervisee_id: str
    events: list[DeviceEvent]


class ExplainedFix(Wire):
    device_id: str
    role: Literal["supervisee", "victim", "phone"] = Field(
        description="whose device: the supervisee's, the protected victim's, the paired phone")
    ts: EpochSeconds
    lon: float
    lat: float
    accuracy_m: float = Field(description="as the device reported it")
    accuracy_used_m: float = Field(description="scaled by the engine's accuracy_factor")
    battery: float | None
    distance_m: float | None = Field(
        description="to the zone's boundary (negative inside), to the victim, or to the phone")
    decision: Literal["inside", "outside", "uncertain", "inactive"] | None = Field(
        description="the geofence's decision (zone rules): certain only beyond the accuracy")
    verdict: Literal["violating", "compliant", "uncertain"] | None
    deciding: bool = Field(description="one of the fixes of the streak that opened the alert")


class KeptPairMeeting(Wire):
    start: EpochSeconds
    end: EpochSeconds
    minutes: float
    closest_m: float
    lon: float
    lat: float
    day: str = Field(description="the local day of the nightly pass that kept it")


class NightlyMark(Wire):
    companion_id: str
    start: EpochSeconds
    end: EpochSeconds
    closest_m: float
    meetings: int = Field(description="the pair's missed meetings of the day it stands for")
    day: str
    timezone: str


class GatheringHistory(Wire):
    companion_id: str
    days: float
    meetings_count: int = Field(description="meetings of the pair kept over the last `days`")
    last_start: EpochSeconds | None
    last_end: EpochSeconds | None
    minutes: float = Field(description="their meetings' minutes in all")
    meetings: list[KeptPairMeeting]
    found_by: Literal["engine", "nightly_pass"] = Field(
        description="who raised the alert: the engine in real time, or the nightly pass "
                    "(a meeting no real-time alert covered; store/missed_gatherings.py)")
    nightly: NightlyMark | None


class Explanation(Wire):
    alert: Alert
    start: EpochSeconds
    end: EpochSeconds
    plan_id: str | None
    thresholds: dict[str, float | None] = Field(
        description="accuracy_factor, confirm_fixes, confirm_gap_s, and per kind enter_m / "
                    "exit_m, separation_m / separation_s, escalate_after_s")
    zone: ZoneFeature | None
    victim_device_id: str | None
    phone_device_id: str | None
    fixes: list[ExplainedFix]
    events: list[DeviceEvent]
    gathering: GatheringHistory | None = Field(
        default=None, description="a gathering alert: the pair's meetings kept by the nightly "
                                  "co-location passes (alerts.explain.gathering_history)")


# --- casework: enrolment, devices, protection and positioning orders, release ------------------


class DeviceAssignment(Wire):
    device_id: str
    kind: Literal["phone", "bracelet", "beacon"]
    start: EpochSeconds = Field(alias="from", description="worn or carried since")
    end: EpochSeconds | None = Field(alias="to", description="until (null: still)")
    assigned_by: str | None
    ended_by: str | None
    end_reason: str | None


class DeviceHistory(Wire):
    supervisee_id: str
    assignments: list[DeviceAssignment] = Field(description="oldest first")


class ProtectionOrderOut(Wire):
    victim_id: str
    victim_name: str
    device_id: str = Field(description="the victim's phone, centre of the moving exclusion zone")
    enter_m: float
    exit_m: float


class ProtectionOrders(Wire):
    supervisee_id: str
    protection_orders: list[ProtectionOrderOut]


class LatestFix(Wire):
    device_id: str
    ts: EpochSeconds
    lon: float
    lat: float
    accuracy_m: float | None


class VictimZone(Wire):
    victim_id: str
    device_id: str = Field(description="the victim's phone, centre of the moving zone")
    enter_m: float = Field(description="the zone's radius: nearer, an alert opens")
    exit_m: float = Field(description="farther, the alert clears")
    fix: LatestFix | None = Field(description="the phone's newest fix (null: none in since_s)")
    distance_m: float | None = Field(description="from the person's newest fix to the victim's")


class VictimZones(Wire):
    supervisee_id: str
    person_fix: LatestFix | None = Field(description="the newest fix of any of the person's "
                                                     "devices (null: none in since_s)")
    victim_zones: list[VictimZone]


class Released(Wire):
    supervisee: Supervisee
    devices_retired: list[str]
    orders_ended: list[int] = Field(description="positioning orders ended by the release")
    alerts_resolved: list[int]


class GroundLabels(Wire):
    zh_CN: str = Field(alias="zh-CN")
    en: str


class OrderGround(Wire):
    code: str
    labels: GroundLabels


class OrderGrounds(Wire):
    grounds: list[OrderGround]
    max_days: float = Field(description="the longest order or renewal (setting "
                                        "positioning_order_max_days)")


class PositioningOrder(Wire):
    id: int
    supervisee_id: str
    supervisee_name: str
    jurisdiction_id: str
    ground: str
    ground_label: GroundLabels
    approver: str = Field(description="the account that approved it (supervisor or admin of "
                                      "the person's jurisdiction)")
    starts_at: EpochSeconds
    ends_at: EpochSeconds
    renews: int | None = Field(description="the order this one renews")
    assessment: str | None = Field(description="a renewal's assessment")
    note: str | None
    removed_at: EpochSeconds | None = Field(description="removed early")
    removal_reason: str | None
    created_by: str
    created_at: EpochSeconds
    in_force: bool


class PositioningOrders(Wire):
    orders: list[PositioningOrder]


class OnePositioningOrder(Wire):
    order: PositioningOrder


# --- since the last sign-in -------------------------------------------------------------------


class AlertStepSince(Wire):
    id: int = Field(description="the alert")
    kind: str
    severity: str
    status: str = Field(description="the alert's status now")
    supervisee_id: str
    supervisee_name: str
    at: EpochSeconds = Field(description="when the step was taken")
    by: str = Field(description="'engine' or the account that took it")


class AlertSteps(Wire):
    count: int = Field(description="all of them (the list holds the newest 50)")
    alerts: list[AlertStepSince]


class PersonChange(Wire):
    id: str
    name: str
    at: EpochSeconds
    by: str | None


class OrderEnding(Wire):
    id: int
    supervisee_id: str
    supervisee_name: str
    ends_at: EpochSeconds
    ended: bool = Field(description="already over (false: ends soon)")


class SinceLastSignIn(Wire):
    since: EpochSeconds = Field(description="the caller's previous sign-in (first sign-in: a "
                                            "day ago)")
    first_sign_in: bool
    until: EpochSeconds
    raised: AlertSteps
    escalated: AlertSteps
    resolved_by_others: AlertSteps
    cleared: AlertSteps
    enrolled: list[PersonChange]
    enrolled_count: int
    released: list[PersonChange]
    released_count: int
    orders_ending: list[OrderEnding] = Field(description="positioning orders ended since then "
                                                         "or ending within 7 days, not renewed")


# Who was with whom (history/together.py, store/colocations.py)


class TogetherPerson(Wire):
    supervisee_id: str
    name: str
    jurisdiction_id: str


class TogetherMeeting(Wire):
    start: EpochSeconds = Field(description="start of the first minute together")
    end: EpochSeconds = Field(description="end of the last minute together")
    minutes: float
    closest_m: float = Field(description="the least distance between the two placements")
    closest_ts: EpochSeconds
    lon: float = Field(description="midway between the two when closest")
    lat: float


class WithPerson(TogetherPerson):
    minutes: float = Field(description="minutes together over the window, all meetings")
    meetings: list[TogetherMeeting]


class TogetherSearch(Wire):
    supervisee_id: str
    start: EpochSeconds
    end: EpochSeconds
    radius_m: float
    min_minutes: float
    reason: str
    people: list[WithPerson] = Field(description="most minutes together first; only the "
                                                 "caller's reach")


class StoredMeeting(TogetherMeeting):
    a: TogetherPerson
    b: TogetherPerson


class Colocations(Wire):
    start: EpochSeconds
    end: EpochSeconds
    meetings: list[StoredMeeting] = Field(description="by start; both people in the caller's "
                                                      "reach")


# --- the command centre's wall (api/routes/wall.py; definitions in store/figures.py) ---------


class WallPeople(Wire):
    total: int
    strict: int = Field(description="严管")
    normal: int = Field(description="普管")
    relaxed: int = Field(description="宽管")
    other: int = Field(description="on another plan, or none")


class WallDevices(Wire):
    total: int
    online: int
    silent: int
    off: int


class WallAlerts(Wire):
    raised: int = Field(description="raised today (local day of the jurisdiction)")
    open: int
    acknowledged: int
    closed: int = Field(description="resolved by a person or cleared by the engine")
    escalated: int
    median_response_s: float | None = Field(description="raising → first person's step; null "
                                                        "when nobody acted yet")


class WallOrders(Wire):
    in_force: int
    ending_soon: int = Field(description="in force and ending within 7 days")


class WallFigures(Wire):
    people: WallPeople
    devices: WallDevices
    alerts: WallAlerts
    orders: WallOrders
    on_leave: int


class WallJurisdiction(Wire):
    id: str
    parent_id: str | None
    name: str
    kind: str


class WallChild(Wire):
    id: str
    name: str
    kind: str
    has_boundary: bool
    has_children: bool


class WallTrends(Wire):
    days: list[str] = Field(description="the 7 local dates ending today (YYYY-MM-DD)")
    kinds: dict[str, list[int]] = Field(description="alert kind → alerts raised each day")


class WallAlert(Wire):
    id: int
    kind: str
    severity: str
    status: str
    supervisee_id: str
    supervisee_name: str | None = Field(description="null on a kiosk unless the agency shows "
                                                    "names there")
    jurisdiction_id: str
    raised_at: EpochSeconds
    lon: float | None
    lat: float | None
    escalated: bool


class WallView(Wire):
    jurisdiction: WallJurisdiction
    parent_reachable: bool = Field(description="whether the caller may go up to the parent")
    children: list[WallChild]
    subtree: list[str] = Field(description="ids of the jurisdiction and all below it")
    names: dict[str, str] = Field(description="id → name of each of them")
    timezone: str
    as_of: EpochSeconds = Field(description="the instant of every figure (engine's clock)")
    day_start: EpochSeconds
    kpis: WallFigures
    regions: dict[str, WallFigures] = Field(description="child id → its subtree's figures")
    boundaries: list[dict[str, Any]] = Field(description="GeoJSON features of the children "
                                                         "(or of the jurisdiction itself)")
    trends: WallTrends
    recent: list[WallAlert] = Field(description="today's alerts, newest first (at most 50)")
    show_names: bool


class KioskOut(Wire):
    id: int
    name: str
    jurisdiction_id: str
    show_names: bool
    created_by: str
    created_at: EpochSeconds
    revoked_at: EpochSeconds | None
    last_seen_at: EpochSeconds | None


class NewKioskOut(Wire):
    kiosk: KioskOut
    token: str = Field(description="shown once: the screen signs in with it")
    url: str = Field(description="the wall's page for this kiosk (token in the fragment)")


class Kiosks(Wire):
    kiosks: list[KioskOut]


# --- check-ins (信息化核查) -----------------------------------------------------------------------


class CheckInAnswer(Wire):
    ts: EpochSeconds = Field(description="the answering fix's time")
    received_at: EpochSeconds
    lon: float
    lat: float
    accuracy_m: float | None
    home_distance_m: float | None = Field(description="metres from the centre of the person's "
                                                      "home zone; null without a home")
    at_home: bool | None = Field(description="inside the home zone; null without a home")


class CheckInRecord(Wire):
    id: int
    supervisee_id: str
    device_id: str = Field(description="the phone asked")
    requested_at: EpochSeconds
    deadline: EpochSeconds
    requested_by: str = Field(description="the account that asked, or 'schedule'")
    scheduled_for: EpochSeconds | None = Field(description="the schedule's slot; null when an "
                                                           "officer asked")
    note: str | None
    topic: str = Field(description="the phone's command topic the request went to")
    sent_at: EpochSeconds | None = Field(description="when the broker took the command; null: "
                                                     "not yet (sent when the broker is back)")
    status: Literal["pending", "answered", "missed"]
    answer: CheckInAnswer | None = Field(description="the phone's first fix in the window")
    settled_at: EpochSeconds | None


class CheckIns(Wire):
    check_ins: list[CheckInRecord]


class OneCheckIn(Wire):
    check_in: CheckInRecord
    sent: bool = Field(description="the command reached the broker (false: it is retried)")


class CheckInScheduleSettings(Wire):
    times_per_day: int = Field(description="random check-ins a day (0: none)")
    window_start: str = Field(description="local time HH:MM, the person's jurisdiction's")
    window_end: str
    deadline_min: int = Field(description="minutes the phone has to answer")
    updated_by: str
    updated_at: IsoTime


class CheckInSchedule(Wire):
    supervisee_id: str
    own: CheckInScheduleSettings | None = Field(description="the person's own schedule")
    plan: CheckInScheduleSettings | None = Field(description="their plan's schedule")
    effective: CheckInScheduleSettings | None = Field(description="the one in force: their "
                                                                  "own, else the plan's")


class PlanCheckInSchedule(Wire):
    plan_id: str
    schedule: CheckInScheduleSettings | None


# --- leave (外出请假) and standing permits (api/routes/leave.py) --------------------------------


class Leave(Wire):
    id: int
    supervisee_id: str
    supervisee_name: str
    jurisdiction_id: str = Field(description="the person's")
    kind: Literal["leave", "permit"] = Field(description="leave (外出请假), or a standing permit "
                                                         "for regular cross-county travel")
    status: Literal["requested", "approved", "refused", "cancelled", "returned"]
    destination_zone_id: str = Field(description="the destination, a zone (GET /zones/{id})")
    destination_made: bool = Field(description="the area was given with the request and stored "
                                               "as this zone")
    starts_at: EpochSeconds = Field(description="out of the county from")
    ends_at: EpochSeconds = Field(description="back inside the county by")
    travel_s: float = Field(description="a leave's allowance for the travel out and back, each")
    binds_from: EpochSeconds = Field(description="the destination binds from…")
    binds_until: EpochSeconds = Field(description="…until (a return ends it)")
    reason: str
    approval_level: str = Field(description="the level its length requires: township, county, "
                                            "city")
    approval_jurisdiction_id: str = Field(description="where a supervisor approves it")
    requested_by: str
    requested_at: EpochSeconds
    decided_by: str | None = Field(description="approved or refused by")
    decided_at: EpochSeconds | None
    decision_note: str | None
    closed_by: str | None = Field(description="cancelled, or the return (销假) recorded by")
    closed_at: EpochSeconds | None
    close_note: str | None
    in_force: bool = Field(description="approved, and now within its window")
    overdue: bool = Field(description="approved, its end passed, no return recorded")


class Leaves(Wire):
    leaves: list[Leave]


class OneLeave(Wire):
    leave: Leave


# The daily report (日报告, store/reports.py)


class ReportPlace(Wire):
    lon: float
    lat: float
    radius_m: float


class ReportVisit(Wire):
    place: Literal["home", "work", "elsewhere"]
    start: EpochSeconds
    end: EpochSeconds
    duration_s: float
    lon: float
    lat: float
    radius_m: float = Field(description="how far the stop's fixes lay from its centre (95th pct)")


class ReportGap(Wire):
    start: EpochSeconds
    end: EpochSeconds
    cause: Literal["device_off", "no_fix", "silence"]
    same_place: bool | None = Field(description="whether the person was at the same place "
                                                "both sides of the gap")


class ReportAlert(Wire):
    id: int
    kind: str
    severity: str
    status: str
    started_at: EpochSeconds
    ended_at: EpochSeconds | None
    cause: str | None
    outcome: str | None
    note: str | None
    resolved_by: str | None
    resolved_at: EpochSeconds | None


class ReportCheckIn(Wire):
    id: int
    device_id: str
    requested_at: EpochSeconds
    deadline: EpochSeconds
    requested_by: str
    status: str
    answered_at: EpochSeconds | None
    home_distance_m: float | None
    at_home: bool | None


class DailyReport(Wire):
    supervisee_id: str
    name: str
    jurisdiction_id: str
    day: str
    timezone: str
    start: EpochSeconds
    end: EpochSeconds
    complete: bool = Field(description="false while the day is still under way")
    fixes: int
    slept: Literal["home", "work", "elsewhere"] | None = Field(
        description="where the stop holding most of 00:00–05:00 was; null: unknown")
    slept_lon: float | None
    slept_lat: float | None
    home_s: float
    work_s: float
    elsewhere_s: float
    moving_s: float
    unseen_s: float = Field(description="in coverage gaps: not seen is not absent")
    distance_m: float
    home: ReportPlace | None = Field(description="the registered home zone as a circle")
    work: ReportPlace | None = Field(description="inferred from the four weeks before")
    inferred_home: ReportPlace | None = Field(description="the place of most nights before")
    inferred_home_from_registered_m: float | None
    visits: list[ReportVisit]
    gaps: list[ReportGap]
    alerts: list[ReportAlert]
    check_ins: list[ReportCheckIn]


# Where a person spends their time (history/density.py)


class HomeRangeCellProperties(Wire):
    seconds: float
    share: float = Field(description="of all the observed time")
    rank: int = Field(description="0: the cell with the most time")
    core: Literal["50", "95", "rest"] = Field(description="within the cells holding half / "
                                                          "95 % of the observed time")


class HomeRangeCell(Wire):
    type: Literal["Feature"]
    id: str = Field(description="the H3 cell, hexadecimal")
    geometry: dict[str, Any]
    properties: HomeRangeCellProperties


class HomeRange(Wire):
    """A GeoJSON FeatureCollection of H3 cells, most time first."""

    type: Literal["FeatureCollection"]
    supervisee_id: str
    start: EpochSeconds
    end: EpochSeconds
    resolution: int
    fixes: int
    observed_s: float = Field(description="time stood for by fixes (a gap counts only its "
                                          "first hold_s)")
    core_50: int
    core_95: int
    features: list[HomeRangeCell]


# The monthly bulletin (月通报, store/bulletin.py)


class BulletinCode(Wire):
    code: str
    labels: dict[str, str] = Field(description="the agency's label in each language")
    alerts: int


class BulletinOrders(Wire):
    in_force: int = Field(description="at the month's end (or now)")
    made: int
    renewed: int
    removed: int = Field(description="removed early in the month")


class MonthlyBulletin(Wire):
    jurisdiction: dict[str, Any]
    timezone: str
    month: str
    start: EpochSeconds
    end: EpochSeconds
    as_of: EpochSeconds
    complete: bool = Field(description="false while the month is under way")
    kpis: dict[str, Any] = Field(description="the subtree's figures, as the wall defines them "
                                             "(store/figures.py), alerts over the month")
    regions: list[dict[str, Any]] = Field(description="the same per child jurisdiction")
    alerts_by_kind: dict[str, int]
    alerts_by_cause: list[BulletinCode]
    alerts_by_outcome: list[BulletinCode]
    orders: BulletinOrders


# Who was inside a drawn area (history/within.py)


class WithinQuery(Wire):
    geometry: dict[str, Any] = Field(description="a GeoJSON Polygon or MultiPolygon, lon/lat, "
                                                 "at most 50 km²")
    start: datetime
    end: datetime
    reason: str = Field(min_length=3, max_length=500,
                        description="why this search is made (a case or incident number): "
                                    "kept in the audit trail")
    jurisdiction_id: str | None = Field(None, max_length=200)
    gap_s: float = Field(600.0, ge=60, le=86_400,
                         description="no fix for longer than this is a coverage gap")
    max_fixes: int = Field(100, ge=0, le=10_000)


class WithinFix(Wire):
    device_id: str
    ts: EpochSeconds
    lon: float
    lat: float
    accuracy_m: float


class WithinPerson(Wire):
    supervisee_id: str
    name: str
    jurisdiction_id: str
    first: EpochSeconds = Field(description="first fix inside")
    last: EpochSeconds = Field(description="last fix inside")
    fixes_inside: int
    visits: list[Visit]
    fixes: list[WithinFix] = Field(description="fixes inside, earliest first, at most max_fixes")
    gaps: list[Interval] = Field(description="stretches of the window with no fix: not seen is "
                                             "not absent")


class WithinSearch(Wire):
    start: EpochSeconds
    end: EpochSeconds
    reason: str
    people: list[WithinPerson] = Field(description="by first fix inside; only the caller's reach")
