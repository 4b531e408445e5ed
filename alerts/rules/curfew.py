"""Curfew: at home while the curfew is in force (an inclusion zone on a schedule).

Fix by fix it is the inclusion rule with its own alert kind: certainly outside the home zone
while the schedule is active violates; inside, or any time outside the schedule, complies (so an
episode under way clears when the curfew ends). Two cases need a clock rather than a fix, and
are handled by :mod:`alerts.timers` when a curfew begins:

- the person is already away: their last position, if recent, certainly outside → ``curfew``
  from the instant the curfew began, without waiting for the next fix;
- the person is silent (no message for the reporting interval plus grace) →
  ``curfew_unverified``: nobody knows whether they are home.
"""

from __future__ import annotations

from alerts.rules.inclusion import InclusionZoneRule


class CurfewRule(InclusionZoneRule):
    alert_kind = "curfew"
    severity = "high"


UNVERIFIED_KIND = "curfew_unverified"
