"""What a rule is handed, and what it must offer: the :class:`Rule` protocol.

A batch reaches the rules as a :class:`Batch`: the evaluator's :class:`Decided` (zone verdicts per
fix and assignment, battery verdicts per fix, the device events) and which of its fixes are
*fresh* (newer than the last fix already evaluated for their device; the others are stored but
fold into nothing). Each rule folds what concerns it into the staged episodes and returns the
changes, in the order it folded them; the clock's rules do the same on :meth:`Rule.tick`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.verdict import Verdict
from devices.events import DeviceEvent
from devices.fixes import FixBatch, newest_of_each


@dataclass(frozen=True, slots=True)
class Decided:
    """A batch's verdicts, one per (fix, assignment) pair, fixes in fold order."""

    batch: FixBatch
    rows: np.ndarray  # batch rows in fold order: by supervisee, fix time, device
    device_no: np.ndarray  # the device of each of those rows
    pair_fix: np.ndarray  # index into ``rows``
    pair_assignment: np.ndarray
    pair_rule: np.ndarray
    verdicts: np.ndarray
    battery_verdicts: np.ndarray  # per battery level (rows) and fix in ``rows`` (columns)
    numbering: Sequence[str]  # the device ids ``device_no`` counts in: the deciding evaluator's
    events: tuple[DeviceEvent, ...] = field(default=())  # by device, then time


class Batch:
    """One fold's input: a decided batch, and which of its fixes (in ``rows`` order) are fresh."""

    def __init__(self, decided: Decided, fresh: np.ndarray):
        self.decided = decided
        self.fresh = fresh
        self.any_fresh = bool(fresh.any())

    @property
    def events(self) -> tuple[DeviceEvent, ...]:
        return self.decided.events

    @cached_property
    def heard(self) -> tuple[dict[str, float], set[str]]:
        """The newest instant each device was heard from (its fresh fixes, and its events but
        ``power_off``), and the devices among them that sent a fresh fix. Several rules ask:
        computed once."""
        d = self.decided
        batch, rows = d.batch, d.rows
        heard: dict[str, float] = {}
        sel = np.flatnonzero(self.fresh)
        if len(sel):
            last = sel[newest_of_each(d.device_no[sel], batch.ts[rows[sel]])]
            devices = batch.device_id[rows[last]].tolist()
            heard = dict(zip(devices, batch.ts[rows[last]].tolist(), strict=True))
        fixed = set(heard)
        for e in d.events:
            if e.event != "power_off":
                heard[e.device_id] = max(heard.get(e.device_id, e.ts), e.ts)
        return heard, fixed


def resized(values: np.ndarray, n: int, fill: object) -> np.ndarray:
    """A copy of ``values`` (by number) for ``n`` numbers, those beyond filled with ``fill``
    (a rule patching itself after a registry change, see :meth:`alerts.roster.Roster.patched`:
    numbers are never reused for another person, only added)."""
    out = np.full(n, fill, dtype=values.dtype)
    out[:min(n, len(values))] = values[:n]
    return out


class Changes(list[AlertChange]):
    """The changes one rule made, in order; folds that change nothing add nothing."""

    def fold(self, staging: Staging, key: EpisodeKey, verdict: Verdict, ts: float,
             lon: float, lat: float, device_id: str, severity: str = "high",
             confirm: int | None = None, confirm_s: float = 0.0,
             max_gap_s: float | None = None) -> None:
        change = staging.fold(key, verdict, ts, lon, lat, device_id, severity, confirm,
                              confirm_s, max_gap_s)
        if change is not None:
            self.append(change)


class Rule(Protocol):
    """One kind of alert (or a family decided together), with its state. Built from the
    registry by the evaluator, rebuilt when the registry changes; state that must outlive a
    reload lives in the :class:`~alerts.episodes.EpisodeTracker` or the device
    :class:`~alerts.activity.Activity`, never in the rule."""

    kinds: frozenset[str]  # the alert kinds it opens and clears

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        """Fold a batch's fresh fixes and its events (by device, then time)."""
        ...

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        """Fold what time passing alone decides (nothing, for most rules)."""
        ...

    def forget(self) -> None:
        """Episode state changed behind the rule's back (another evaluator folded into it):
        drop what the rule derived from it."""
        ...


class BatchRule:
    """A rule decided by messages alone: no clock, nothing derived from the episode state."""

    kinds: frozenset[str] = frozenset()

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        raise NotImplementedError

    def tick(self, now: float, staging: Staging) -> list[AlertChange]:
        return []

    def forget(self) -> None:
        pass
