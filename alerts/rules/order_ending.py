"""A positioning order about to end: the officer is told in time to assess and renew it (or let
the bracelet come off).

A person's orders in force form a chain (a renewal starts where the order it renews ends); the
notice is raised when the chain's end is within the plan's ``order_notice_days`` (subject: the
last order of the chain, ``order <id>``), and cleared when a renewal moves the end further, or
when the order has ended — from then on the person's bracelets' positions are no longer kept.
On the clock only; checked every :data:`CHECK_EVERY_S`.

>>> chain_end([(0.0, 10.0, 1), (10.0, 20.0, 2), (30.0, 40.0, 3)], now=5.0)
(20.0, 2)
>>> chain_end([(0.0, 10.0, 1)], now=10.0) is None
True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, Changes
from alerts.verdict import Verdict
from devices.models import PositioningOrder

if TYPE_CHECKING:
    from alerts.roster import LinkChange, Roster, RosterChange

KIND = "order_ending"
SEVERITY = "medium"
CHECK_EVERY_S = 30.0


def chain_end(windows: Sequence[tuple[float, float, int]], now: float
              ) -> tuple[float, int] | None:
    """(end, order id) of the chain of windows (start, end, id — by start) in force at
    ``now``, or None when none is."""
    end: float | None = None
    last = -1
    for start, stop, order_id in windows:
        if end is None:
            if start <= now < stop:
                end, last = stop, order_id
        elif start <= end and stop > end:
            end, last = stop, order_id
    return None if end is None else (end, last)


class OrderEndingRule:
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster, orders: Iterable[PositioningOrder]):
        self.roster = roster
        self.windows: dict[str, list[tuple[float, float, int]]] = {}
        for o in orders:
            if o.supervisee_id in roster.supervisees:
                self.windows.setdefault(o.supervisee_id, []).append(
                    (o.starts_at, o.ends_at, o.id))
        for w in self.windows.values():
            w.sort()
        self._checked_at = -math.inf

    def patched(self, roster: Roster, change: RosterChange, links: LinkChange
                ) -> OrderEndingRule:
        """After a registry change: the windows of the people whose links were read again
        replaced by those read; those of people released dropped."""
        new = copy.copy(self)
        new.roster = roster
        if not links.people and not len(change.supervisees):
            return new
        new._checked_at = -math.inf  # windows changed: look at the next tick
        new.windows = windows = dict(self.windows)
        for sid in links.people:
            windows.pop(sid, None)
        for k in change.supervisees.tolist():
            sid = roster.supervisee_ids[k]
            if sid not in roster.supervisees:
                windows.pop(sid, None)
        fresh: dict[str, list[tuple[float, float, int]]] = {}
        for o in links.positioning:
            if o.supervisee_id in roster.supervisees:
                fresh.setdefault(o.supervisee_id, []).append((o.starts_at, o.ends_at, o.id))
        for sid, w in fresh.items():
            windows[sid] = sorted(w)
        return new

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        return []

    def forget(self) -> None:
        self._checked_at = -math.inf

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if now - self._checked_at < CHECK_EVERY_S:
            return out
        self._checked_at = now
        r = self.roster
        due: dict[EpisodeKey, str] = {}
        for sid, windows in self.windows.items():
            plan = r.plan_of[sid]
            if not plan.applies(KIND):
                continue  # the plan switched the notice off: an open one clears below
            found = chain_end(windows, now)
            notice_s = plan.order_notice_days * 86400.0
            if found is not None and found[0] - now <= notice_s:
                due[EpisodeKey(sid, f"order {found[1]}", KIND)] = self.roster.device_named_for(sid)
        for key in sorted(due):
            if not staging.state(key).open:
                out.fold(staging, key, Verdict.VIOLATING, now, math.nan, math.nan, due[key],
                         SEVERITY, 1)
        for key in sorted(staging.keys_of_kind(KIND) - due.keys()):
            if staging.state(key).open:
                out.fold(staging, key, Verdict.COMPLIANT, now, math.nan, math.nan,
                         self.roster.device_named_for(key.supervisee_id), SEVERITY, 1)
        return out
