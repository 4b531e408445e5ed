"""The alert lifecycle: what may happen to an alert, by whom, in which state.

An alert is opened by the engine when an episode is confirmed. From then on:

- an officer **acknowledges** it (once: acknowledging twice is refused, so two officers never
  both believe they took the same alert);
- an officer **resolves** it, with a note saying what was done (from open or acknowledged);
- the engine **clears** it when the condition has ended (confirmed the same way it opened).

Resolved and cleared are final. Every step is recorded with who and when (``alert_events``).

>>> next_status(Status.OPEN, Action.ACKNOWLEDGED)
<Status.ACKNOWLEDGED: 'acknowledged'>
>>> next_status(Status.ACKNOWLEDGED, Action.ACKNOWLEDGED)
Traceback (most recent call last):
...
alerts.lifecycle.TransitionRefused: alert is already acknowledged: it cannot be acknowledged
>>> next_status(Status.OPEN, Action.RESOLVED, note="  ")
Traceback (most recent call last):
...
alerts.lifecycle.TransitionRefused: resolving an alert needs a note saying what was done
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"  # by a person, with a note
    CLEARED = "cleared"  # by the engine: the condition ended


LIVE = frozenset({Status.OPEN, Status.ACKNOWLEDGED})


class Action(StrEnum):
    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLEARED = "cleared"


# Each step an existing alert can take: the states it may be taken from, and the state after.
_STEPS = {
    Action.ACKNOWLEDGED: (frozenset({Status.OPEN}), Status.ACKNOWLEDGED),
    Action.RESOLVED: (LIVE, Status.RESOLVED),
    Action.CLEARED: (LIVE, Status.CLEARED),
}


class TransitionRefused(Exception):
    """The action does not apply to the alert in its current state (or lacks its note)."""


def next_status(current: Status, action: Action, note: str | None = None) -> Status:
    """The status after ``action``, or :class:`TransitionRefused` with the reason."""
    if action not in _STEPS:
        raise TransitionRefused(f"{action} is not a step an existing alert can take")
    allowed_from, after = _STEPS[action]
    if current not in allowed_from:
        raise TransitionRefused(f"alert is already {current}: it cannot be {action.value}")
    if action == Action.RESOLVED and not (note and note.strip()):
        raise TransitionRefused("resolving an alert needs a note saying what was done")
    return after
