"""Detection quality: an engine's alerts scored against the simulator's ground-truth labels.

Pure computation, no I/O, so that Cordon and the naive baseline (:mod:`benchmarks.naive_baseline`)
are scored by the same code on the same labels (:mod:`simulators.labels`).

Semantics
---------
**Kinds.** Each engine alert kind maps to the label kind it detects (:data:`ALERT_LABEL_KIND`):
``pass_through`` is an exclusion entry seen only on the segment between two fixes, both tamper
alerts detect ``tamper``, ``device_off`` detects ``battery_dead``, ``lost_contact`` detects
``silent``, both low-battery levels detect ``low_battery``. An alert of any other kind
(``curfew_unverified``, ``no_fix``, ...) has no ground truth: it is counted per kind under
``unlabelled_kinds`` and is a false alert.

**Match.** An alert matches a label when both are of the same supervisee, the alert's kind maps
to the label's kind, and the alert's span ``[opened_at, cleared_at]`` (``end`` while still open)
overlaps ``[label.start - tolerance_s, label.end + tolerance_s]``; touching counts. The tolerance
absorbs the honest disagreement between a noisy fix and the true crossing, and an episode that a
detector confirms a little after the person has left. One alert may match several labels (a
single long alert across two visits detects both) and one label several alerts (an episode
split in two by a flapping detector: both are true, and precision does not punish it — the
alert count per supervisee-day does, see below).

**Per label kind** (every kind of :data:`simulators.labels.KINDS`, plus any other that labels or
mapped alerts name):

- ``labels``, ``alerts`` (of the kinds that map to it), ``true_alerts`` (those matching at least
  one label), ``detected`` (labels matched by at least one alert);
- ``precision`` = true_alerts / alerts, ``recall`` = detected / labels; ``None`` when the
  denominator is 0 (no evidence is not a perfect score);
- ``delay_median_s``, ``delay_p99_s``: over detected labels, ``max(0, earliest raised_at of its
  matching alerts - label.start)`` — how long after the violation truly began an officer was
  told (0 when an alert was already open, or raised within the tolerance before the start);
  NumPy's linear-interpolation percentiles; ``None`` when nothing was detected.

**False alerts.** ``false_alerts`` counts the unmatched alerts (any kind, unlabelled kinds
included) of supervisees whose scripted scenario is ``compliant``; per supervisee-day it is
divided by ``compliant_supervisees * days`` with ``days = (end - start) / 86400`` (``None``
without compliant supervisees or time). Violators are left out of the rate because their
unlabelled time is not clean: an alert during an episode the tolerance does not reach may still
be about it. ``unmatched_alerts`` counts unmatched alerts of everyone, for reference.

>>> from simulators.labels import Label
>>> labels = [Label("S-1", "curfew", 1000.0, 2000.0)]
>>> alerts = [AlertRecord("S-1", "curfew", 1100.0, 1130.0, 1900.0),
...           AlertRecord("S-2", "curfew", 5000.0, 5000.0, None)]
>>> r = score(labels, alerts, {"S-1": "curfew", "S-2": "compliant"}, 0.0, 86400.0)
>>> c = r["kinds"]["curfew"]
>>> c["precision"], c["recall"], c["delay_median_s"]
(0.5, 1.0, 130.0)
>>> r["false_alerts"], r["false_alerts_per_supervisee_day"]
(1, 1.0)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.labels import KINDS, Label

__all__ = ["ALERT_LABEL_KIND", "AlertRecord", "score"]

ALERT_LABEL_KIND: dict[str, str] = {
    "exclusion_entry": "exclusion_entry",
    "pass_through": "exclusion_entry",
    "inclusion_exit": "inclusion_exit",
    "curfew": "curfew",
    "victim_proximity": "victim_proximity",
    "separation": "separation",
    "strap_tamper": "tamper",
    "case_tamper": "tamper",
    "device_off": "battery_dead",
    "lost_contact": "silent",
    "curfew_unverified": "silent",
    "low_battery_warning": "low_battery",
    "low_battery_critical": "low_battery",
    "gathering": "gathering",
    "phone_left_behind": "phone_left_behind",
}
COMPLIANT = "compliant"
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert as a detector raised it; times in Unix seconds, on the labels' clock."""

    supervisee: str
    kind: str  # the engine's alert kind
    opened_at: float  # fix or event time at which the episode began
    raised_at: float  # when the detector raised it
    cleared_at: float | None  # None: still open at the end


