"""What the silence rules share: an episode opened on a device by the clock, and closed by the
device's next message.

:mod:`~alerts.rules.device_off` and :mod:`~alerts.rules.no_fix` open one per device when the
clock says so (:func:`raise_per_device`); they, :mod:`~alerts.rules.lost_contact` and the
unverified curfew (:mod:`~alerts.rules.curfew`) clear theirs when the device, or the person,
is heard from again. Who may have such an episode under way is one watch set, kept by the
:class:`~alerts.roster.Roster`, so that a batch from anyone else costs no look at the state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import numpy as np

from alerts.episodes import EpisodeKey, Staging
from alerts.rules.base import Batch, Changes
from alerts.verdict import Verdict

if TYPE_CHECKING:
    from alerts.roster import Roster


def raise_per_device(roster: Roster, staging: Staging, due: np.ndarray, kind: str,
                     severity: str, at: np.ndarray, out: Changes) -> None:
    """Open (once) a ``kind`` episode on each supervisee device where ``due``, dated ``at``;
    the next message from the device clears it."""
    watch = roster.heard_watch(staging)
    for n in np.flatnonzero(due & (roster.sup_of_device >= 0)).tolist():
        d = roster.device_ids[n]
        sid = roster.devices[d].supervisee_id
        assert sid is not None
        if not roster.plan_of[sid].applies(kind):
            continue
        watch.add(d)
        t = float(at[n])
        out.fold(staging, EpisodeKey(sid, d, kind),
                 roster.suppressed(sid, kind, t, Verdict.VIOLATING), t, math.nan, math.nan, d,
                 severity, 1)


def heard_again(roster: Roster, batch: Batch, staging: Staging, by: Literal["device", "person"],
                fixes_only: bool = False) -> Iterator[tuple[str, str, float]]:
    """(device, supervisee, when) of each supervisee device heard from in ``batch`` whose
    device (``by="device"``) or person (``by="person"``) is on the watch: those that may have
    a silence episode under way, for the caller to clear. ``fixes_only``: heard through a fresh
    fix, not an event alone."""
    heard, fixed = batch.heard
    if not heard:
        return
    watch = roster.heard_watch(staging)
    for d, t in heard.items():
        sid = roster.devices[d].supervisee_id
        if sid is None or (fixes_only and d not in fixed):
            continue
        if (d if by == "device" else sid) in watch:
            yield d, sid, t
