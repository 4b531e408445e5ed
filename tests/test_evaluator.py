"""The evaluation step on a batch: fix-time order per supervisee, late and repeated fixes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from shapely.geometry import box

from alerts.episodes import AlertChange, EpisodeTracker
from alerts.evaluator import Evaluator
from devices.events import DeviceEvent
from devices.fixes import Fix, FixBatch
from devices.models import Device, Supervisee
from geofence.zones import Zone

# An exclusion zone of ~1.1 km around (0.005, 0.005); fixes with 5 m accuracy are certain.
ZONE = Zone("school", "School", "exclusion", "polygon", box(0, 0, 0.01, 0.01))
IN, OUT = (0.005, 0.005), (0.05, 0.05)


def evaluator() -> Evaluator:
    people = {p: Supervisee(p, p, "j", ("school",)) for p in ("p1", "p2")}
    devices = {"br-1": Device("br-1", "p1", "bracelet"), "ph-1": Device("ph-1", "p1"),
               "br-2": Device("br-2", "p2", "bracelet")}
    return Evaluator(devices, people, [ZONE])


def fixes(*rows: tuple[str, float, tuple[float, float]]) -> FixBatch:
    return FixBatch.from_fixes([Fix(d, t, x, y, 5.0, float("nan"), t, "native")
                                for d, t, (x, y) in rows])


def fold_and_commit(ev: Evaluator, tracker: EpisodeTracker, batch: FixBatch,
                    events: Sequence[DeviceEvent] = ()) -> list[AlertChange]:
    """Evaluate a batch and commit it, as the pipeline does once it is stored."""
    staging = tracker.stage()
    decided = ev.decide(batch, events)
    changes = ev.fold(decided, staging)
    for i, c in enumerate(changes):
        staging.set_alert_id(c, i + 1)
    tracker.commit(staging)
    ev.record(decided)
    return changes


def tick_and_commit(ev: Evaluator, tracker: EpisodeTracker, now: float) -> list[AlertChange]:
    """Run the clock's rules and commit, as the pipeline's timer does."""
    staging = tracker.stage()
    changes = ev.tick(now, staging)
    for i, c in enumerate(changes):
        staging.set_alert_id(c, 1000 + i)
    tracker.commit(staging)
    return changes


def run(ev: Evaluator, tracker: EpisodeTracker, batch: FixBatch) -> list[tuple[str, str, float]]:
    return [(c.action, c.key.supervisee_id, c.at) for c in fold_and_commit(ev, tracker, batch)]


def test_fixes_of_one_person_count_together_in_fix_time_order_whatever_the_batch_order():
    rows = [("br-1", 10.0, IN), ("ph-1", 20.0, IN), ("br-2", 15.0, IN), ("br-1", 30.0, OUT),
            ("ph-1", 40.0, OUT)]
    want = [("opened", "p1", 10.0), ("cleared", "p1", 30.0)]
    for seed in range(5):
        shuffled = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
        assert run(evaluator(), EpisodeTracker(2), fixes(*shuffled)) == want


def test_a_compliant_fix_after_a_violating_one_in_the_same_batch_breaks_the_streak():
    ev, tracker = evaluator(), EpisodeTracker(2)
    assert run(ev, tracker, fixes(("br-2", 1.0, IN), ("br-2", 2.0, OUT),
                                  ("br-2", 3.0, IN))) == []
    assert run(ev, tracker, fixes(("br-2", 4.0, IN))) == [("opened", "p2", 3.0)]


def test_a_fix_repeated_in_a_batch_confirms_nothing_and_late_fixes_are_skipped():
    ev, tracker = evaluator(), EpisodeTracker(2)
    assert run(ev, tracker, fixes(("br-1", 5.0, IN), ("br-1", 5.0, IN))) == []
    assert run(ev, tracker, fixes(("br-1", 6.0, IN))) == [("opened", "p1", 5.0)]
    # Older than the device's newest evaluated fix: stored elsewhere, judged never.
    assert run(ev, tracker, fixes(("br-1", 1.0, OUT), ("br-1", 2.0, OUT))) == []
    assert tracker.clocks["br-1"] == 6.0
