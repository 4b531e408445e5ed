"""Schedules: wall-clock windows across DST, exceptions, and the vectorised queries checked
against a slow per-timestamp reference written independently of geofence.schedules."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geofence.schedules import (
    DAY_NAMES,
    DatedException,
    Schedule,
    ScheduleError,
    Window,
    local_ts,
    resolve_local,
)

NY = "America/New_York"
SHANGHAI = "Asia/Shanghai"
HOUR = 3600.0
EVERY_DAY = list(DAY_NAMES)


def at(iso: str, zone: str, fold: int = 0) -> float:
    """Unix seconds of an existing local time; ``fold`` picks the occurrence of a repeated one."""
    return datetime.fromisoformat(iso).replace(tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def schedule(zone: str, *windows: tuple[list[str], str, str], exceptions=()) -> Schedule:
    return Schedule.from_dict({
        "timezone": zone,
        "windows": [{"days": d, "start": s, "end": e} for d, s, e in windows],
        "exceptions": list(exceptions),
    })


def active(s: Schedule, *ts: float) -> list[bool]:
    return s.active_at(np.array(ts)).tolist()


# --- the slow reference ---------------------------------------------------------------------


def _ambiguous_or_missing(naive: datetime, tz: ZoneInfo) -> bool:
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    return first.utcoffset() != second.utcoffset()


def wall_key(t: float, tz: ZoneInfo) -> datetime:
    """The local wall-clock reading at ``t``, for comparison with window boundaries.

    On the second pass through a repeated hour every local time of that hour has already been
    passed once (boundaries take effect at their first occurrence), so the instant compares as
    the last moment of the repeated hour.
    """
    loc = datetime.fromtimestamp(t, tz)
    naive = loc.replace(tzinfo=None, fold=0)
    if loc.fold == 1:
        end = naive.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while _ambiguous_or_missing(end, tz):
            end += timedelta(minutes=1)
        naive = end - timedelta(microseconds=1)
    return naive


def reference_active(t: float, spec: dict) -> bool:
    """Whether ``spec`` (a schedule dict with times as HH:MM and exceptions as Unix seconds) is
    active at ``t``, one timestamp at a time in local wall-clock terms."""
    tz = ZoneInfo(spec["timezone"])
    key = wall_key(t, tz)
    on = False
    for day in (key.date() - timedelta(days=1), key.date()):
        for w in spec["windows"]:
            if DAY_NAMES[day.weekday()] not in w["days"]:
                continue
            start, end = time.fromisoformat(w["start"]), time.fromisoformat(w["end"])
            end_day = day + timedelta(days=1) if end <= start else day
            if datetime.combine(day, start) <= key < datetime.combine(end_day, end):
                on = True
    for e in spec.get("exceptions", []):
        if e["kind"] == "add" and e["start"] <= t < e["end"]:
            on = True
    for e in spec.get("exceptions", []):
        if e["kind"] == "suppress" and e["start"] <= t < e["end"]:
            on = False
    return on


def transitions(zone: str, year: int) -> list[float]:
    """UTC instants at which the zone's offset changes during ``year``, found by scanning."""
    tz = ZoneInfo(zone)
    t = datetime(year, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()
    out = []
    step = 900.0  # every offset in use is a multiple of 15 minutes

    def offset(x: float) -> timedelta | None:
        return datetime.fromtimestamp(x, tz).utcoffset()

    while t < end:
        if offset(t) != offset(t + step):
            lo, hi = t, t + step
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if offset(mid) == offset(t + step) else (mid, hi)
            out.append(hi)
        t += step
    return out


# --- a curfew across the DST nights in New York ---------------------------------------------


CURFEW = schedule(NY, (EVERY_DAY, "22:00", "06:00"))


def test_curfew_spring_forward_night_is_seven_hours():
    # Clocks jump from 02:00 EST to 03:00 EDT early on Sunday 2026-03-08.
    s = CURFEW
    assert active(s, at("2026-03-07T22:00", NY), at("2026-03-08T05:59", NY)) == [True, True]
    assert active(s, at("2026-03-07T21:59", NY), at("2026-03-08T06:00", NY)) == [False, False]
    assert active(s, at("2026-03-08T01:59:59", NY), at("2026-03-08T03:00", NY)) == [True, True]
    night = s.intervals(at("2026-03-07T12:00", NY), at("2026-03-08T12:00", NY))
    assert night == [(at("2026-03-07T22:00", NY), at("2026-03-08T06:00", NY))]
    assert night[0][1] - night[0][0] == 7 * HOUR
    assert s.next_change(at("2026-03-07T21:00", NY)) == at("2026-03-07T22:00", NY)
    assert s.next_change(at("2026-03-07T22:00", NY)) == at("2026-03-08T06:00", NY)


def test_curfew_fall_back_night_is_nine_hours():
    # Clocks go back from 02:00 EDT to 01:00 EST early on Sunday 2026-11-01.
    s = CURFEW
    assert active(s, at("2026-10-31T22:00", NY), at("2026-11-01T05:59", NY)) == [True, True]
    assert active(s, at("2026-10-31T21:59", NY), at("2026-11-01T06:00", NY)) == [False, False]
    first, second = at("2026-11-01T01:30", NY, fold=0), at("2026-11-01T01:30", NY, fold=1)
    assert second - first == HOUR
    assert active(s, first, second) == [True, True]
    night = s.intervals(at("2026-10-31T12:00", NY), at("2026-11-01T12:00", NY))
    assert night == [(at("2026-10-31T22:00", NY), at("2026-11-01T06:00", NY))]
    assert night[0][1] - night[0][0] == 9 * HOUR


def test_curfew_ordinary_nights_are_eight_hours():
    nights = CURFEW.intervals(at("2026-06-01T00:00", NY), at("2026-06-08T00:00", NY))
    # The first is the tail of the 31 May night, clipped to the range.
    assert [e - s for s, e in nights[1:-1]] == [8 * HOUR] * 6


# --- no DST: Asia/Shanghai ------------------------------------------------------------------


def test_shanghai_curfew_across_midnight():
    s = schedule(SHANGHAI, (["mon", "tue", "wed", "thu", "fri"], "22:00", "06:00"))
    # 2026-06-03 is a Wednesday; Shanghai is UTC+8 all year.
    assert at("2026-06-03T22:00", SHANGHAI) == datetime(2026, 6, 3, 14, tzinfo=UTC).timestamp()
    assert active(
        s,
        at("2026-06-03T21:59", SHANGHAI),
        at("2026-06-03T22:00", SHANGHAI),
        at("2026-06-04T00:00", SHANGHAI),
        at("2026-06-04T05:59:59", SHANGHAI),
        at("2026-06-04T06:00", SHANGHAI),
    ) == [False, True, True, True, False]
    # Friday night's window runs into Saturday; Saturday and Sunday nights are free.
    assert active(s, at("2026-06-06T05:00", SHANGHAI), at("2026-06-06T23:00", SHANGHAI)) == [
        True,
        False,
    ]
    assert active(s, at("2026-06-07T23:00", SHANGHAI), at("2026-06-08T05:00", SHANGHAI)) == [
        False,
        False,
    ]
    week = s.intervals(at("2026-06-01T00:00", SHANGHAI), at("2026-06-08T00:00", SHANGHAI))
    assert [(e - b) / HOUR for b, e in week] == [8.0] * 5


def test_shanghai_sunday_night_runs_into_monday():
    s = schedule(SHANGHAI, (["sun", "mon", "tue", "wed", "thu"], "22:00", "06:00"))
    # 2026-06-07 is a Sunday, 2026-06-08 the Monday of the next ISO week.
    assert date(2026, 6, 7).weekday() == 6
    assert active(
        s,
        at("2026-06-07T21:59", SHANGHAI),
        at("2026-06-07T22:00", SHANGHAI),
        at("2026-06-08T03:00", SHANGHAI),
        at("2026-06-08T05:59", SHANGHAI),
        at("2026-06-08T06:00", SHANGHAI),
        at("2026-06-05T23:00", SHANGHAI),  # Friday night is not included
        at("2026-06-06T02:00", SHANGHAI),
    ) == [False, True, True, True, False, False, False]
    sunday_only = schedule(SHANGHAI, (["sun"], "22:00", "06:00"))
    monday = at("2026-06-08T05:59", SHANGHAI), at("2026-06-08T22:00", SHANGHAI)
    assert active(sunday_only, *monday) == [True, False]
    assert sunday_only.next_change(at("2026-06-08T05:00", SHANGHAI)) == at(
        "2026-06-08T06:00", SHANGHAI
    )
    assert sunday_only.next_change(at("2026-06-08T06:00", SHANGHAI)) == at(
        "2026-06-14T22:00", SHANGHAI
    )


# --- boundaries in the DST gap and the repeated hour ----------------------------------------


def test_resolve_local_gap_and_fold():
    gap_end = datetime(2026, 3, 8, 7, tzinfo=UTC).timestamp()  # 03:00 EDT
    assert resolve_local(datetime(2026, 3, 8, 2, 0), NY) == gap_end
    assert resolve_local(datetime(2026, 3, 8, 2, 30), NY) == gap_end
    assert resolve_local(datetime(2026, 3, 8, 3, 0), NY) == gap_end
    assert resolve_local(datetime(2026, 3, 8, 1, 59), NY) == gap_end - 60
    # The repeated 01:30 on 2026-11-01 resolves to its first occurrence, 01:30 EDT.
    assert resolve_local(datetime(2026, 11, 1, 1, 30), NY) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    ).timestamp()
    assert resolve_local(datetime(2026, 11, 1, 1, 30, fold=1), NY) == at("2026-11-01T01:30", NY)
    # Lord Howe Island moves its clocks by half an hour.
    assert resolve_local(datetime(2026, 10, 4, 2, 15), "Australia/Lord_Howe") == at(
        "2026-10-04T02:30", "Australia/Lord_Howe"
    )
    with pytest.raises(ScheduleError, match="naive"):
        resolve_local(datetime(2026, 1, 1, tzinfo=UTC), NY)


