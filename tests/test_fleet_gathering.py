"""The simulator's gathering and phone-left-behind scripts and their labels: meetings of two
people of one county, phones left at home through long outings, restless phone-only people —
checked against the true paths (geodesic distances with pyproj)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import numpy as np
import pytest
from pyproj import Geod

from simulators.clock import local_ts, waking_seconds
from simulators.fleet import Fleet, FleetConfig
from simulators.labels import (
    GATHERING_M,
    GATHERING_MIN_S,
    PHONE_STILL_S,
    WAKING_HOURS,
    gathering_labels,
    phone_left_behind_labels,
)
from simulators.paths import Path

GEOD = Geod(ellps="WGS84")
TZ = "America/Chicago"
DAY = date(2026, 11, 16)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(FleetConfig(supervisees=150, seed=5, days=2.0))


def test_gathering_pairs_share_a_county_and_both_carry_the_label(fleet):
    scripted = [m for m in fleet.members if m.life.kind == "gathering"]
    assert len(scripted) >= 4 and len(scripted) % 2 == 0
    labels = [lb for lb in fleet.labels() if lb.kind == "gathering"]
    assert labels
    by_time = defaultdict(list)
    for lb in labels:
        by_time[lb.start, lb.end].append(lb.supervisee)
    for (start, end), who in by_time.items():
        assert len(who) == 2, who
        a, b = (fleet._member_by_id[s] for s in who)
        assert a.county is b.county and a.life.kind == b.life.kind == "gathering"
        # Within GATHERING_M all along, for GATHERING_MIN_S already at the label's start.
        ts = np.linspace(start - GATHERING_MIN_S + 1, end - 1, 60)
        (ax, ay), (bx, by) = (fleet.supervisee_truth(s, ts) for s in who)
        assert metres(ax, ay, bx, by).max() < GATHERING_M + 0.5


def test_phones_left_behind_lie_still_through_four_waking_hours(fleet):
    scripted = [m for m in fleet.members if m.life.kind == "phone_left_behind"]
    assert scripted and all(m.phone and not m.bracelet for m in scripted)
    labels = [lb for lb in fleet.labels() if lb.kind == "phone_left_behind"]
    assert {lb.supervisee for lb in labels} >= {m.id for m in scripted}
    for lb in labels:
        m = fleet._member_by_id[lb.supervisee]
        assert m.phone and not m.bracelet
        ts = np.linspace(max(lb.start - PHONE_STILL_S, fleet.start), lb.end, 200)
        still = ts[ts >= lb.start - 1]
        x, y = fleet.truth(m.phone, still)
        assert metres(x, y, np.full(len(x), x[0]), np.full(len(y), y[0])).max() < 1.0


def test_compliant_phone_only_people_move_every_few_waking_hours(fleet):
    restless = [m for m in fleet.members if m.life.kind == "compliant" and m.phone
                and not m.bracelet]
    assert restless
    for m in restless:
        path = m.life.phone_path()
        knots = path.t[(path.t >= fleet.start) & (path.t <= fleet.end)]
        moves = [fleet.start, *knots[np.flatnonzero(np.diff(path.lon[np.isin(
            path.t, knots)]) != 0)].tolist(), fleet.end]
        longest = max(waking_seconds(a, b, TZ, WAKING_HOURS) for a, b in zip(
            moves[:-1], moves[1:], strict=True))
        assert longest < PHONE_STILL_S - 1800, (m.id, longest / 3600)


def test_gathering_labels_need_twenty_minutes_and_leave_family_out():
    home_a, home_b, park = (-97.70, 30.30), (-97.60, 30.30), (-97.65, 30.35)

    def visit(home, t0, t1) -> Path:
        return Path.build([(0, *home), (t0 - 600, *home), (t0, *park), (t1, *park),
                           (t1 + 600, *home), (86400, *home)], [0, 2, 1, 2, 0])

    long = [("A", visit(home_a, 3600, 3600 + 1500), home_a, 75.0),
            ("B", visit(home_b, 3700, 3600 + 1600), home_b, 75.0)]
    labels = gathering_labels(long, 0, 86400)
    assert sorted(lb.supervisee for lb in labels) == ["A", "B"]
    assert all(lb.start == pytest.approx(3700 + GATHERING_MIN_S, abs=5) for lb in labels)
    short = [("A", visit(home_a, 3600, 3600 + 900), home_a, 75.0),
             ("B", visit(home_b, 3600, 3600 + 900), home_b, 75.0)]
    assert gathering_labels(short, 0, 86400) == []
    family = [(s, p, home_a, r) for s, p, _h, r in long]
    assert gathering_labels(family, 0, 86400) == []


def test_phone_left_behind_labels_skip_the_night():
    t20 = local_ts(DAY, 20, TZ)
    next_noon = local_ts(DAY, 36, TZ)
    home, away = (-97.70, 30.30), (-97.69, 30.30)
    phone = Path.build([(t20 - 3600, *away), (t20, *home), (next_noon, *home),
                        (next_noon + 600, *away), (next_noon + 7200, *away)], [2, 0, 2, 1])
    [label] = phone_left_behind_labels("S", phone, TZ, t20 - 3600, next_noon + 7200)
    # 20:00–22:00 and 08:00–10:00: four waking hours by 10:00 the next morning.
    assert label.start == pytest.approx(local_ts(DAY, 34, TZ))
    assert label.end == pytest.approx(next_noon)
