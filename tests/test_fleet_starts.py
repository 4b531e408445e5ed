"""The simulated fleet builds for any start instant: `cordon simulate` starts "now", whatever the
hour, the weekday or the clock change of the day.

Each person's days are planned in local time from the midnight before the simulated window, and
scripted episodes are fitted between the neighbouring days' outings; a plan whose legs overlap
could not become a true path. Start instants are drawn across the weeks holding both of 2026's
clock changes in the fleet's zone (America/Chicago), and across an ordinary week.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.fleet import Fleet, FleetConfig
from simulators.scenarios import COMPLIANT

CHICAGO = ZoneInfo("America/Chicago")


def local(*args: int) -> float:
    return datetime(*args, tzinfo=CHICAGO).timestamp()


# Weeks (Monday 00:00 local) around the spring-forward and fall-back days, and an ordinary one.
WEEKS = (local(2026, 3, 2), local(2026, 10, 26), local(2026, 11, 23))


def check_fleet(start: float, days: float, seed: int) -> None:
    fleet = Fleet(FleetConfig(supervisees=40, seed=seed, start=start, days=days))
    for m in fleet.members:
        lives = [m.life, *([m.victim] if m.victim is not None else [])]
        for life in lives:
            legs = life.legs
            for before, after in zip(legs, legs[1:], strict=False):
                assert before.arrive <= after.depart, (m.id, before, after)
            assert all(leg.depart < leg.arrive for leg in legs), m.id
            path = life.path
            assert np.all(np.diff(path.t) > 0), m.id
            # The true path covers the whole simulated window.
            assert path.t[0] <= fleet.start and path.t[-1] >= fleet.end, m.id
        for label in m.labels:
            assert fleet.start <= label.start <= fleet.end, (m.id, label)
    assert not any(m.labels for m in fleet.members if m.life.kind == COMPLIANT)
    registry = fleet.registry()
    assert len(registry["supervisees"]) == 40 and registry["devices"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(week=st.sampled_from(WEEKS), offset_s=st.floats(0, 7 * 86400),
       days=st.sampled_from([1 / 24, 0.07, 0.5, 1.0, 2.5]), seed=st.integers(0, 1000))
def test_the_fleet_builds_for_any_start(week, offset_s, days, seed):
    check_fleet(float(int(week + offset_s)), days, seed)


@pytest.mark.parametrize("start", [
    local(2026, 3, 8, 1, 59), local(2026, 3, 8, 3, 0), local(2026, 3, 7, 23, 30),
    local(2026, 11, 1, 0, 59), local(2026, 11, 1, 5, 0), local(2026, 10, 31, 22, 0),
])
@pytest.mark.parametrize("days", [0.07, 1.5])
def test_the_fleet_builds_across_the_clock_changes(start, days):
    check_fleet(start, days, seed=3)


@pytest.mark.parametrize("hour", range(0, 24, 2))
def test_the_fleet_builds_at_every_hour_of_a_day(hour):
    """The load mode's window: the simulated span ends now (the hours once refused)."""
    check_fleet(local(2026, 11, 30, hour, 17) - 0.07 * 86400, 0.07, seed=1)