def test_window_starting_in_the_spring_gap_starts_when_the_clocks_jump():
    s = schedule(NY, (["sun"], "02:30", "04:00"))
    jump = datetime(2026, 3, 8, 7, tzinfo=UTC).timestamp()
    assert at("2026-03-08T03:00", NY) == jump
    assert active(s, jump - 1, jump, at("2026-03-08T03:59", NY), at("2026-03-08T04:00", NY)) == [
        False,
        True,
        True,
        False,
    ]
    assert s.intervals(jump - 6 * HOUR, jump + 6 * HOUR) == [(jump, at("2026-03-08T04:00", NY))]
    assert s.next_change(jump - 6 * HOUR) == jump
    # A week later 02:30 exists again.
    later = s.intervals(at("2026-03-15T00:00", NY), at("2026-03-16T00:00", NY))
    assert later == [(at("2026-03-15T02:30", NY), at("2026-03-15T04:00", NY))]


def test_window_inside_the_gap_is_empty_and_one_ending_there_ends_at_the_jump():
    inside = schedule(NY, (["sun"], "02:00", "02:30"))
    day = (at("2026-03-08T00:00", NY), at("2026-03-09T00:00", NY))
    assert inside.intervals(*day) == []
    assert not inside.active_at(np.linspace(*day, 10_000)).any()
    ending = schedule(NY, (["sat"], "22:00", "02:30"))
    night = ending.intervals(at("2026-03-07T12:00", NY), at("2026-03-08T12:00", NY))
    assert night == [(at("2026-03-07T22:00", NY), at("2026-03-08T03:00", NY))]
    assert night[0][1] - night[0][0] == 4 * HOUR


