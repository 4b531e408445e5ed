"""Approved leave and maintenance windows: spans of time in which some rules do not apply.

- **leave** (a court date in the next county, a family funeral): the supervisee may be outside
  their inclusion zones and away from home; by default it covers ``inclusion_exit``, ``curfew``
  and ``curfew_unverified``.
- **maintenance** (an officer refits the strap, swaps a device): the device rules are silent; by
  default ``strap_tamper``, ``case_tamper``, ``device_off``, ``lost_contact``, ``no_fix``,
  ``separation`` and the low-battery kinds.

A window may name its kinds explicitly. Within it, a violating verdict of a covered kind counts
as compliant: an episode under way clears, none opens; one still true when the window ends opens
then, after the usual confirmation.

>>> s = Suppressions([Suppression("S-1", 100.0, 200.0, "leave")])
>>> s.covers("S-1", "curfew", 150.0), s.covers("S-1", "curfew", 250.0)
(True, False)
>>> s.covers("S-1", "strap_tamper", 150.0), s.covers("S-2", "curfew", 150.0)
(False, False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

DEFAULT_KINDS = {
    "leave": frozenset({"inclusion_exit", "curfew", "curfew_unverified"}),
    "maintenance": frozenset({"strap_tamper", "case_tamper", "device_off", "lost_contact",
                              "no_fix", "separation", "low_battery_warning",
                              "low_battery_critical"}),
}


@dataclass(frozen=True, slots=True)
class LeaveTerms:
    """What an approved leave or standing permit (store/leave.py) adds to its window, read by
    :mod:`alerts.rules.leave_overdue`: the destination binds from ``binds_from`` to
    ``binds_until`` (a leave: the window less the travel out and back; a permit: the whole
    window, and the county counts as well); unless ``returned`` (销假), not being back at the
    window's end is ``leave_overdue``."""

    leave_id: int
    destination: str  # zone id
    binds_from: float
    binds_until: float
    permit: bool = False
    returned: bool = False


@dataclass(frozen=True, slots=True)
class Suppression:
    supervisee_id: str
    starts_at: float
    ends_at: float
    reason: str  # "leave" | "maintenance"
    kinds: frozenset[str] | None = None  # None: the reason's default kinds
    leave: LeaveTerms | None = None  # the window of an approved leave or permit (leaves table)

    def __post_init__(self) -> None:
        if self.reason not in DEFAULT_KINDS:
            raise ValueError(f"suppression reason must be one of {', '.join(DEFAULT_KINDS)}, "
                             f"not {self.reason!r}")
        if not self.ends_at > self.starts_at:
            raise ValueError("a suppression window must end after it starts")

    @property
    def covered_kinds(self) -> frozenset[str]:
        return self.kinds if self.kinds is not None else DEFAULT_KINDS[self.reason]


class Suppressions:
    """The windows of every supervisee, for look-ups per verdict."""

    def __init__(self, windows: Iterable[Suppression] = ()):
        self._by_supervisee: dict[str, list[Suppression]] = {}
        for w in windows:
            self._by_supervisee.setdefault(w.supervisee_id, []).append(w)

    def __bool__(self) -> bool:
        return bool(self._by_supervisee)

    def windows(self) -> list[Suppression]:
        """Every window, by supervisee (what a copy with some supervisees' replaced starts
        from)."""
        return [w for ws in self._by_supervisee.values() for w in ws]

    def leaves(self) -> list[Suppression]:
        """The windows of approved leaves and permits."""
        return [w for ws in self._by_supervisee.values() for w in ws if w.leave is not None]

    def covers(self, supervisee_id: str, kind: str, ts: float) -> bool:
        return any(w.starts_at <= ts < w.ends_at and kind in w.covered_kinds
                   for w in self._by_supervisee.get(supervisee_id, ()))

    def covered(self, supervisee_ids: Iterable[str], kind: str, ts: np.ndarray) -> np.ndarray:
        """:meth:`covers` for many (supervisee, instant), one kind."""
        out = np.zeros(len(ts), dtype=bool)
        if not self._by_supervisee:
            return out
        for i, (sid, t) in enumerate(zip(supervisee_ids, ts.tolist(), strict=True)):
            if sid in self._by_supervisee:
                out[i] = self.covers(sid, kind, t)
        return out
