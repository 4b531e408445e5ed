"""Each supervision rule on its own: what opens an episode, what clears it, and what must not
(see alerts/rules/). Pure: no broker, no database."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.episodes import EpisodeTracker
from alerts.evaluator import Evaluator
from alerts.plans import SupervisionPlan
from alerts.suppressions import Suppression, Suppressions
from devices.events import DeviceEvent
from devices.fixes import Fix, FixBatch
from devices.models import Device, Pairing, ProtectionOrder, Supervisee
from geofence.distance import distance_m
from geofence.zones import Zone
from tests.test_evaluator import fold_and_commit, tick_and_commit

CHICAGO = ZoneInfo("America/Chicago")
HOME = (-97.74, 30.27)
NAN = float("nan")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, *, fold: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=CHICAGO).replace(fold=fold).timestamp()


def east(metres: float, origin: tuple[float, float] = HOME) -> tuple[float, float]:
    per_degree = float(distance_m(origin[0], origin[1], origin[0] + 1e-3, origin[1])) * 1e3
    return origin[0] + metres / per_degree, origin[1]


def home_zone() -> Zone:
    return Zone.from_feature({
        "type": "Feature", "id": "home-p1",
        "properties": {"kind": "inclusion", "radius_m": 75,
                       "schedule": {"timezone": "America/Chicago", "windows": [
                           {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "start": "22:00", "end": "06:00"}]}},
        "geometry": {"type": "Point", "coordinates": list(HOME)}})


def school() -> Zone:
    c = east(2000)
    return Zone.from_feature({"type": "Feature", "id": "school",
                              "properties": {"kind": "exclusion", "radius_m": 100},
                              "geometry": {"type": "Point", "coordinates": list(c)}})


def evaluator(zones: list[Zone] | None = None, plan: SupervisionPlan | None = None,
              **kw: object) -> Evaluator:
    zones = [home_zone(), school()] if zones is None else zones
    people = {"p1": Supervisee("p1", "P One", "j", tuple(z.id for z in zones),
                               plan.id if plan else None)}
    devices = {"br-1": Device("br-1", "p1", "bracelet"), "ph-1": Device("ph-1", "p1"),
               "vp-1": Device("vp-1", None, "phone", victim_id="v1")}
    return Evaluator(devices, people, zones, plans={plan.id: plan} if plan else None,
                     **kw)  # type: ignore[arg-type]


def fixes(device: str, *rows: tuple[float, tuple[float, float]], acc: float = 5.0,
          batt: float = NAN) -> FixBatch:
    return FixBatch.from_fixes([Fix(device, t, x, y, acc, batt, t, "native")
                                for t, (x, y) in rows])


def event(device: str, ts: float, kind: str, batt: float = NAN) -> DeviceEvent:
    return DeviceEvent(device, ts, kind, batt, None, ts)


def changes(ev: Evaluator, tracker: EpisodeTracker, batch: FixBatch,
            events: tuple[DeviceEvent, ...] = ()) -> list[tuple[str, str, float]]:
    return [(c.action, c.key.kind, c.at) for c in fold_and_commit(ev, tracker, batch, events)]


def ticks(ev: Evaluator, tracker: EpisodeTracker, now: float) -> list[tuple[str, str, float]]:
    return [(c.action, c.key.kind, c.at) for c in tick_and_commit(ev, tracker, now)]


def walk(device: str, t0: float, where: tuple[float, float], n: int = 3, step: float = 15.0,
         **kw: float) -> FixBatch:
    return fixes(device, *[(t0 + i * step, where) for i in range(n)], **kw)


# --- curfew -----------------------------------------------------------------------------------


def test_curfew_spanning_midnight_opens_when_away_at_night_and_clears_when_it_ends():
    ev, tr = evaluator(), EpisodeTracker(3)
    away = east(500)
    assert changes(ev, tr, walk("br-1", at(2026, 11, 18, 21, 0), away)) == []  # before 22:00
    night = at(2026, 11, 18, 23, 30)
    assert changes(ev, tr, walk("br-1", night, away)) == [("opened", "curfew", night)]
    # Still away past midnight: nothing new; at 06:00 the curfew ends and the episode clears.
    assert changes(ev, tr, walk("br-1", at(2026, 11, 19, 3, 0), away)) == []
    morning = at(2026, 11, 19, 6, 1)
    assert changes(ev, tr, walk("br-1", morning, away)) == [("cleared", "curfew", morning)]


def test_curfew_follows_local_time_across_the_end_of_daylight_saving():
    # 2026-11-01: clocks go back at 02:00 CDT. The curfew still ends at 06:00 *local* (CST),
    # seven hours after 22:00 CDT... i.e. nine hours of wall time, not eight.
    ev, tr = evaluator(), EpisodeTracker(3)
    away = east(500)
    start = at(2026, 10, 31, 22, 30)
    assert changes(ev, tr, walk("br-1", start, away)) == [("opened", "curfew", start)]
    # 05:30 CST is 06:30 CDT: a naive offset would have ended the curfew; it must not.
    assert changes(ev, tr, walk("br-1", at(2026, 11, 1, 5, 30), away)) == []
    end = at(2026, 11, 1, 6, 5)
    assert changes(ev, tr, walk("br-1", end, away)) == [("cleared", "curfew", end)]


def test_curfew_jitter_at_home_raises_nothing():
    ev, tr = evaluator(), EpisodeTracker(3, 180.0)
    night = at(2026, 11, 18, 23, 0)
    # At home: honest fixes inside, uncertain ones, and isolated multipath outliers 200 m off
    # claiming 8 m, an hour apart — none of it is a person who left.
    for hour in range(6):
        t = night + hour * 3600
        batch = FixBatch.concat([
            fixes("br-1", (t, east(10)), (t + 60, east(30)), acc=20.0),
            fixes("br-1", (t + 120, east(200)), acc=8.0),
            fixes("br-1", (t + 180, east(60)), (t + 240, east(20)), acc=60.0),
        ])
        assert changes(ev, tr, batch) == []


def test_already_away_when_the_curfew_begins_opens_at_its_start_without_waiting():
    ev, tr = evaluator(), EpisodeTracker(3, 180.0)
    changes(ev, tr, walk("br-1", at(2026, 11, 18, 21, 55), east(800), n=3, step=60))
    ticks(ev, tr, at(2026, 11, 18, 21, 58))
    start = at(2026, 11, 18, 22, 0)
    assert ticks(ev, tr, start + 20) == [("opened", "curfew", start)]


def test_one_stray_fix_away_as_the_curfew_begins_is_not_a_person_out():
    # At home, then a cold-start jump 400 m off claiming 20 m just before 22:00: one certain
    # fix is not the confirmed streak an episode needs, so nothing opens at the start, and the
    # honest fixes that follow at home keep it so.
    ev, tr = evaluator(), EpisodeTracker(3, 180.0)
    changes(ev, tr, walk("br-1", at(2026, 11, 18, 21, 55), HOME, n=2, step=60))
    changes(ev, tr, fixes("br-1", (at(2026, 11, 18, 21, 58), east(400)), acc=20.0))
    start = at(2026, 11, 18, 22, 0)
    assert ticks(ev, tr, start + 20) == []
    assert changes(ev, tr, walk("br-1", start + 60, HOME, n=3, step=60)) == []
    # Away in a streak with a gap longer than the continuity allows: not confirmed either.
    ev, tr = evaluator(), EpisodeTracker(3, 180.0)
    changes(ev, tr, fixes("br-1", (at(2026, 11, 18, 21, 40), east(800)),
                          (at(2026, 11, 18, 21, 57), east(800)),
                          (at(2026, 11, 18, 21, 58), east(800))))
    assert ticks(ev, tr, start + 20) == []


def test_silent_when_the_curfew_begins_is_an_unverified_curfew_cleared_by_a_fix():
    ev, tr = evaluator(), EpisodeTracker(3)
    changes(ev, tr, walk("br-1", at(2026, 11, 18, 20, 0), HOME, n=2, step=60))
    assert ticks(ev, tr, at(2026, 11, 18, 21, 0)) == [
        ("opened", "lost_contact", at(2026, 11, 18, 20, 1))]
    start = at(2026, 11, 18, 22, 0)
    assert ticks(ev, tr, start + 30) == [("opened", "curfew_unverified", start)]
    back = start + 600
    after = changes(ev, tr, fixes("br-1", (back, HOME)))
    assert ("cleared", "curfew_unverified", back) in after
    assert ("cleared", "lost_contact", back) in after


# --- exclusion zones and pass-through --------------------------------------------------------


def test_driving_through_an_exclusion_zone_between_two_fixes_is_a_pass_through():
    ev, tr = evaluator([school()]), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    got = changes(ev, tr, fixes("ph-1", (t, east(1500)), (t + 60, east(2500))))
    assert got == [("opened", "pass_through", t), ("cleared", "pass_through", t + 60)]
    # Beside it, not through it: nothing.
    beside = (east(1500)[0], east(1500)[1] + 0.01)
    beyond = (east(2500)[0], east(2500)[1] + 0.01)
    assert changes(ev, tr, fixes("br-1", (t + 100, beside), (t + 160, beyond))) == []


def test_a_segment_too_coarse_to_tell_is_not_a_pass_through():
    ev, tr = evaluator([school()]), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    # Each end only known to 150 m: the straight line might pass beside the 100 m circle.
    assert changes(ev, tr, fixes("ph-1", (t, east(1500)), (t + 60, east(2500)),
                                 acc=150.0)) == []
    # Fixes an hour apart: the road between them is unknown.
    assert changes(ev, tr, fixes("br-1", (t, east(1500)), (t + 3600, east(2500)))) == []


# --- victim proximity ------------------------------------------------------------------------


def order_evaluator() -> Evaluator:
    return evaluator([], orders=[ProtectionOrder("p1", "v1", "vp-1", 500.0, 700.0)])


def test_victim_proximity_opens_within_enter_holds_between_and_clears_beyond_exit():
    ev, tr = order_evaluator(), EpisodeTracker(3)
    victim = east(5000)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, fixes("vp-1", (t, victim)))
    assert changes(ev, tr, walk("br-1", t + 10, east(3000))) == []  # 2 km away
    near = east(4700)  # 300 m
    assert changes(ev, tr, walk("br-1", t + 60, near)) == [("opened", "victim_proximity", t + 60)]
    assert changes(ev, tr, walk("br-1", t + 120, east(4400))) == []  # 600 m: in between
    far = t + 180
    changes(ev, tr, fixes("vp-1", (far - 5, victim)))
    assert changes(ev, tr, walk("br-1", far, east(4000))) == [
        ("cleared", "victim_proximity", far)]


def test_the_victim_moving_towards_the_supervisee_opens_it_too():
    ev, tr = order_evaluator(), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, fixes("br-1", (t, east(1000))))
    got = changes(ev, tr, fixes("vp-1", (t + 20, east(1200)), (t + 35, east(1250)),
                                (t + 50, east(1300))))
    assert got == [("opened", "victim_proximity", t + 20)]


def test_a_vague_newest_victim_fix_still_decides_when_the_best_one_cannot():
    # The victim's phone had a precise GPS fix 530 m from where the supervisee waits, then went
    # indoors: Wi-Fi fixes of 300 m, 10 m from the supervisee. Aged at a walking pace the GPS fix
    # is still the "best" one, and against it the supervisee is in between (nothing certain);
    # the newest fix, vague as it is, puts them certainly within 500 m.
    ev, tr = order_evaluator(), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    lurk = east(5380)
    changes(ev, tr, fixes("vp-1", (t, east(4850)), acc=5.0))
    assert changes(ev, tr, fixes("br-1", (t + 30, lurk))) == []
    assert changes(ev, tr, fixes("vp-1", (t + 120, east(5370)), acc=300.0)) == []
    # The Wi-Fi fix's own verdict (against the supervisee's fix of t + 30) is the first of the
    # three that confirm it.
    assert changes(ev, tr, walk("br-1", t + 125, lurk, n=2)) == [
        ("opened", "victim_proximity", t + 120)]


# --- bracelet–phone separation ---------------------------------------------------------------


def pair_evaluator() -> Evaluator:
    return evaluator([], pairings=[Pairing("p1", "br-1", "ph-1")])


def test_lost_link_opens_separation_at_once_and_link_restored_clears_it():
    ev, tr = pair_evaluator(), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    assert changes(ev, tr, FixBatch.empty(), (event("br-1", t, "lost_link"),)) == [
        ("opened", "separation", t)]
    assert changes(ev, tr, FixBatch.empty(), (event("br-1", t + 900, "link_restored"),)) == [
        ("cleared", "separation", t + 900)]


def test_devices_apart_for_longer_than_the_plan_allows_open_separation():
    ev, tr = pair_evaluator(), EpisodeTracker(3, 180.0)
    t = at(2026, 11, 18, 12, 0)
    out: list = []
    for i in range(12):  # 1 km apart, a pair of fixes a minute, for 11 minutes
        out += changes(ev, tr, FixBatch.concat([fixes("ph-1", (t + 60 * i, HOME)),
                                                fixes("br-1", (t + 60 * i + 5, east(1000)))]))
    assert out == [("opened", "separation", t + 5)]
    # An outlier now and then is not a separation.
    ev, tr = pair_evaluator(), EpisodeTracker(3, 180.0)
    out = []
    for i in range(12):
        where = east(400) if i % 5 == 0 else east(10)
        out += changes(ev, tr, FixBatch.concat([fixes("ph-1", (t + 60 * i, HOME)),
                                                fixes("br-1", (t + 60 * i + 5, where))]))
    assert out == []


# --- device events ---------------------------------------------------------------------------


def test_strap_and_case_tamper_open_on_the_event_and_clear_on_its_end():
    ev, tr = evaluator([]), EpisodeTracker(3)
    t = at(2026, 11, 18, 20, 0)
    got = changes(ev, tr, FixBatch.empty(), (event("br-1", t, "strap_tamper"),
                                             event("br-1", t + 60, "case_open")))
    assert got == [("opened", "strap_tamper", t), ("opened", "case_tamper", t + 60)]
    got = changes(ev, tr, FixBatch.empty(), (event("br-1", t + 300, "case_closed"),
                                             event("br-1", t + 7200, "strap_restored")))
    assert got == [("cleared", "case_tamper", t + 300), ("cleared", "strap_tamper", t + 7200)]


def test_a_maintenance_window_suppresses_tamper_it_covers():
    t = at(2026, 11, 18, 20, 0)
    windows = Suppressions([Suppression("p1", t - 60, t + 3600, "maintenance")])
    ev, tr = evaluator([], suppressions=windows), EpisodeTracker(3)
    assert changes(ev, tr, FixBatch.empty(), (event("br-1", t, "strap_tamper"),)) == []
    # After the window a cut strap is reported as ever.
    assert changes(ev, tr, FixBatch.empty(), (event("br-1", t + 7200, "strap_tamper"),)) == [
        ("opened", "strap_tamper", t + 7200)]


def test_power_off_opens_device_off_and_the_next_message_clears_it():
    ev, tr = evaluator([]), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, walk("br-1", t - 300, HOME, n=2, step=60, batt=1.0))
    assert ("opened", "device_off", t) in changes(ev, tr, FixBatch.empty(),
                                                  (event("br-1", t, "power_off", 0.0),))
    # Hours of silence: the device is known to be off, so no lost contact on top.
    assert ticks(ev, tr, t + 5 * 3600) == []
    back = t + 6 * 3600
    assert ("cleared", "device_off", back) in changes(
        ev, tr, FixBatch.empty(), (event("br-1", back, "power_on", 2.0),))


def test_a_phone_silent_after_a_low_battery_reading_is_off_long_before_lost_contact():
    ev, tr = evaluator([]), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, walk("ph-1", t, HOME, n=3, step=60, batt=2.0))
    last = t + 120
    assert ticks(ev, tr, last + 60) == []
    assert ticks(ev, tr, last + 200) == [("opened", "device_off", last)]
    assert ticks(ev, tr, last + 4 * 3600) == []


def test_a_bracelet_silent_on_a_low_battery_without_power_off_is_out_of_coverage_first():
    # A bracelet announces its own end; silent without saying so, it is more likely in a
    # coverage gap: nothing for ten minutes, and only after the lost-contact silence is it taken
    # as off — one alert that says why, not lost contact on top.
    ev, tr = evaluator([]), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, walk("br-1", t, HOME, n=3, step=60, batt=4.0))
    last = t + 120
    assert ticks(ev, tr, last + 600) == []
    assert ticks(ev, tr, last + 1870) == [("opened", "device_off", last)]


def test_low_battery_from_device_events_too():
    ev, tr = evaluator([]), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    got = changes(ev, tr, FixBatch.empty(), tuple(
        event("br-1", t + i, "low_battery", 14.0 - i) for i in range(3)))
    assert ("opened", "low_battery_warning", t) in got


# --- the clock's rules -----------------------------------------------------------------------


def test_lost_contact_after_interval_plus_grace_and_any_message_clears_it():
    plan = SupervisionPlan.from_settings("short", {"lost_contact_grace_s": 600})
    ev, tr = evaluator([], plan), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, walk("br-1", t, HOME, n=2, step=60))
    changes(ev, tr, walk("ph-1", t + 100, HOME, n=1))
    last = t + 100
    assert ticks(ev, tr, last + 60 + 590) == []
    assert ticks(ev, tr, last + 60 + 610) == [("opened", "lost_contact", last)]
    assert ticks(ev, tr, last + 3600) == []  # one alert for the whole silence
    back = last + 4000
    assert changes(ev, tr, FixBatch.empty(), (event("br-1", back, "heartbeat"),)) == [
        ("cleared", "lost_contact", back)]


def test_a_buffered_bracelet_is_expected_at_its_own_interval():
    people = {"p1": Supervisee("p1", "P", "j", ())}
    devices = {"br-1": Device("br-1", "p1", "bracelet", report_interval_s=600.0)}
    plan = SupervisionPlan.from_settings("short", {"lost_contact_grace_s": 300})
    ev = Evaluator(devices, people, [], plans={"short": plan})
    people = {"p1": Supervisee("p1", "P", "j", (), "short")}
    ev = Evaluator(devices, people, [], plans={"short": plan})
    tr = EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, walk("br-1", t, HOME, n=10, step=60))
    last = t + 540
    assert ticks(ev, tr, last + 800) == []  # 60 s interval + grace would have fired
    assert ticks(ev, tr, last + 950) == [("opened", "lost_contact", last)]


def test_heartbeats_without_positions_are_no_fix_and_a_fix_clears_it():
    ev, tr = evaluator([]), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    changes(ev, tr, fixes("br-1", (t, HOME)))
    beats = tuple(event("br-1", t + 60 * i, "heartbeat") for i in range(1, 20))
    changes(ev, tr, FixBatch.empty(), beats)
    assert ticks(ev, tr, t + 60 * 19 + 5) == [("opened", "no_fix", t)]
    back = t + 1300
    assert ("cleared", "no_fix", back) in changes(ev, tr, fixes("br-1", (back, HOME)))


def test_a_plan_decides_which_rules_apply():
    plan = SupervisionPlan.from_settings("zones-only", {"rules": ["exclusion_entry"]})
    ev, tr = evaluator([], plan), EpisodeTracker(3)
    t = at(2026, 11, 18, 12, 0)
    assert changes(ev, tr, FixBatch.empty(), (event("br-1", t, "strap_tamper"),)) == []
    changes(ev, tr, fixes("br-1", (t, HOME)))
    assert ticks(ev, tr, t + 86400) == []
    assert not math.isnan(ev.activity.last_message[0])