def test_boundaries_in_the_repeated_hour_use_the_first_occurrence():
    first = at("2026-11-01T01:30", NY, fold=0)
    second = at("2026-11-01T01:30", NY, fold=1)
    ends = schedule(NY, (["sat"], "22:00", "01:30"))
    assert ends.intervals(first - 6 * HOUR, second + 6 * HOUR) == [
        (at("2026-10-31T22:00", NY), first)
    ]
    assert active(ends, first - 1, first, at("2026-11-01T01:15", NY, fold=1)) == [
        True,
        False,
        False,
    ]
    starts = schedule(NY, (["sun"], "01:30", "03:00"))
    assert starts.intervals(first - 6 * HOUR, second + 6 * HOUR) == [
        (first, at("2026-11-01T03:00", NY))
    ]
    assert active(starts, at("2026-11-01T01:15", NY, fold=1), second) == [True, True]
    assert at("2026-11-01T03:00", NY) - first == 2.5 * HOUR


# --- exceptions -----------------------------------------------------------------------------


WEEKNIGHTS = (["mon", "tue", "wed", "thu", "fri"], "22:00", "06:00")


def test_suppression_lifts_the_curfew():
    s = schedule(NY, WEEKNIGHTS, exceptions=[{
        "kind": "suppress",
        "start": "2026-12-24T18:00:00-05:00",
        "end": "2026-12-26T08:00:00-05:00",
        "reason": "approved leave",
    }])
    # 2026-12-23/24/25 are Wednesday, Thursday, Friday.
    assert active(
        s,
        at("2026-12-23T23:00", NY),
        at("2026-12-24T05:00", NY),
        at("2026-12-24T23:00", NY),
        at("2026-12-25T23:00", NY),
        at("2026-12-26T05:59", NY),
        at("2026-12-28T23:00", NY),
    ) == [True, True, False, False, False, True]
    assert s.next_change(at("2026-12-24T12:00", NY)) == at("2026-12-28T22:00", NY)


