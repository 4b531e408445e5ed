"""A check-in (信息化核查) nobody answered: Cordon asked a person's phone for its position (the
OwnTracks ``reportLocation`` command) and no fix of that phone came within the deadline.

A request is answered by any fresh fix of the phone it was sent to whose fix time lies in
[requested, deadline] and which reached Cordon by the deadline plus :data:`ANSWER_GRACE_S` (a
fix takes a moment from the phone to the engine); the rule remembers an answer in the episode
state (a compliant verdict at the fix's time), which outlives registry reloads. Once the
deadline and the grace have passed with no answer, ``check_in_missed`` opens (subject
``check-in <id>``, severity medium) at once: one missed request is the fact the officer must
see. It stays until a person resolves it — a later fix does not undo a missed check-in.

The requests come from the registry (:func:`store.check_ins.read_check_ins`): the recent ones
not answered and not alerted yet, so a restart neither loses nor repeats one. The same instant
decides the record of the request (``store.check_ins.settle``), so the officer's history and
the alert agree.

>>> c = CheckIn(7, "P-1", "ph-1", 100.0, 400.0)
>>> c.answered_by(250.0, 260.0), c.answered_by(99.0, 120.0), c.answered_by(390.0, 440.0)
(True, False, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, Changes
from alerts.verdict import Verdict

if TYPE_CHECKING:
    from alerts.roster import LinkChange, Roster, RosterChange

KIND = "check_in_missed"
SEVERITY = "medium"
# How long after the deadline an answer may still arrive (sent in time, in transit).
ANSWER_GRACE_S = 30.0
# A request decided longer ago than this is left alone: its answer may be forgotten by the
# episode state (kept a day), and its record says what happened (store.check_ins.settle).
STALE_AFTER_S = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class CheckIn:
    """One request to one phone: its window, seconds since the epoch."""

    id: int
    supervisee_id: str
    device_id: str
    requested_at: float
    deadline: float

    @property
    def subject(self) -> str:
        return f"check-in {self.id}"

    def answered_by(self, ts: float, received_at: float) -> bool:
        """Whether a fix of the phone (fix time, receive time) answers this request."""
        return (self.requested_at <= ts <= self.deadline
                and received_at <= self.deadline + ANSWER_GRACE_S)

    def decided_at(self) -> float:
        """When no answer can come any more: the deadline and its grace."""
        return self.deadline + ANSWER_GRACE_S


class CheckInMissedRule:
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster, check_ins: Iterable[CheckIn]):
        self.roster = roster
        self.by_device: dict[str, list[CheckIn]] = {}
        for c in check_ins:
            if c.supervisee_id in roster.supervisees and c.device_id in roster.devices:
                self.by_device.setdefault(c.device_id, []).append(c)
        # Soonest decided first: a tick stops at the first request still open for an answer.
        self.due = sorted((c for cs in self.by_device.values() for c in cs),
                          key=lambda c: (c.decided_at(), c.id))
        self._next = 0  # self.due[:_next] are decided (a rebuilt rule looks at them again)

    def patched(self, roster: Roster, change: RosterChange, links: LinkChange
                ) -> CheckInMissedRule:
        """After a registry change: made again from the recent check-in requests, as a whole
        rebuild makes it."""
        return CheckInMissedRule(roster, links.check_ins)

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        """Remember the answers among the batch's fresh fixes."""
        if not self.by_device or not batch.any_fresh:
            return []
        d = batch.decided
        rows = d.rows[np.flatnonzero(batch.fresh)].tolist()
        devices = d.batch.device_id[rows].tolist()
        by_device = self.by_device
        out = Changes()
        for row, device_id in zip(rows, devices, strict=True):
            if device_id not in by_device:
                continue
            ts, received = float(d.batch.ts[row]), float(d.batch.received_at[row])
            for c in by_device[device_id]:
                key = EpisodeKey(c.supervisee_id, c.subject, KIND)
                if c.answered_by(ts, received) and not self._answered(staging, key, c):
                    out.fold(staging, key, Verdict.COMPLIANT, ts, float(d.batch.lon[row]),
                             float(d.batch.lat[row]), c.device_id, SEVERITY, 1)
        return out

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        out = Changes()
        r = self.roster
        settled = True  # every request before ``i`` is decided for good
        i = self._next
        while i < len(self.due) and self.due[i].decided_at() <= now:
            c = self.due[i]
            i += 1
            key = EpisodeKey(c.supervisee_id, c.subject, KIND)
            st = staging.state(key)
            if (c.decided_at() >= now - STALE_AFTER_S and not st.open
                    and not self._answered(staging, key, c)
                    and r.plan_of[c.supervisee_id].applies(KIND)
                    and r.suppressed(c.supervisee_id, KIND, c.deadline,
                                     Verdict.VIOLATING) == Verdict.VIOLATING):
                # Missed as of the deadline (the alert's start); raised now.
                out.fold(staging, key, Verdict.VIOLATING, max(c.deadline, st.last_ts),
                         math.nan, math.nan, c.device_id, SEVERITY, 1)
                # Decided once the tick's changes are stored: until then (the database may
                # refuse them) the next tick looks again, and finds the episode open.
                settled = False
            if settled:
                self._next = i
        return out

    def forget(self) -> None:
        self._next = 0

    @staticmethod
    def _answered(staging: Staging, key: EpisodeKey, c: CheckIn) -> bool:
        """An answer folded already: the key holds the time of a fix in the window."""
        st = staging.state(key)
        return not st.open and c.requested_at <= st.last_ts <= c.deadline
