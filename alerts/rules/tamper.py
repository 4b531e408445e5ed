"""Strap and case tamper: the bracelet reports them itself, so each event is certain.

``strap_tamper`` opens a ``strap_tamper`` episode on the bracelet and ``strap_restored`` clears
it; ``case_open`` / ``case_closed`` do the same for ``case_tamper``. One event is enough (no
confirmation): a device does not report a cut strap by jitter.

>>> TAMPER_EVENTS["case_open"]
('case_tamper', <Verdict.VIOLATING: 1>)
"""

from __future__ import annotations

from alerts.verdict import Verdict

SEVERITY = "critical"
TAMPER_EVENTS: dict[str, tuple[str, Verdict]] = {
    "strap_tamper": ("strap_tamper", Verdict.VIOLATING),
    "strap_restored": ("strap_tamper", Verdict.COMPLIANT),
    "case_open": ("case_tamper", Verdict.VIOLATING),
    "case_closed": ("case_tamper", Verdict.COMPLIANT),
}