def test_addition_makes_an_extra_curfew_night():
    s = schedule(NY, WEEKNIGHTS, exceptions=[
        # Local times without an offset are read in the schedule's zone.
        {"kind": "add", "start": "2026-06-06T20:00", "end": "2026-06-07T07:00"},
    ])
    assert active(
        s,
        at("2026-06-06T19:59", NY),
        at("2026-06-06T20:00", NY),
        at("2026-06-07T06:59", NY),
        at("2026-06-07T07:00", NY),
    ) == [False, True, True, False]
    # Friday night's window ends at 06:00 Saturday, well before the extra night begins.
    assert s.intervals(at("2026-06-06T00:00", NY), at("2026-06-07T12:00", NY)) == [
        (at("2026-06-06T00:00", NY), at("2026-06-06T06:00", NY)),
        (at("2026-06-06T20:00", NY), at("2026-06-07T07:00", NY)),
    ]


def test_addition_merges_with_an_adjacent_window():
    s = schedule(NY, WEEKNIGHTS, exceptions=[
        {"kind": "add", "start": at("2026-06-03T18:00", NY), "end": at("2026-06-03T22:00", NY)},
    ])
    assert s.intervals(at("2026-06-03T12:00", NY), at("2026-06-04T12:00", NY)) == [
        (at("2026-06-03T18:00", NY), at("2026-06-04T06:00", NY))
    ]
    assert s.next_change(at("2026-06-03T19:00", NY)) == at("2026-06-04T06:00", NY)


def test_suppression_wins_over_addition():
    s = schedule(NY, WEEKNIGHTS, exceptions=[
        {"kind": "add", "start": "2026-06-06T20:00Z", "end": "2026-06-07T08:00Z"},
        {"kind": "suppress", "start": "2026-06-07T00:00Z", "end": "2026-06-07T02:00Z"},
    ])
    t = datetime(2026, 6, 7, 1, tzinfo=UTC).timestamp()
    assert active(s, t - 2 * HOUR, t, t + 2 * HOUR) == [True, False, True]
    assert s.intervals(t - 6 * HOUR, t + 8 * HOUR) == [
        (t - 5 * HOUR, t - HOUR),
        (t + HOUR, t + 7 * HOUR),
    ]


