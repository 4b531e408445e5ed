"""Supervision plans: which rules apply to a supervisee, and with which thresholds.

A plan is shared by a class of supervisees (say, "sex offence, high risk"); a supervisee may
override single settings. A plan may also bring *zone groups* (every school, for one offence
type): their zones apply to each supervisee on the plan, beside the zones assigned to the person.

Settings (JSON keys of ``supervision_plans.settings`` and of a supervisee's overrides):

=============================  ========  ===================================================
``rules``                      all       alert kinds that apply; the others are never raised
``report_interval_s``          60        how often a live device reports
``lost_contact_grace_s``       1800      silence beyond the interval before ``lost_contact``
``confirm_fixes``              engine    consecutive certain fixes that open or clear an
                                         episode (zones, victim proximity) …
``confirm_gap_s``              engine    … none more than this after the one before (the
                                         engine's settings, 3 and 180 s, unless set)
``no_fix_after_s``             900       messages but no position this long → ``no_fix``
``device_off_battery_pct``     5         a device silent after a reading this low is ``off``
``separation_m``               200       bracelet–phone distance …
``separation_s``               600       … for this long → ``separation``
``escalate_after_s``           900       an open alert nobody acknowledged escalates
``zone_groups``                []        zone groups whose zones apply to all on the plan
``order_notice_days``          7         days before a positioning order ends that the
                                         ``order_ending`` notice is raised
``gathering_m``                50        supervisees this close to each other …
``gathering_min_s``            1200      … for this long → ``gathering`` (聚集)
``gathering_codefendants_only`` false    only people who share a case number (co-defendants)
``phone_still_hours``          4         waking hours a phone (of a person without a bracelet)
                                         lies still → ``phone_left_behind`` (手机未移动)
``waking_hours``               08–22     local hours that count, ``"08:00-22:00"`` (or
                                         ``[8, 22]``); in the time zone of the person's
                                         scheduled zones (their curfew), else …
``waking_timezone``            UTC       … this IANA time zone
=============================  ========  ===================================================

>>> p = SupervisionPlan.from_settings("default", {"report_interval_s": 30})
>>> p.report_interval_s, p.applies("curfew")
(30.0, True)
>>> SupervisionPlan.from_settings("x", {"rules": ["curfew"]}).applies("lost_contact")
False
>>> SupervisionPlan.from_settings("x", {"confirm_fixes": 0})
Traceback (most recent call last):
...
alerts.plans.PlanError: plan x: confirm_fixes must be at least 1, not 0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

ALERT_KINDS = (
    "exclusion_entry", "pass_through", "inclusion_exit", "curfew", "curfew_unverified",
    "victim_proximity", "separation", "strap_tamper", "case_tamper", "low_battery_warning",
    "low_battery_critical", "device_off", "lost_contact", "no_fix", "order_ending",
    "leave_overdue",
    "gathering", "phone_left_behind",
    "check_in_missed",
)


class PlanError(ValueError):
    """A plan (or override) that cannot be applied; the message names it and the setting."""


@dataclass(frozen=True, slots=True)
class SupervisionPlan:
    id: str = "default"
    rules: frozenset[str] = field(default=frozenset(ALERT_KINDS))
    report_interval_s: float = 60.0
    lost_contact_grace_s: float = 1800.0
    confirm_fixes: int | None = None  # None: the engine's setting
    confirm_gap_s: float | None = None
    no_fix_after_s: float = 900.0
    device_off_battery_pct: float = 5.0
    separation_m: float = 200.0
    separation_s: float = 600.0
    escalate_after_s: float = 900.0
    zone_groups: tuple[str, ...] = ()
    order_notice_days: float = 7.0
    gathering_m: float = 50.0
    gathering_min_s: float = 1200.0
    gathering_codefendants_only: bool = False
    phone_still_hours: float = 4.0
    waking_hours: tuple[float, float] = (8.0, 22.0)  # local hours; start > end wraps midnight
    waking_timezone: str = "UTC"

    def applies(self, kind: str) -> bool:
        return kind in self.rules

    @classmethod
    def from_settings(cls, plan_id: str, settings: Mapping[str, Any],
                      base: SupervisionPlan | None = None) -> SupervisionPlan:
        """A plan from its JSON settings, on top of ``base`` (default: the built-in defaults)."""
        if not isinstance(settings, Mapping):
            raise PlanError(f"plan {plan_id}: settings must be an object, not {settings!r}")
        known = {f.name for f in fields(cls)} - {"id"}
        unknown = set(settings) - known
        if unknown:
            raise PlanError(f"plan {plan_id}: unknown settings {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {"id": plan_id}
        for key, value in settings.items():
            values[key] = _checked(plan_id, key, value)
        return replace(base or cls(), **values)

    def to_settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "id":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = sorted(value) if isinstance(value, frozenset) else (
                list(value) if isinstance(value, tuple) else value)
        return out


def _checked(plan_id: str, key: str, value: Any) -> Any:
    where = f"plan {plan_id}: {key}"
    if key == "rules":
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise PlanError(f"{where} must be a list of alert kinds, not {value!r}")
        odd = [k for k in value if k not in ALERT_KINDS]
        if odd:
            raise PlanError(f"{where}: unknown alert kinds {odd} (known: {', '.join(ALERT_KINDS)})")
        return frozenset(value)
    if key == "zone_groups":
        if isinstance(value, str) or not isinstance(value, list | tuple) or not all(
                isinstance(g, str) for g in value):
            raise PlanError(f"{where} must be a list of zone group ids, not {value!r}")
        return tuple(value)
    if key == "gathering_codefendants_only":
        if not isinstance(value, bool):
            raise PlanError(f"{where} must be true or false, not {value!r}")
        return value
    if key == "waking_hours":
        return _waking_hours(where, value)
    if key == "waking_timezone":
        return _timezone(where, value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{where} must be a number, not {value!r}")
    if key == "confirm_fixes":
        if int(value) != value or value < 1:
            raise PlanError(f"{where} must be at least 1, not {value!r}")
        return int(value)
    if key == "device_off_battery_pct":
        if not 0 <= value <= 100:
            raise PlanError(f"{where} must be a percentage, not {value!r}")
        return float(value)
    if not value > 0:
        raise PlanError(f"{where} must be positive, not {value!r}")
    return float(value)


def _waking_hours(where: str, value: Any) -> tuple[float, float]:
    """``"08:00-22:00"`` or ``[8, 22]`` → (8.0, 22.0): local hours, start ≠ end.

    >>> _waking_hours("w", "07:30-21:00"), _waking_hours("w", [22, 6])
    ((7.5, 21.0), (22.0, 6.0))
    """
    hours: list[float] = []
    if isinstance(value, str):
        try:
            for part in value.split("-"):
                hh, mm = part.strip().split(":")
                hours.append(int(hh) + int(mm) / 60.0)
        except ValueError:
            hours = []
    elif isinstance(value, list | tuple) and all(
            isinstance(h, int | float) and not isinstance(h, bool) for h in value):
        hours = [float(h) for h in value]
    if len(hours) != 2 or not all(0 <= h <= 24 for h in hours) or hours[0] == hours[1]:
        raise PlanError(f"{where} must be local hours like \"08:00-22:00\" (start and end "
                        f"differ, 00:00–24:00), not {value!r}")
    return hours[0], hours[1]


def _timezone(where: str, value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise PlanError(f"{where} must be an IANA time zone such as \"Asia/Shanghai\", "
                        f"not {value!r}") from None
    return str(value)


DEFAULT_PLAN = SupervisionPlan()
