"""Lost contact: no message from any of a supervisee's devices for longer than expected.

Each device is expected again one reporting interval after its last message (a buffered bracelet
uploads every few minutes: its interval is that). The supervisee is out of contact when every
device they were ever heard from is overdue by more than the plan's grace. The grace is long
enough to ride out ordinary coverage gaps (a lift, a basement, a dead zone on the road), which
is what keeps this alert trustworthy; the episode's start is the last message heard, and any
message clears it.

>>> out_of_contact(np.array([0, 0, 1]), np.array([100.0, 900.0, 100.0]),
...                np.array([60.0, 600.0, 60.0]), np.array([1800.0, 1800.0]), 2, now=2000.0)
(array([False,  True]), array([900., 100.]))
"""

from __future__ import annotations

import numpy as np

KIND = "lost_contact"
SEVERITY = "high"


def out_of_contact(subject: np.ndarray, last_message: np.ndarray, interval_s: np.ndarray,
                   grace_s: np.ndarray, n_subjects: int, now: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per subject: whether it is out of contact, and when it was last heard from (NaN: never).
    ``subject``, ``last_message`` and ``interval_s`` are per device; ``grace_s`` per subject."""
    heard = ~np.isnan(last_message) & (subject >= 0)
    due = np.full(n_subjects, -np.inf)
    last = np.full(n_subjects, -np.inf)
    np.maximum.at(due, subject[heard], (last_message + interval_s)[heard])
    np.maximum.at(last, subject[heard], last_message[heard])
    ever = np.isfinite(due)
    return ever & (now > due + grace_s), np.where(ever, last, np.nan)