def test_exceptions_only_and_always_with_suppression():
    start, end = at("2026-06-06T20:00", NY), at("2026-06-07T07:00", NY)
    extra_only = Schedule(NY, (), (DatedException("add", start, end),))
    assert active(extra_only, start - 1, start, end - 1, end) == [False, True, True, False]
    assert extra_only.next_change(0.0) == start
    assert extra_only.next_change(start) == end
    assert extra_only.next_change(end) == math.inf
    leave = Schedule.always(NY, [DatedException("suppress", start, end, "court")])
    assert active(leave, start - 1, start, end) == [True, False, True]
    assert leave.intervals(start - 10, end + 10) == [(start - 10, start), (end, end + 10)]
    assert leave.next_change(start - 10) == start
    assert leave.next_change(end) == math.inf


def test_always():
    s = Schedule.always()
    ts = np.random.default_rng(1).uniform(-1e9, 4e9, 100_000)
    assert s.active_at(ts).all()
    assert s.active_at(ts.reshape(100, 1000)).shape == (100, 1000)
    assert s.active_at(np.array([])).shape == (0,)
    assert s.is_active(0.0)
    assert s.intervals(10.0, 20.0) == [(10.0, 20.0)]
    assert s.next_change(0.0) == math.inf
    assert Schedule.from_dict({"always": True}) == s
    assert Schedule.from_dict(s.to_dict()) == s


def test_never_and_continuous_schedules_never_change():
    never = Schedule(NY)
    assert not never.active_at(np.arange(0.0, 1e6, 100.0)).any()
    assert never.next_change(0.0) == math.inf
    assert never.intervals(0.0, 1e6) == []
    continuous = schedule("Europe/London", (EVERY_DAY, "00:00", "00:00"))
    t = at("2026-03-20T12:00", "Europe/London")
    assert continuous.next_change(t) == math.inf
    assert continuous.intervals(t, t + 30 * 86400) == [(t, t + 30 * 86400)]
    # Take Wednesdays out, and the state changes again.
    six = schedule("Europe/London", ([d for d in EVERY_DAY if d != "wed"], "00:00", "00:00"))
    assert six.next_change(t) == at("2026-03-25T00:00", "Europe/London")


# --- against the slow reference -------------------------------------------------------------

REFERENCE_SPECS = {
    NY: [
        (["mon", "tue", "wed", "thu", "fri"], "22:00", "06:00"),
        (["sat"], "09:00", "12:00"),
        (["sun"], "01:30", "02:30"),  # both boundaries in the DST hours
        (["sat"], "23:30", "01:15"),
        (["wed"], "13:00", "13:00"),  # a full day, overlapping the weeknight curfew
    ],
    SHANGHAI: [
        (["sun", "mon", "tue", "wed", "thu"], "22:00", "06:00"),
        (["sat"], "10:00", "14:30"),
    ],
    # DST starts and ends at midnight in Chile, so the local date itself is skipped or repeated.
    "America/Santiago": [(EVERY_DAY, "23:30", "00:30"), (["sun"], "00:00", "01:00")],
    # A half-hour DST shift.
    "Australia/Lord_Howe": [(EVERY_DAY, "02:00", "02:45"), (["fri", "sat"], "21:00", "07:00")],
}


def _reference_spec(zone: str, windows, exceptions) -> dict:
    return {
        "timezone": zone,
        "windows": [{"days": d, "start": s, "end": e} for d, s, e in windows],
        "exceptions": exceptions,
    }


