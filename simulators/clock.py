"""Local wall-clock time and curfews.

Daily routines are planned in the supervisee's local time (the state's IANA zone), and a curfew
is a weekly schedule of local windows, written in the JSON Cordon reads for schedules
(``geofence.schedules.Schedule.from_dict``): a window names the day it *starts* and, when its
end is not after its start, runs past midnight.

>>> c = Curfew("America/Chicago", weeknight_start_h=22, weekend_start_h=23)
>>> [w["start"] for w in c.schedule()["windows"]]
['22:00', '23:00']
>>> night = c.window_starting(date(2026, 11, 20))  # a Friday
>>> [datetime.fromtimestamp(t, ZoneInfo("America/Chicago")).strftime("%a %H:%M") for t in night]
['Fri 23:00', 'Sat 06:00']
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulators.intervals import Interval, clip

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKEND_NIGHTS = (4, 5)  # Friday and Saturday nights start later


@functools.lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_ts(day: date, hours: float, tz: str) -> float:
    """Unix seconds of wall-clock ``hours`` after local midnight of ``day``.

    Wall-clock arithmetic: 07:00 is 07:00 even on a day the clocks change."""
    naive = datetime(day.year, day.month, day.day) + timedelta(hours=hours)
    return naive.replace(tzinfo=zone(tz)).timestamp()


def local_date(ts: float, tz: str) -> date:
    return datetime.fromtimestamp(ts, zone(tz)).date()


def dates(lo: float, hi: float, tz: str) -> Iterator[date]:
    """Every local date from the one holding ``lo`` to the one holding ``hi``."""
    d, last = local_date(lo, tz), local_date(hi, tz)
    while d <= last:
        yield d
        d += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Curfew:
    """Home every night from ``*_start_h`` to ``end_h`` the next morning."""

    timezone: str
    weeknight_start_h: int = 22
    weekend_start_h: int = 23
    end_h: int = 6

    def start_hour(self, day: date) -> int:
        return self.weekend_start_h if day.weekday() in WEEKEND_NIGHTS else self.weeknight_start_h

    def window_starting(self, day: date) -> tuple[float, float]:
        start = local_ts(day, self.start_hour(day), self.timezone)
        return start, local_ts(day + timedelta(days=1), self.end_h, self.timezone)

    def intervals(self, lo: float, hi: float) -> list[Interval]:
        first = local_date(lo, self.timezone) - timedelta(days=1)
        out = [self.window_starting(d) for d in dates(local_ts(first, 12, self.timezone), hi,
                                                      self.timezone)]
        return clip(out, lo, hi)

    def schedule(self) -> dict[str, Any]:
        weekend = [DAY_NAMES[i] for i in WEEKEND_NIGHTS]
        weeknights = [d for d in DAY_NAMES if d not in weekend]
        end = f"{self.end_h:02d}:00"
        windows = [{"days": weeknights, "start": f"{self.weeknight_start_h:02d}:00", "end": end}]
        if self.weekend_start_h == self.weeknight_start_h:
            windows[0]["days"] = list(DAY_NAMES)
        else:
            windows.append({"days": weekend, "start": f"{self.weekend_start_h:02d}:00",
                            "end": end})
        return {"timezone": self.timezone, "windows": windows}


def waking_windows(lo: float, hi: float, tz: str, hours: tuple[float, float]) -> list[Interval]:
    """The local waking windows (``hours`` = start, end; wall clock) over ``[lo, hi]``."""
    first = local_date(lo, tz) - timedelta(days=1)
    out = []
    for d in dates(local_ts(first, 12, tz), hi, tz):
        end = hours[1] if hours[1] > hours[0] else hours[1] + 24
        out.append((local_ts(d, hours[0], tz), local_ts(d, end, tz)))
    return clip(out, lo, hi)


def waking_seconds(t0: float, t1: float, tz: str, hours: tuple[float, float]) -> float:
    """Seconds of ``[t0, t1]`` inside the local waking windows."""
    return sum(b - a for a, b in waking_windows(t0, t1, tz, hours)) if t1 > t0 else 0.0


def after_waking(t0: float, seconds: float, tz: str, hours: tuple[float, float]) -> float:
    """The instant at which ``seconds`` of waking time have passed since ``t0``.

    >>> t0 = local_ts(date(2026, 11, 16), 20, "America/Chicago")
    >>> (after_waking(t0, 4 * 3600, "America/Chicago", (8.0, 22.0)) - t0) / 3600
    14.0
    """
    left = seconds
    lo = t0
    while True:
        for a, b in waking_windows(lo, lo + 2 * 86400.0, tz, hours):
            if b - a >= left:
                return a + left
            left -= b - a
        lo += 2 * 86400.0
