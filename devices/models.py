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
    """A person under supervision, with the zones whose rules apply to them."""

    id: str
    name: str
    jurisdiction_id: str
    zone_ids: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Device:
    """A bracelet, phone or beacon worn or carried by a supervisee."""

    id: str
    supervisee_id: str
    kind: str = "phone"