@pytest.mark.parametrize("zone", list(REFERENCE_SPECS))
def test_active_at_matches_reference_on_random_timestamps(zone: str):
    rng = np.random.default_rng(20260308)
    lo = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    hi = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    exceptions = []
    for kind in ("suppress", "add", "suppress", "add", "suppress"):
        start = float(rng.uniform(lo, hi))
        end = start + float(rng.uniform(HOUR, 5 * 86400))
        exceptions.append({"kind": kind, "start": start, "end": end})
    # One addition inside one suppression, where the suppression must win.
    exceptions.append({"kind": "add", "start": exceptions[0]["start"] + HOUR,
                       "end": exceptions[0]["end"] - 1.0})
    spec = _reference_spec(zone, REFERENCE_SPECS[zone], exceptions)
    s = Schedule.from_dict(spec)
    near_dst = [
        t + np.arange(-6 * HOUR, 6 * HOUR, 61.0) for t in transitions(zone, 2026)
    ]
    ts = np.concatenate([rng.uniform(lo, hi, 100_000), *near_dst])
    got = s.active_at(ts)
    want = np.array([reference_active(t, spec) for t in ts.tolist()])
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [
        (ts[i], datetime.fromtimestamp(ts[i], ZoneInfo(zone)).isoformat(), got[i]) for i in bad[:5]
    ]
    assert 0.05 < got.mean() < 0.95


def test_active_at_matches_reference_over_decades():
    # A span long enough to take the sparse path: only the days holding timestamps are expanded.
    # The full-day window from Sunday 21:00 reaches Monday evening, which west of UTC is already
    # Tuesday in UTC: two days after the day the window started.
    spec = _reference_spec(NY, [*REFERENCE_SPECS[NY], (["sun"], "21:00", "21:00")], [])
    s = Schedule.from_dict(spec)
    rng = np.random.default_rng(7)
    mondays = [at(f"{y}-06-0{d}T20:30", NY) for y in (1995, 2030, 2050) for d in range(1, 8)]
    ts = np.concatenate([
        rng.uniform(at("1990-01-01T00:00", NY), at("1991-01-01T00:00", NY), 3000),
        rng.uniform(0.0, at("2060-01-01T00:00", NY), 3000),  # isolated days, mostly
        mondays,
    ])
    want = np.array([reference_active(t, spec) for t in ts.tolist()])
    assert (s.active_at(ts) == want).all()


DST_ZONES = [NY, "Europe/London", "Australia/Lord_Howe", "America/Santiago", SHANGHAI]
ZONE_TRANSITIONS = {zone: transitions(zone, 2026) for zone in DST_ZONES}


@st.composite
def windows(draw):
    # Bias boundaries towards the small hours, where the clocks change.
    minute = st.one_of(st.integers(0, 24 * 60 - 1), st.integers(0, 4 * 60))
    days = draw(st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=7, unique=True))
    start, end = draw(minute), draw(minute)
    return days, f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}"


@st.composite
def instants(draw, zone: str):
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    year = 365 * 86400.0
    near = ZONE_TRANSITIONS[zone]
    if near and draw(st.booleans()):
        return draw(st.sampled_from(near)) + draw(st.integers(-30 * 3600, 30 * 3600))
    return base + draw(st.floats(0, year))


