"""Strap and case tamper: the bracelet reports them itself, so each event is certain.

``strap_tamper`` opens a ``strap_tamper`` episode on the bracelet and ``strap_restored`` clears
it; ``case_open`` / ``case_closed`` do the same for ``case_tamper``. One event is enough (no
confirmation): a device does not report a cut strap by jitter.

>>> TAMPER_EVENTS["case_open"]
('case_tamper', <Verdict.VIOLATING: 1>)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, BatchRule, Changes
from alerts.verdict import Verdict

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange

SEVERITY = "critical"
TAMPER_EVENTS: dict[str, tuple[str, Verdict]] = {
    "strap_tamper": ("strap_tamper", Verdict.VIOLATING),
    "strap_restored": ("strap_tamper", Verdict.COMPLIANT),
    "case_open": ("case_tamper", Verdict.VIOLATING),
    "case_closed": ("case_tamper", Verdict.COMPLIANT),
}


class TamperRule(BatchRule):
    kinds = frozenset(kind for kind, _verdict in TAMPER_EVENTS.values())

    def __init__(self, roster: Roster):
        self.roster = roster

    def patched(self, roster: Roster, change: RosterChange) -> TamperRule:
        return TamperRule(roster)

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        r = self.roster
        for e in batch.events:
            sid = r.devices[e.device_id].supervisee_id
            if sid is None or e.event not in TAMPER_EVENTS:
                continue
            kind, verdict = TAMPER_EVENTS[e.event]
            if r.plan_of[sid].applies(kind):
                out.fold(staging, EpisodeKey(sid, e.device_id, kind),
                         r.suppressed(sid, kind, e.ts, verdict), e.ts, math.nan, math.nan,
                         e.device_id, SEVERITY, 1)
        return out