def score(labels: Sequence[Label], alerts: Sequence[AlertRecord], scenarios: Mapping[str, str],
          start: float, end: float, tolerance_s: float = 300.0) -> dict[str, Any]:
    """Precision, recall, delays per label kind and the compliant false-alert rate (JSON-able);
    ``scenarios`` maps supervisee id to the scripted kind (``Fleet.scenarios()``)."""
    labels_of: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, lb in enumerate(labels):
        labels_of[lb.supervisee, lb.kind].append(i)
    alerts_of: dict[tuple[str, str], list[int]] = defaultdict(list)
    unlabelled: Counter[str] = Counter()
    for j, al in enumerate(alerts):
        kind = ALERT_LABEL_KIND.get(al.kind)
        if kind is None:
            unlabelled[al.kind] += 1
        else:
            alerts_of[al.supervisee, kind].append(j)

    matched_alert = np.zeros(len(alerts), dtype=bool)
    first_raise = np.full(len(labels), np.inf)  # earliest raised_at of matching alerts
    for key, js in alerts_of.items():
        ls = labels_of.get(key)
        if not ls:
            continue
        a0 = np.array([alerts[j].opened_at for j in js])
        a1 = np.array([end if alerts[j].cleared_at is None else alerts[j].cleared_at
                       for j in js])
        raised = np.array([alerts[j].raised_at for j in js])
        l0 = np.array([labels[i].start for i in ls]) - tolerance_s
        l1 = np.array([labels[i].end for i in ls]) + tolerance_s
        hit = (a0[:, None] <= l1[None, :]) & (l0[None, :] <= a1[:, None])  # alerts × labels
        matched_alert[js] = hit.any(axis=1)
        first_raise[ls] = np.where(hit, raised[:, None], np.inf).min(axis=0)

    kinds = sorted(set(KINDS) | {lb.kind for lb in labels} | set(ALERT_LABEL_KIND.values()),
                   key=_kind_order)
    out_kinds: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        ls = [i for (_, k), idx in labels_of.items() if k == kind for i in idx]
        js = [j for (_, k), idx in alerts_of.items() if k == kind for j in idx]
        true_alerts = int(matched_alert[js].sum()) if js else 0
        raised = first_raise[ls] if ls else np.empty(0)
        found = np.isfinite(raised)
        delays = np.maximum(0.0, raised[found] - np.array([labels[i].start for i in ls])[found])
        out_kinds[kind] = {
            "labels": len(ls),
            "alerts": len(js),
            "true_alerts": true_alerts,
            "detected": int(found.sum()),
            "precision": _ratio(true_alerts, len(js)),
            "recall": _ratio(int(found.sum()), len(ls)),
            "delay_median_s": float(np.median(delays)) if len(delays) else None,
            "delay_p99_s": float(np.percentile(delays, 99)) if len(delays) else None,
        }

    compliant = {s for s, k in scenarios.items() if k == COMPLIANT}
    false_alerts = sum(1 for j, al in enumerate(alerts)
                       if not matched_alert[j] and al.supervisee in compliant)
    days = (end - start) / DAY_S
    exposure = len(compliant) * days
    return {
        "kinds": out_kinds,
        "unlabelled_kinds": dict(sorted(unlabelled.items())),
        "false_alerts_per_supervisee_day": false_alerts / exposure if exposure > 0 else None,
        "false_alerts": false_alerts,
        "unmatched_alerts": int((~matched_alert).sum()),
        "compliant_supervisees": len(compliant),
        "days": days,
    }


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _kind_order(kind: str) -> tuple[int, str]:
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)
