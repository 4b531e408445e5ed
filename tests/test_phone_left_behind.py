"""phone_left_behind (手机未移动): a phone-only person's phone lying still through waking hours
(alerts/rules/phone_left_behind.py). Pure: no broker, no database."""

from __future__ import annotations

from alerts.episodes import EpisodeTracker
from alerts.evaluator import Evaluator
from alerts.plans import PlanError, SupervisionPlan
from devices.fixes import Fix, FixBatch
from devices.models import Device, Supervisee
from tests.test_evaluator import fold_and_commit
from tests.test_rules import HOME, at, east, home_zone

KIND = "phone_left_behind"


def evaluator(plan: SupervisionPlan | None = None, bracelet: bool = False,
              zones: bool = True, activity=None) -> Evaluator:
    zs = [home_zone()] if zones else []
    people = {"p1": Supervisee("p1", "P One", "j", tuple(z.id for z in zs),
                               plan.id if plan else None)}
    devices = {"ph-1": Device("ph-1", "p1")}
    if bracelet:
        devices["br-1"] = Device("br-1", "p1", "bracelet")
    return Evaluator(devices, people, zs, plans={plan.id: plan} if plan else None,
                     activity=activity)


def still_fixes(t0: float, t1: float, where=HOME, every: float = 600.0, acc: float = 30.0,
                jitter_m: float = 20.0) -> list[FixBatch]:
    """A phone lying still: a fix every ``every`` seconds, wandering ``jitter_m`` (indoor
    drift)."""
    out, t, k = [], t0, 0
    while t <= t1:
        x, y = east(jitter_m * ((k % 3) - 1), where)
        out.append(FixBatch.from_fixes([Fix("ph-1", t, x, y, acc, float("nan"), t,
                                            "owntracks")]))
        t += every
        k += 1
    return out


def run(ev: Evaluator, tr: EpisodeTracker, batches: list[FixBatch]) -> list[tuple[str, float]]:
    return [(c.action, c.at) for b in batches for c in fold_and_commit(ev, tr, b)
            if c.key.kind == KIND]


def test_opens_after_four_waking_hours_still_and_clears_when_the_phone_moves():
    ev, tr = evaluator(), EpisodeTracker(3)
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 11, 50))) == []
    opened = run(ev, tr, still_fixes(at(2026, 11, 18, 12, 0), at(2026, 11, 18, 13, 0)))
    assert opened == [("opened", at(2026, 11, 18, 12, 0))]
    # A walk: three fixes 600 m away, a minute apart, then home again.
    away = east(600)
    walk = [FixBatch.from_fixes([Fix("ph-1", t, *away, 10.0, float("nan"), t, "owntracks")])
            for t in (at(2026, 11, 18, 13, 5), at(2026, 11, 18, 13, 6), at(2026, 11, 18, 13, 7))]
    assert run(ev, tr, walk) == [("cleared", at(2026, 11, 18, 13, 7))]
    # Back home, the stillness starts afresh: an hour later nothing.
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 13, 20), at(2026, 11, 18, 14, 20))) == []


def test_nights_do_not_count_and_do_not_reset():
    ev, tr = evaluator(), EpisodeTracker(3)
    # Still from 20:00: two waking hours by 22:00, none overnight, two more by 10:00.
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 20, 0), at(2026, 11, 19, 9, 50))) == []
    assert run(ev, tr, still_fixes(at(2026, 11, 19, 10, 0), at(2026, 11, 19, 10, 30))) == [
        ("opened", at(2026, 11, 19, 10, 0))]


def test_jitter_wifi_fixes_and_one_multipath_jump_do_not_move_the_phone():
    ev, tr = evaluator(), EpisodeTracker(3)
    batches = still_fixes(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 12, 30))
    # A Wi-Fi fix 250 m off claiming 300 m, and a multipath jump 400 m off claiming 10 m.
    for t, metres, acc in ((at(2026, 11, 18, 9, 3), 250, 300.0),
                           (at(2026, 11, 18, 10, 3), 400, 10.0)):
        batches.append(FixBatch.from_fixes([Fix("ph-1", t, *east(metres), acc, float("nan"),
                                                t, "owntracks")]))
    batches.sort(key=lambda b: float(b.ts[0]))
    assert run(ev, tr, batches) == [("opened", at(2026, 11, 18, 12, 0))]


def test_a_person_with_a_bracelet_is_left_to_the_separation_rule():
    ev, tr = evaluator(bracelet=True), EpisodeTracker(3)
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 16, 0))) == []


def test_plan_settings_hours_waking_window_time_zone_and_switch():
    plan = SupervisionPlan.from_settings("p", {
        "phone_still_hours": 2, "waking_hours": "09:00-21:00",
        "waking_timezone": "America/Chicago"})
    ev, tr = evaluator(plan, zones=False), EpisodeTracker(3)  # no curfew: the plan's zone
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 7, 0), at(2026, 11, 18, 11, 0))) == [
        ("opened", at(2026, 11, 18, 11, 0))]
    off = SupervisionPlan.from_settings("off", {"rules": ["curfew"]})
    ev, tr = evaluator(off), EpisodeTracker(3)
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 16, 0))) == []
    for bad in ({"waking_hours": "8-22"}, {"waking_timezone": "Mars/Base"},
                {"gathering_codefendants_only": 1}):
        try:
            SupervisionPlan.from_settings("x", bad)
        except PlanError as exc:
            assert next(iter(bad)) in str(exc)
        else:
            raise AssertionError(bad)
    assert SupervisionPlan.from_settings("x", plan.to_settings()) == plan.__class__(
        **{**{f: getattr(plan, f) for f in plan.__slots__}, "id": "x"})


def test_the_anchor_outlives_a_registry_reload():
    ev, tr = evaluator(), EpisodeTracker(3)
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 11, 0))) == []
    again = evaluator(activity=ev.activity)
    assert run(again, tr, still_fixes(at(2026, 11, 18, 11, 10), at(2026, 11, 18, 12, 0))) == [
        ("opened", at(2026, 11, 18, 12, 0))]


def test_an_episode_restored_at_a_restart_waits_for_the_phone_to_move():
    ev, tr = evaluator(), EpisodeTracker(3)
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 12, 0))) == [
        ("opened", at(2026, 11, 18, 12, 0))]
    restarted = EpisodeTracker(3)  # as the engine rebuilds it: open episodes, no anchors
    for key, state in tr.states.items():
        if state.open:
            restarted.restore_open(key, state.alert_id or 1)
    ev = evaluator()
    assert run(ev, restarted, still_fixes(at(2026, 11, 18, 12, 30), at(2026, 11, 18, 13, 0))) \
        == []
    away = east(600)
    walk = [FixBatch.from_fixes([Fix("ph-1", t, *away, 10.0, float("nan"), t, "owntracks")])
            for t in (at(2026, 11, 18, 13, 5), at(2026, 11, 18, 13, 6), at(2026, 11, 18, 13, 7))]
    assert run(ev, restarted, walk) == [("cleared", at(2026, 11, 18, 13, 7))]


def test_a_silence_is_not_stillness():
    """Two hours still, three hours without a fix (switched off, flat, shielded: carried who
    knows where), then fixes at the same place: the waking hours count again from there."""
    ev, tr = evaluator(), EpisodeTracker(3)
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 10, 0))) == []
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 13, 0), at(2026, 11, 18, 16, 50))) == []
    assert run(ev, tr, still_fixes(at(2026, 11, 18, 17, 0), at(2026, 11, 18, 17, 30))) == [
        ("opened", at(2026, 11, 18, 17, 0))]
