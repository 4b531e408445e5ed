"""Low battery: a warning and a critical episode per device, confirmed, with hysteresis, and
cleared by charging — also after a restart."""

from __future__ import annotations

from alerts.episodes import EpisodeTracker
from alerts.evaluator import Evaluator
from devices.fixes import Fix, FixBatch
from devices.models import Device, Supervisee
from tests.test_evaluator import fold_and_commit

FAR = (0.05, 0.05)  # no zone anywhere near


def evaluator() -> Evaluator:
    people = {p: Supervisee(p, p, "j", ()) for p in ("p1", "p2")}
    devices = {"br-1": Device("br-1", "p1", "bracelet"), "ph-1": Device("ph-1", "p1"),
               "br-2": Device("br-2", "p2", "bracelet")}
    return Evaluator(devices, people, [])


def readings(device: str, start: float, *levels: float) -> FixBatch:
    return FixBatch.from_fixes([Fix(device, start + i, *FAR, 5.0, b, start + i, "native")
                                for i, b in enumerate(levels)])


def run(ev: Evaluator, tracker: EpisodeTracker, batch: FixBatch) -> list[tuple[str, str, str]]:
    return [(c.action, c.key.kind, c.key.subject) for c in fold_and_commit(ev, tracker, batch)]


def test_draining_battery_warns_then_turns_critical_then_charging_clears_both():
    ev, tracker = evaluator(), EpisodeTracker(2)
    assert run(ev, tracker, readings("br-1", 0, 60, 40, 21, 20)) == []  # one low reading
    assert run(ev, tracker, readings("br-1", 10, 19, 15)) == [
        ("opened", "low_battery_warning", "br-1")]
    assert run(ev, tracker, readings("br-1", 20, 10, 9, 8)) == [
        ("opened", "low_battery_critical", "br-1")]
    # On the charger: 12 % is in the critical level's band (neither low nor cleared) …
    assert run(ev, tracker, readings("br-1", 30, 12, 14)) == []
    # … 16 % and 17 % clear it; the warning clears above 25 %.
    assert run(ev, tracker, readings("br-1", 40, 16, 17)) == [
        ("cleared", "low_battery_critical", "br-1")]
    assert run(ev, tracker, readings("br-1", 50, 24, 26, 30)) == [
        ("cleared", "low_battery_warning", "br-1")]


def test_a_battery_hovering_at_the_threshold_raises_one_alert_not_a_flood():
    ev, tracker = evaluator(), EpisodeTracker(2)
    hovering = [20, 21, 20, 22, 19, 21, 20, 23, 20, 21] * 5
    changes = run(ev, tracker, readings("br-2", 0, *hovering))
    assert changes == [("opened", "low_battery_warning", "br-2")]


def test_fixes_without_a_battery_reading_change_nothing_and_devices_are_apart():
    ev, tracker = evaluator(), EpisodeTracker(2)
    assert run(ev, tracker, readings("ph-1", 0, 5, 5)) == [
        ("opened", "low_battery_warning", "ph-1"), ("opened", "low_battery_critical", "ph-1")]
    nan = float("nan")
    assert run(ev, tracker, readings("ph-1", 10, nan, nan, nan)) == []
    # The bracelet of the same person has its own battery.
    assert run(ev, tracker, readings("br-1", 10, 90, 90)) == []


def test_an_open_battery_alert_still_clears_after_a_restart():
    tracker = EpisodeTracker(2)
    assert len(run(evaluator(), tracker, readings("br-1", 0, 15, 15))) == 1
    # A new engine: the tracker is rebuilt from the live alerts, the evaluator from scratch.
    restored = EpisodeTracker(2)
    for key, state in tracker.states.items():
        if state.open:
            restored.restore_open(key, state.alert_id)
    assert run(evaluator(), restored, readings("br-1", 100, 80, 81)) == [
        ("cleared", "low_battery_warning", "br-1")]
