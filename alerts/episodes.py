"""Violation episodes: from a stream of per-fix verdicts to one alert per episode.

An episode opens after ``confirm_fixes`` consecutive certain VIOLATING verdicts and clears after
as many consecutive certain COMPLIANT ones. UNKNOWN verdicts (uncertain fixes) change nothing:
they neither confirm nor break a streak. So jitter at a boundary cannot open or clear an alert.

A streak must also be *continuous*: a certain verdict more than ``max_gap_s`` after the previous
one of the streak starts a new streak. A receiver's outliers — a multipath fix 200 m off that
claims 10 m — are rare and isolated; two or three of them hours apart, with only uncertain fixes
between, are not a person who left. And verdicts are folded in fix-time order per episode: one
older than a verdict already folded (a buffered upload arriving after the phone's newer fixes)
is stored, but changes nothing.

Changes are staged: :meth:`EpisodeTracker.stage` returns a :class:`Staging` that the caller folds
verdicts into, persists, and only then :meth:`~EpisodeTracker.commit` s — a batch whose storage
fails leaves the tracker as it was, and its redelivery is judged afresh.

>>> t = EpisodeTracker(confirm_fixes=2)
>>> s = t.stage()
>>> key = EpisodeKey("p1", "zone-1", "exclusion_entry")
>>> [s.fold(key, v, ts, 0, 0, "dev") for v, ts in
...     [(Verdict.VIOLATING, 1), (Verdict.UNKNOWN, 2), (Verdict.VIOLATING, 3)]][-1].action
'opened'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from alerts.verdict import Verdict


class EpisodeKey(NamedTuple):
    supervisee_id: str
    subject: str  # the zone id (or other subject of the rule)
    kind: str  # the alert kind, e.g. "exclusion_entry"


@dataclass(frozen=True, slots=True)
class EpisodeState:
    open: bool = False
    alert_id: int | None = None
    streak: int = 0  # consecutive certain verdicts against the current state
    streak_ts: float = 0.0  # fix time of the first of them
    streak_lon: float = 0.0
    streak_lat: float = 0.0
    streak_last: float = 0.0  # fix time of the newest of them
    last_ts: float = -math.inf  # fix time of the newest certain verdict folded


@dataclass(slots=True)
class AlertChange:
    """An episode opened or cleared. ``alert_id`` is filled in once the change is stored."""

    action: str  # "opened" | "cleared"
    key: EpisodeKey
    device_id: str
    at: float  # fix time the episode started (opened) or ended (cleared)
    lon: float
    lat: float
    severity: str = "high"
    alert_id: int | None = None


class Staging:
    """Episode changes of one batch, not yet committed to the tracker."""

    def __init__(self, tracker: EpisodeTracker):
        self._tracker = tracker
        self.states: dict[EpisodeKey, EpisodeState] = {}
        self.changes: list[AlertChange] = []
        self.clocks: dict[str, float] = {}

    @property
    def confirm_fixes(self) -> int:
        """The tracker's confirmation (certain verdicts in a row) where a rule sets none."""
        return self._tracker.confirm_fixes

    @property
    def max_gap_s(self) -> float:
        """The tracker's continuity: the longest gap between the verdicts of a streak."""
        return self._tracker.max_gap_s

    def device_clock(self, device_id: str) -> float:
        """Fix time of the newest fix already evaluated for a device (-inf if none)."""
        clock = self.clocks.get(device_id)
        return clock if clock is not None else self._tracker.clocks.get(device_id, -np.inf)

    def advance_clock(self, device_id: str, ts: float) -> None:
        if ts > self.device_clock(device_id):
            self.clocks[device_id] = ts

    def has_state(self, key: EpisodeKey) -> bool:
        """Whether the key has an episode or a streak under way (else it is at rest)."""
        return key in self.states or key in self._tracker.states

    def keys_of_kinds(self, kinds: frozenset[str]) -> set[EpisodeKey]:
        """Every key of these kinds with an episode open or a streak under way (or that had
        one: a superset)."""
        return {key for states in (self._tracker.states, self.states)
                for key in states if key.kind in kinds}

    def keys_of_kind(self, kind: str) -> set[EpisodeKey]:
        return self.keys_of_kinds(frozenset({kind}))

    def state(self, key: EpisodeKey) -> EpisodeState:
        return self.states.get(key) or self._tracker.states.get(key) or EpisodeState()

    def fold(
        self,
        key: EpisodeKey,
        verdict: Verdict,
        ts: float,
        lon: float,
        lat: float,
        device_id: str,
        severity: str = "high",
        confirm: int | None = None,
        confirm_s: float = 0.0,
        max_gap_s: float | None = None,
    ) -> AlertChange | None:
        """Fold one verdict, in fix-time order; return the change it causes, if any.

        ``confirm`` (default: the tracker's ``confirm_fixes``) consecutive certain verdicts
        against the state, none more than ``max_gap_s`` (default: the tracker's) after the one
        before, spanning at least ``confirm_s`` seconds, change it."""
        if verdict == Verdict.UNKNOWN:
            return None
        st = self.state(key)
        if ts < st.last_ts:
            return None  # late: a newer verdict has been folded
        against = (verdict == Verdict.VIOLATING) != st.open
        if not against:
            if st.streak or ts != st.last_ts:
                self.states[key] = replace(st, streak=0, last_ts=ts)
            return None
        gap = self._tracker.max_gap_s if max_gap_s is None else max_gap_s
        if st.streak == 0 or ts - st.streak_last > gap:
            st = replace(st, streak=0, streak_ts=ts, streak_lon=lon, streak_lat=lat)
        st = replace(st, streak=st.streak + 1, streak_last=ts, last_ts=ts)
        change = None
        need = self._tracker.confirm_fixes if confirm is None else confirm
        if st.streak >= need and ts - st.streak_ts >= confirm_s:
            opened = not st.open
            change = AlertChange(
                "opened" if opened else "cleared",
                key,
                device_id,
                st.streak_ts,
                st.streak_lon,
                st.streak_lat,
                severity,
                None if opened else st.alert_id,
            )
            self.changes.append(change)
            st = EpisodeState(open=opened, last_ts=ts)
        self.states[key] = st
        return change

    def set_alert_id(self, change: AlertChange, alert_id: int) -> None:
        change.alert_id = alert_id
        if change.action == "opened":
            self.states[change.key] = replace(self.state(change.key), alert_id=alert_id)


class EpisodeTracker:
    """The committed episode state of every (supervisee, subject, kind)."""

    def __init__(self, confirm_fixes: int = 2, max_gap_s: float = math.inf):
        if confirm_fixes < 1:
            raise ValueError("confirm_fixes must be at least 1")
        self.confirm_fixes = confirm_fixes
        self.max_gap_s = max_gap_s
        self.states: dict[EpisodeKey, EpisodeState] = {}
        self.clocks: dict[str, float] = {}

    def stage(self) -> Staging:
        return Staging(self)

    def commit(self, staging: Staging) -> None:
        self.states.update(staging.states)
        self.clocks.update(staging.clocks)

    def restore_open(self, key: EpisodeKey, alert_id: int) -> None:
        """Rebuild an open episode from storage (at start-up)."""
        self.states[key] = EpisodeState(open=True, alert_id=alert_id)

    def open_count(self) -> int:
        return sum(1 for s in self.states.values() if s.open)