@st.composite
def cases(draw):
    zone = draw(st.sampled_from(DST_ZONES))
    ws = draw(st.lists(windows(), min_size=0, max_size=3))
    exceptions = []
    for kind in draw(st.lists(st.sampled_from(["add", "suppress"]), max_size=3)):
        start = draw(instants(zone))
        end = start + draw(st.integers(1, 3 * 86400))
        exceptions.append({"kind": kind, "start": start, "end": end})
    ts = draw(st.lists(instants(zone), min_size=1, max_size=40))
    return _reference_spec(zone, ws, exceptions), ts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_active_at_matches_reference_for_random_schedules(case):
    spec, ts = case
    s = Schedule.from_dict(spec)
    want = [reference_active(t, spec) for t in ts]
    assert s.active_at(np.array(ts)).tolist() == want


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_intervals_and_next_change_agree_with_active_at(case):
    spec, ts = case
    s = Schedule.from_dict(spec)
    lo = min(ts)
    hi = lo + 9 * 86400
    spans = s.intervals(lo, hi)
    flat = [x for span in spans for x in span]
    assert flat == sorted(flat) and all(b > a for a, b in spans)
    assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))
    # Inside each interval active, in each gap between them inactive.
    probes, expected = [], []
    edges = [lo, *flat, hi]
    for i in range(len(edges) - 1):
        a, b = edges[i], edges[i + 1]
        if b > a:
            probes += [a, (a + b) / 2, np.nextafter(b, -math.inf)]
            expected += [i % 2 == 1] * 3
    assert s.active_at(np.array(probes)).tolist() == expected
    # Following next_change from lo visits exactly the interval boundaries inside (lo, hi).
    visited, t = [], lo
    while True:
        t = s.next_change(t)
        if t >= hi:
            break
        visited.append(t)
    assert visited == [x for x in flat if lo < x < hi]
    if t != math.inf:
        assert s.is_active(np.nextafter(t, -math.inf)) != s.is_active(t)


# --- parsing and errors ---------------------------------------------------------------------


FULL = {
    "timezone": NY,
    "windows": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "22:00", "end": "06:00"},
        {"days": ["sat"], "start": "09:00", "end": "12:00:30"},
    ],
    "exceptions": [
        {"kind": "suppress", "start": "2026-12-24T18:00:00-05:00",
         "end": "2026-12-26T08:00:00-05:00", "reason": "approved leave"},
        {"kind": "add", "start": "2026-11-01T01:30", "end": 1793600000},
    ],
}


def test_round_trip():
    s = Schedule.from_dict(FULL)
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert Schedule.from_dict(d) == s
    assert Schedule.from_dict(d).to_dict() == d
    assert d["windows"] == FULL["windows"]
    assert d["exceptions"][0] == FULL["exceptions"][0]
    # A local bound is written back with its offset: the first 01:30, in EDT.
    assert d["exceptions"][1]["start"] == "2026-11-01T01:30:00-04:00"
    assert d["exceptions"][1]["reason"] == ""
    assert s.windows[0] == Window(frozenset(range(5)), time(22), time(6))
    assert hash(s) == hash(Schedule.from_dict(d))


def test_day_names_are_forgiving_about_case_and_length():
    s = Schedule.from_dict({"timezone": "UTC", "windows": [
        {"days": ["Monday", "TUE", "sun", "sun"], "start": "00:00", "end": "01:00"}]})
    assert s.windows[0].days == {0, 1, 6}
    assert s.to_dict()["windows"][0]["days"] == ["mon", "tue", "sun"]


