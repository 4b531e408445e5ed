"""The people and hardware Cordon supervises."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A node of the jurisdiction tree (province › city › county › township, any depth)."""

    id: str
    name: str
    kind: str
    parent_id: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Supervisee:
    """A person under supervision, with the zones whose rules apply to them and their plan
    (see :mod:`alerts.plans`; None: the default plan). ``name`` is "" in the engine's
    registry, which reads no names (:func:`store.registry.supervisee_of_row`)."""

    id: str
    name: str
    jurisdiction_id: str
    zone_ids: tuple[str, ...] = field(default=())
    plan_id: str | None = None
    case_no: str | None = None  # co-defendants (同案犯) share one (alerts.rules.gathering)


@dataclass(frozen=True, slots=True)
class Device:
    """A bracelet, phone or beacon worn or carried by a supervisee — or the phone of a protected
    victim, whose position is the centre of a moving exclusion zone (``victim_id`` set,
    ``supervisee_id`` None).

    ``report_interval_s`` is how often the device sends: a buffered bracelet uploads every few
    minutes (None: the supervisee's plan says)."""

    id: str
    supervisee_id: str | None
    kind: str = "phone"
    victim_id: str | None = None
    report_interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class Pairing:
    """A supervisee's bracelet and phone, which must stay together."""

    supervisee_id: str
    bracelet_id: str
    phone_id: str


@dataclass(frozen=True, slots=True)
class ProtectionOrder:
    """The supervisee must keep away from the victim carrying ``device_id``: an episode opens
    within ``enter_m`` and clears only beyond ``exit_m`` (farther, so it does not flap)."""

    supervisee_id: str
    victim_id: str
    device_id: str
    enter_m: float = 500.0
    exit_m: float = 700.0


@dataclass(frozen=True, slots=True)
class PositioningOrder:
    """The legal basis of a supervisee's bracelets: an order in force from ``starts_at`` until
    ``ends_at`` (epoch seconds; an early removal already applied). Outside every order of the
    person, their bracelets' positions are neither stored nor evaluated."""

    id: int
    supervisee_id: str
    starts_at: float
    ends_at: float
