"""Episodes: confirmation, uncertain fixes change nothing, staged until stored."""

from __future__ import annotations

from alerts.episodes import EpisodeKey, EpisodeTracker
from alerts.verdict import Verdict

V, C, U = Verdict.VIOLATING, Verdict.COMPLIANT, Verdict.UNKNOWN
KEY = EpisodeKey("p1", "zone-1", "exclusion_entry")


def run(tracker: EpisodeTracker, verdicts):
    staging = tracker.stage()
    changes = []
    for i, v in enumerate(verdicts):
        change = staging.fold(KEY, v, float(i), 0.0, 0.0, "dev-1")
        if change:
            changes.append((i, change.action, change.at))
            if change.action == "opened":
                staging.set_alert_id(change, 100 + i)
    tracker.commit(staging)
    return changes


def test_opens_after_confirmation_and_clears_the_same_way():
    t = EpisodeTracker(confirm_fixes=2)
    # One violating fix is not enough; the episode starts at the first of the confirming fixes.
    assert run(t, [C, V, C, V, V, V, C, V, C, C]) == [(4, "opened", 3.0), (9, "cleared", 8.0)]


def test_uncertain_fixes_neither_confirm_nor_break_a_streak():
    t = EpisodeTracker(confirm_fixes=3)
    assert run(t, [V, U, U, V, U, V]) == [(5, "opened", 0.0)]
    assert run(t, [U] * 50) == []
    assert t.states[KEY].open


def test_jitter_alone_opens_nothing():
    t = EpisodeTracker(confirm_fixes=2)
    assert run(t, [C, V, C, V, U, C, V, U, C] * 20) == []


def test_cleared_alert_carries_the_id_of_the_opened_one():
    t = EpisodeTracker(confirm_fixes=1)
    staging = t.stage()
    opened = staging.fold(KEY, V, 1.0, 0, 0, "d")
    staging.set_alert_id(opened, 42)
    t.commit(staging)
    staging = t.stage()
    cleared = staging.fold(KEY, C, 2.0, 0, 0, "d")
    assert (cleared.action, cleared.alert_id) == ("cleared", 42)


def test_uncommitted_staging_leaves_the_tracker_unchanged():
    t = EpisodeTracker(confirm_fixes=1)
    staging = t.stage()
    assert staging.fold(KEY, V, 1.0, 0, 0, "d").action == "opened"
    staging.advance_clock("d", 1.0)
    # The batch failed to store: nothing committed, so the retry is judged afresh.
    assert KEY not in t.states and "d" not in t.clocks
    retry = t.stage()
    assert retry.fold(KEY, V, 1.0, 0, 0, "d").action == "opened"
