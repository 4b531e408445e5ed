"""Supervision rules, one module each, each a handler with its whole logic and state.

Every rule follows one protocol, :class:`~alerts.rules.base.Rule`:

- ``kinds`` — the alert kinds it opens and clears;
- ``fold(batch, staging)`` — fold a decided :class:`~alerts.rules.base.Batch` (the fresh fixes,
  with their zone and battery verdicts, and the device events, by device then time) into the
  staged episodes; returns the :class:`~alerts.episodes.AlertChange` it caused, in order;
- ``tick(now, staging)`` — the same for time passing alone (most rules: nothing);
- ``forget()`` — the episode state changed behind the rule's back: drop what it derived from it.

A rule is built from the registry, as the :class:`~alerts.roster.Roster` numbers it (devices,
supervisees, plans, zone assignments, the device :class:`~alerts.activity.Activity`), plus what
only it reads (pairings, protection orders). The evaluator builds them all and calls them in
one fixed order (:func:`alerts.evaluator.build_rules`), since some read what another staged
before them in the same batch or tick. State that must survive a registry reload is never a
rule's: episodes, device clocks and link states live in the
:class:`~alerts.episodes.EpisodeTracker`, what each device did last in the
:class:`~alerts.activity.Activity`.

The rules:

- zones — :mod:`~alerts.rules.exclusion`, :mod:`~alerts.rules.inclusion` and the curfew window
  (:mod:`~alerts.rules.curfew`) map geofence decisions to verdicts when a batch is decided, and
  share one fold, :mod:`~alerts.rules.zones`;
- the fixes of a person or a pair over time: :mod:`~alerts.rules.pass_through`,
  :mod:`~alerts.rules.victim`, :mod:`~alerts.rules.separation` (and its link events);
- readings and events: :mod:`~alerts.rules.battery`, :mod:`~alerts.rules.tamper`;
- silence, on the clock and cleared by the next message (:mod:`~alerts.rules.silence`):
  :mod:`~alerts.rules.device_off`, :mod:`~alerts.rules.lost_contact`,
  :mod:`~alerts.rules.no_fix`, and a curfew that begins while the person is away or silent
  (:mod:`~alerts.rules.curfew`);
- the legal basis: :mod:`~alerts.rules.order_ending`, on the clock, warns before a person's
  positioning orders run out.
- check-ins (信息化核查): :mod:`~alerts.rules.check_in_missed`, on the clock, raises when a
  phone asked for its position did not answer by the deadline.
- leave (外出请假) and standing permits: :mod:`~alerts.rules.leave_overdue` binds an approved
  leave's destination and, on the clock, raises ``leave_overdue`` (未归) for a person not back
  by its end.
- people together, and phones apart from them (from Chinese practice):
  :mod:`~alerts.rules.gathering` (聚集: supervisees within ``gathering_m`` of each other for
  ``gathering_min_s``, found in a spatial hash) and :mod:`~alerts.rules.phone_left_behind`
  (手机未移动: a bracelet-less person's phone still through ``phone_still_hours`` of waking
  hours; its anchors in the activity).
"""

from __future__ import annotations

from alerts.rules.base import Batch, BatchRule, Changes, Decided, Rule
from alerts.rules.curfew import CurfewRule
from alerts.rules.exclusion import ExclusionZoneRule
from alerts.rules.inclusion import InclusionZoneRule
from alerts.rules.zones import ZONE_RULES, ZoneRule, zone_rule_name

__all__ = ["ZONE_RULES", "Batch", "BatchRule", "Changes", "CurfewRule", "Decided",
           "ExclusionZoneRule", "InclusionZoneRule", "Rule", "ZoneRule", "zone_rule_name"]
