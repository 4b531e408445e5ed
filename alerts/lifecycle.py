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
    ESCALATED = "escalated"  # nobody acknowledged in time: the status stays, the alert is raised


_RESULT = {
    Action.ACKNOWLEDGED: Status.ACKNOWLEDGED,
    Action.RESOLVED: Status.RESOLVED,
    Action.CLEARED: Status.CLEARED,
}
_ALLOWED_FROM = {
    Action.ACKNOWLEDGED: frozenset({Status.OPEN}),
    Action.RESOLVED: LIVE,
    Action.CLEARED: LIVE,
    Action.ESCALATED: frozenset({Status.OPEN}),
}
# What a person may do through the API; the others are the engine's.
BY_PEOPLE = frozenset({Action.ACKNOWLEDGED, Action.RESOLVED})


class TransitionRefused(Exception):
    """The action does not apply to the alert in its current state (or lacks its note)."""


def next_status(current: Status, action: Action, note: str | None = None) -> Status:
    """The status after ``action``, or :class:`TransitionRefused` with the reason."""
    if action not in _ALLOWED_FROM:
        raise TransitionRefused(f"{action} is not a step an existing alert can take")
    if current not in _ALLOWED_FROM[action]:
        raise TransitionRefused(f"alert is already {current}: it cannot be {action.value}")
    if action == Action.RESOLVED and not (note and note.strip()):
        raise TransitionRefused("resolving an alert needs a note saying what was done")
    return _RESULT.get(action, current)