def _with(path: str, value) -> dict:
    d = json.loads(json.dumps(FULL))
    *parents, last = path.split(".")
    node = d
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is KeyError:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return d


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with("timezone", "America/Nowhere"), "unknown time zone 'America/Nowhere'"),
        (_with("timezone", "../../etc/passwd"), "unknown time zone '../../etc/passwd'"),
        (_with("timezone", "America"), "unknown time zone 'America'"),
        (_with("timezone", 5), "time zone must be a string, got 5"),
        (_with("timezone", KeyError), "schedule is missing 'timezone'"),
        (_with("windows", KeyError), "schedule is missing 'windows'"),
        (_with("windows", {"days": ["mon"]}), "'windows' must be a list"),
        (_with("windows.0.days", ["mon", "fryday"]), "windows[0].days: unknown day name 'fryday'"),
        (_with("windows.0.days", []), "windows[0].days must be a non-empty list"),
        (_with("windows.0.days", "mon"), "windows[0].days must be a non-empty list"),
        (_with("windows.0.days", [3]), "unknown day name 3"),
        (_with("windows.1.start", "25:00"), "windows[1].start: bad time '25:00'"),
        (_with("windows.1.start", "24:00"), "windows[1].start: bad time '24:00'"),
        (_with("windows.1.end", "9:00"), "windows[1].end: bad time '9:00'"),
        (_with("windows.1.end", "09:60"), "windows[1].end: bad time '09:60'"),
        (_with("windows.1.end", 900), "windows[1].end: bad time 900"),
        (_with("windows.1.end", KeyError), "windows[1] is missing 'end'"),
        (_with("windows.1.until", "10:00"), "windows[1] has unknown field(s) 'until'"),
        (_with("exeptions", []), "schedule has unknown field(s) 'exeptions'"),
        (_with("exceptions.0.kind", "cancel"), "exceptions[0].kind must be one of suppress, add"),
        (_with("exceptions.0.kind", KeyError), "exceptions[0] is missing 'kind'"),
        (_with("exceptions.0.start", KeyError), "exceptions[0] is missing 'start'"),
        (_with("exceptions.0.start", "Xmas"), "exceptions[0].start: bad date-time 'Xmas'"),
        (_with("exceptions.0.start", True), "exceptions[0].start: bad date-time True"),
        (
            _with("exceptions.0.end", "2026-12-24T18:00:00-05:00"),
            "exceptions[0]: end '2026-12-24T18:00:00-05:00' is not after start",
        ),
        (
            _with("exceptions.0.end", "2026-12-24T12:00:00-05:00"),
            "exceptions[0]: end '2026-12-24T12:00:00-05:00' is not after start",
        ),
        (_with("exceptions.0.reason", 7), "exceptions[0].reason must be a string, got 7"),
        (_with("exceptions.0", "leave"), "exceptions[0] must be an object, got 'leave'"),
        (_with("always", "yes"), "'always' must be true or false, got 'yes'"),
        (_with("always", True), "always-active schedule cannot also have windows"),
        ([], "schedule must be an object"),
    ],
)
def test_bad_input_is_named(data, message):
    with pytest.raises(ScheduleError) as err:
        Schedule.from_dict(data)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_bad_objects_and_queries():
    with pytest.raises(ScheduleError, match="not after its start"):
        DatedException("add", 10.0, 10.0)
    with pytest.raises(ScheduleError, match="one of suppress, add"):
        DatedException("remove", 0.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="finite"):
        DatedException("add", 0.0, math.inf)
    with pytest.raises(ScheduleError, match="got 7"):
        Window(frozenset({7}), time(1), time(2))
    with pytest.raises(ScheduleError, match="no days"):
        Window(frozenset(), time(1), time(2))
    with pytest.raises(ScheduleError, match="naive datetime.time"):
        Window(frozenset({1}), time(1, tzinfo=UTC), time(2))
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        Schedule("Mars/Olympus")
    with pytest.raises(ScheduleError, match="cannot also have windows"):
        Schedule(NY, (Window(frozenset({1}), time(1), time(2)),), always_active=True)
    s = CURFEW
    with pytest.raises(ScheduleError, match="nan"):
        s.active_at(np.array([1e9, math.nan]))
    with pytest.raises(ScheduleError, match="inf"):
        s.active_at(np.array([math.inf]))
    with pytest.raises(ScheduleError, match="1e\\+20"):
        s.next_change(1e20)
    with pytest.raises(ScheduleError, match="before start_ts"):
        s.intervals(10.0, 5.0)
    assert s.intervals(5.0, 5.0) == []
    with pytest.raises(ScheduleError, match="bad local date-time 'tomorrow'"):
        local_ts("tomorrow", NY)


def test_schedule_accepts_lists_and_stays_hashable():
    w = Window({0, 1}, time(22), time(6))  # type: ignore[arg-type]
    s = Schedule(NY, [w], [DatedException("add", 0, 1)])  # type: ignore[arg-type]
    assert isinstance(s.windows, tuple) and isinstance(s.windows[0].days, frozenset)
    assert s == Schedule(NY, (w,), (DatedException("add", 0.0, 1.0),))
    assert len({s, Schedule(NY, (w,), (DatedException("add", 0.0, 1.0),))}) == 1
