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

An episode at rest (closed, no streak under way) is kept for :data:`RESTING_KEPT_S` only, then
:meth:`~EpisodeTracker.prune` d; what concerns a device or supervisee no longer registered goes
at once (:meth:`~EpisodeTracker.forget`). The tracker outlives the evaluator, which is rebuilt at
every registry reload: so it also holds the bracelets' own word on their link to the phone.

>>> t = EpisodeTracker(confirm_fixes=2)
>>> s = t.stage()
>>> key = EpisodeKey("p1", "zone-1", "exclusion_entry")
>>> [s.fold(key, v, ts, 0, 0, "dev") for v, ts in
...     [(Verdict.VIOLATING, 1), (Verdict.UNKNOWN, 2), (Verdict.VIOLATING, 3)]][-1].action
'opened'
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Set
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from alerts.verdict import Verdict

# An episode at rest keeps the time of its last verdict only to turn away an older one arriving
# late (a redelivery, a buffered upload of events); this long after that verdict (by the
# engine's clock) it is no different from an episode that never began, and is dropped.
RESTING_KEPT_S = 86400.0


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
        self.links: dict[str, bool] = {}  # bracelet → its link to the phone is lost

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

    def link_lost(self, device_id: str) -> bool:
        """Whether the bracelet last said its link to the paired phone is lost."""
        lost = self.links.get(device_id)
        return lost if lost is not None else device_id in self._tracker.links_lost

    def set_link_lost(self, device_id: str, lost: bool) -> None:
        self.links[device_id] = lost

    def has_state(self, key: EpisodeKey) -> bool:
        """Whether the key has an episode or a streak under way (else it is at rest)."""
        return key in self.states or key in self._tracker.states

    def keys_of_kinds(self, kinds: frozenset[str]) -> set[EpisodeKey]:
        """Every key of these kinds with an episode open or a streak under way (or that had
        one: a superset). From the tracker's index by kind: the timers ask every tick, and
        the states of every other kind may be millions."""
        of_kind = self._tracker.of_kind
        return {key for kind in kinds for key in of_kind.get(kind, ())} | {
            key for key in self.states if key.kind in kinds}

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
        # Bracelets whose link to their phone is lost (not yet rebuilt at a restart).
        self.links_lost: set[str] = set()
        self.of_kind: dict[str, set[EpisodeKey]] = {}  # the keys of ``states`` by kind
        # Keys at rest, in the order they came to rest, with the time of their last verdict.
        self._resting: OrderedDict[EpisodeKey, float] = OrderedDict()

    def stage(self) -> Staging:
        return Staging(self)

    def commit(self, staging: Staging) -> None:
        resting = self._resting
        for key, st in staging.states.items():
            if key not in self.states:
                self.of_kind.setdefault(key.kind, set()).add(key)
            if st.open or st.streak:
                resting.pop(key, None)
            else:
                resting[key] = st.last_ts
                resting.move_to_end(key)
        self.states.update(staging.states)
        self.clocks.update(staging.clocks)
        for device, lost in staging.links.items():
            (self.links_lost.add if lost else self.links_lost.discard)(device)

    def restore_open(self, key: EpisodeKey, alert_id: int) -> None:
        """Rebuild an open episode from storage (at start-up)."""
        if key not in self.states:
            self.of_kind.setdefault(key.kind, set()).add(key)
        self._resting.pop(key, None)
        self.states[key] = EpisodeState(open=True, alert_id=alert_id)

    def prune(self, now: float) -> int:
        """Drop the episodes that came to rest more than :data:`RESTING_KEPT_S` before
        ``now``; returns how many. Takes them oldest first and stops at the first still
        kept, so each call costs what it drops."""
        before = now - RESTING_KEPT_S
        resting = self._resting
        dropped = 0
        while resting:
            key, last_ts = next(iter(resting.items()))
            if last_ts >= before:
                break
            resting.popitem(last=False)
            self._drop(key)
            dropped += 1
        return dropped

    def forget(self, devices: Set[str], supervisees: Set[str]) -> None:
        """Forget what concerns devices and supervisees no longer registered: episodes at rest
        or with a streak under way, device clocks, link states. An open episode stays: its
        alert is live in storage until a person resolves it (a restart restores it all the
        same), and a device registered again may still clear it."""
        if not devices and not supervisees:
            return
        gone = [key for key, st in self.states.items() if not st.open and (
            key.subject in devices or key.supervisee_id in supervisees)]
        for key in gone:
            self._resting.pop(key, None)
            self._drop(key)
        for device in devices:
            self.clocks.pop(device, None)
            self.links_lost.discard(device)

    def _drop(self, key: EpisodeKey) -> None:
        del self.states[key]
        keys = self.of_kind[key.kind]
        keys.discard(key)
        if not keys:
            del self.of_kind[key.kind]

    def open_count(self) -> int:
        return sum(1 for s in self.states.values() if s.open)
