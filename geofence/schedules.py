"""Schedules: when a rule is in force, as weekly local-time windows plus dated exceptions.

Pure computation, no I/O. A :class:`Schedule` answers "is this rule active at instant *t*?" for
rules such as a curfew (Mon–Fri 22:00–06:00) or a weekend restriction (Sat 09:00–12:00).
Instants are Unix seconds (float64, UTC).

Semantics
---------
**Windows.** A :class:`Window` has a set of weekdays (ISO order, 0 = Monday … 6 = Sunday, naming
the day the window *starts*), a local start time and a local end time. If ``end <= start`` the
window runs past midnight into the next day, so ``end == start`` is a full local day. Windows
are half-open (active from the start instant up to, not including, the end instant), and
windows that overlap or touch merge.

**Wall clock and DST.** Boundaries are wall-clock times in the schedule's IANA zone, so a
22:00–06:00 curfew in America/New_York ends at 06:00 local even on the nights the clocks change
(7 hours of UTC on the spring-forward night, 9 on the fall-back night). A boundary at local time
*L* takes effect at **the first instant the wall clock reads L or later** (:func:`resolve_local`):

- normally that is just *L*;
- *L* in the spring-forward gap (02:30 on 2026-03-08 in New York never happens) takes effect at
  the transition, the first instant after the gap (03:00 EDT); a window lying wholly in the gap
  is empty that day, and a 22:00–02:30 window ends at 03:00 EDT that night;
- *L* in the repeated autumn hour (01:30 on 2026-11-01 happens twice) takes effect at its first
  occurrence (``fold=0``, 01:30 EDT) — for starts and ends alike, so a window ending at 01:30
  is over before the clocks go back, and one starting then stays on through the second 01:30.

**Exceptions.** A :class:`DatedException` is an absolute interval ``[start, end)`` that either
*suppresses* the schedule (approved leave, a court date: inactive even if a window says
active) or *adds* activity (an extra curfew night). Exceptions override windows, and where a
suppression and an addition overlap **the suppression wins**: the result is
``(windows ∪ additions) − suppressions``. Suppressions record an approved absence; an overlapping
addition is far more often a clash in data entry than a decision to revoke the approval, and
alerting someone for being where they were allowed to be is the costlier mistake.

**Always.** :meth:`Schedule.always` is active at every instant (suppressions still apply): the
schedule of a rule that has none.

**JSON.** :meth:`Schedule.from_dict` / :meth:`Schedule.to_dict`. Exception bounds may be ISO 8601
strings with an offset (absolute), without one (local time in the schedule's zone, resolved as
above), or Unix seconds; they are written back as ISO strings in the schedule's zone. Bad input
raises :class:`ScheduleError` naming the field and the offending value.

>>> import numpy as np
>>> curfew = Schedule.from_dict({"timezone": "America/New_York", "windows": [
...     {"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}]})
>>> night = curfew.intervals(local_ts("2026-03-07T12:00", "America/New_York"),
...                          local_ts("2026-03-08T12:00", "America/New_York"))
>>> [(end - start) / 3600 for start, end in night]  # spring forward: a 7-hour night
[7.0]
>>> t = local_ts("2026-03-08T05:59", "America/New_York")
>>> curfew.active_at(np.array([t, t + 60])).tolist()  # 05:59 and 06:00 local
[True, False]
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAY_NAMES",
    "EXCEPTION_KINDS",
    "DatedException",
    "ExceptionKind",
    "Schedule",
    "ScheduleError",
    "Window",
    "local_ts",
    "resolve_local",
]

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NUMBERS = {name: i for names in (DAY_NAMES, _FULL_DAY_NAMES) for i, name in enumerate(names)}

ExceptionKind = Literal["suppress", "add"]
EXCEPTION_KINDS: tuple[str, ...] = ("suppress", "add")

_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
_DAY_S = 86400.0
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# datetime stops at years 1 and 9999; the margin leaves room for the day arithmetic around an
# instant (previous day's windows, local vs UTC date).
_TS_MIN = datetime(1, 1, 10, tzinfo=UTC).timestamp()
_TS_MAX = datetime(9999, 12, 20, tzinfo=UTC).timestamp()
_LAST_ORDINAL = date(9999, 12, 25).toordinal()
# Beyond this many days, expand only the days that hold timestamps, so one stray fix from 1970
# does not cost fifty years of windows.
_SPARSE_SPAN_DAYS = 1000
# Weekly windows that leave the state unchanged for three whole weeks (clear of every exception)
# leave it unchanged forever: every weekday has recurred, and at most one of its occurrences
# can vanish into a DST gap.
_STEADY_S = 21 * _DAY_S

_EMPTY = np.empty(0, dtype=np.float64)
_EMPTY.flags.writeable = False
_EVERYTHING = np.array([-math.inf, math.inf])
_EVERYTHING.flags.writeable = False


class ScheduleError(ValueError):
    """A schedule that cannot be built or queried; the message names the problem and value."""


# --- local time -----------------------------------------------------------------------------


def _zone(name: object, where: str = "timezone") -> ZoneInfo:
    if not isinstance(name, str):
        raise ScheduleError(f"{where}: time zone must be a string, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"{where}: unknown time zone {name!r}") from None


def _offset(ts: float, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(ts, tz).utcoffset()


def _resolve(local: datetime, tz: ZoneInfo) -> float:
    first = local.replace(tzinfo=tz, fold=0).timestamp()
    second = local.replace(tzinfo=tz, fold=1).timestamp()
    if first <= second:
        # Equal for an ordinary time; for a repeated time fold=0 is the earlier occurrence.
        return first
    # In a gap, fold=0 applies the offset from before the jump and fold=1 the one after, which
    # brackets the transition in (second, first]. zoneinfo does not expose transitions, and
    # tzdata puts them on whole seconds, so bisect on integers.
    lo, hi = math.floor(second), math.ceil(first)
    after = _offset(hi, tz)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(mid, tz) == after:
            hi = mid
        else:
            lo = mid
    return float(hi)


def resolve_local(local: datetime, timezone: str | ZoneInfo) -> float:
    """Unix seconds of the first instant the wall clock in ``timezone`` reads ``local`` or later.

    That is ``local`` itself for an ordinary time, the first occurrence (``fold=0``) for a time
    the clocks repeat, and the transition (the first instant after the gap) for a time they
    skip. ``local`` must be naive; its ``fold`` is ignored.

    >>> resolve_local(datetime(2026, 3, 8, 2, 30), "America/New_York") == resolve_local(
    ...     datetime(2026, 3, 8, 3, 0), "America/New_York")
    True
    """
    if local.tzinfo is not None:
        raise ScheduleError(f"resolve_local needs a naive local time, got {local.isoformat()!r}")
    tz = timezone if isinstance(timezone, ZoneInfo) else _zone(timezone)
    return _resolve(local, tz)


def local_ts(iso: str, timezone: str | ZoneInfo) -> float:
    """Unix seconds of a naive ISO local time such as ``"2026-03-08T05:59"``, per
    :func:`resolve_local`: a convenience for tests, fixtures and the REPL."""
    try:
        local = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        raise ScheduleError(f"bad local date-time {iso!r}") from None
    return resolve_local(local, timezone)


# --- windows and exceptions -----------------------------------------------------------------


def _parse_time(value: object, where: str) -> time:
    m = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if m is not None:
        h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
        if h < 24 and mi < 60 and s < 60:
            return time(h, mi, s)
    raise ScheduleError(
        f"{where}: bad time {value!r} (expected HH:MM or HH:MM:SS from 00:00 to 23:59:59; "
        "write midnight as 00:00)"
    )


def _format_time(t: time) -> str:
    return t.strftime("%H:%M" if t.second == 0 else "%H:%M:%S")


def _check_keys(data: object, required: set[str], optional: set[str], where: str) -> None:
    if not isinstance(data, Mapping):
        raise ScheduleError(f"{where} must be an object, got {data!r}")
    missing = sorted(required - data.keys())
    if missing:
        raise ScheduleError(f"{where} is missing {', '.join(map(repr, missing))}")
    # A misspelt key ("exeptions") silently ignored would drop approved leave without a word.
    unknown = sorted(map(str, data.keys() - required - optional))
    if unknown:
        raise ScheduleError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")


@dataclass(frozen=True, slots=True)
class Window:
    """Weekly recurring activity: on each of ``days`` (0 = Monday … 6 = Sunday) from ``start``
    to ``end`` local time, ending the next day if ``end <= start``."""

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        try:
            days = frozenset(self.days)
        except TypeError:
            raise ScheduleError(f"window days must be a set of 0..6, got {self.days!r}") from None
        for d in days:
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6:
                raise ScheduleError(f"window day must be 0 (Monday) .. 6 (Sunday), got {d!r}")
        if not days:
            raise ScheduleError("window has no days")
        object.__setattr__(self, "days", days)
        for name in ("start", "end"):
            t = getattr(self, name)
            if not isinstance(t, time) or t.tzinfo is not None or t.microsecond:
                raise ScheduleError(
                    f"window {name} must be a naive datetime.time in whole seconds, got {t!r}"
                )

    @property
    def spans_midnight(self) -> bool:
        return self.end <= self.start

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "window") -> Window:
        """``{"days": ["mon", ...], "start": "HH:MM", "end": "HH:MM"}``; day names may also be
        spelt in full, in any case."""
        _check_keys(data, {"days", "start", "end"}, set(), where)
        names = data["days"]
        if isinstance(names, str) or not isinstance(names, Sequence) or not names:
            raise ScheduleError(
                f"{where}.days must be a non-empty list of day names, got {names!r}"
            )
        days = set()
        for name in names:
            day = _DAY_NUMBERS.get(name.lower()) if isinstance(name, str) else None
            if day is None:
                raise ScheduleError(
                    f"{where}.days: unknown day name {name!r} (expected {', '.join(DAY_NAMES)})"
                )
            days.add(day)
        return cls(
            frozenset(days),
            _parse_time(data["start"], f"{where}.start"),
            _parse_time(data["end"], f"{where}.end"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": [DAY_NAMES[d] for d in sorted(self.days)],
            "start": _format_time(self.start),
            "end": _format_time(self.end),
        }


def _parse_instant(value: object, tz: ZoneInfo, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            dt = None
        if dt is not None:
            return dt.timestamp() if dt.tzinfo is not None else _resolve(dt, tz)
    raise ScheduleError(
        f"{where}: bad date-time {value!r} (expected ISO 8601, with an offset for an absolute "
        "time or without one for local time in the schedule's zone, or Unix seconds)"
    )


def _format_instant(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


@dataclass(frozen=True, slots=True)
class DatedException:
    """A calendar exception (not a Python one): over ``[start, end)`` (Unix seconds) the
    schedule is forced inactive (``"suppress"``) or active (``"add"``)."""

    kind: ExceptionKind
    start: float
    end: float
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EXCEPTION_KINDS:
            raise ScheduleError(
                f"exception kind must be one of {', '.join(EXCEPTION_KINDS)}, got {self.kind!r}"
            )
        for name in ("start", "end"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ScheduleError(f"exception {name} must be finite Unix seconds, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not self.end > self.start:
            raise ScheduleError(
                f"exception end {self.end!r} is not after its start {self.start!r}"
            )
        if not isinstance(self.reason, str):
            raise ScheduleError(f"exception reason must be a string, got {self.reason!r}")

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], timezone: str | ZoneInfo, where: str = "exception"
    ) -> DatedException:
        """``{"kind": "suppress" | "add", "start": ..., "end": ..., "reason": "..."}``; a bound
        without a UTC offset is local time in ``timezone``."""
        tz = timezone if isinstance(timezone, ZoneInfo) else _zone(timezone)
        _check_keys(data, {"kind", "start", "end"}, {"reason"}, where)
        kind = data["kind"]
        if kind not in EXCEPTION_KINDS:
            raise ScheduleError(
                f"{where}.kind must be one of {', '.join(EXCEPTION_KINDS)}, got {kind!r}"
            )
        start = _parse_instant(data["start"], tz, f"{where}.start")
        end = _parse_instant(data["end"], tz, f"{where}.end")
        if not end > start:
            raise ScheduleError(
                f"{where}: end {data['end']!r} is not after start {data['start']!r}"
            )
        reason = data.get("reason", "")
        if not isinstance(reason, str):
            raise ScheduleError(f"{where}.reason must be a string, got {reason!r}")
        return cls(kind, start, end, reason)

    def to_dict(self, timezone: str | ZoneInfo = "UTC") -> dict[str, Any]:
        tz = timezone if isinstance(timezone, ZoneInfo) else _zone(timezone)
        return {
            "kind": self.kind,
            "start": _format_instant(self.start, tz),
            "end": _format_instant(self.end, tz),
            "reason": self.reason,
        }


# --- interval sets --------------------------------------------------------------------------
# A set of instants is a flat, strictly increasing float64 array of boundaries
# [s0, e0, s1, e1, ...] meaning the union of [s_i, e_i); t is in it iff an odd number of
# boundaries are <= t, which is one searchsorted for any number of instants.


def _member(bounds: np.ndarray, ts: np.ndarray) -> np.ndarray:
    return (np.searchsorted(bounds, ts, side="right") & 1).astype(bool)


def _union(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return _EMPTY
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    # ">" rather than ">=": half-open intervals that touch must merge, or their shared
    # boundary would appear twice and break the odd/even membership test.
    new_run = np.empty(starts.size, dtype=bool)
    new_run[0] = True
    new_run[1:] = starts[1:] > reach[:-1]
    first = np.flatnonzero(new_run)
    last = np.append(first[1:] - 1, starts.size - 1)
    out = np.empty(2 * first.size)
    out[0::2] = starts[first]
    out[1::2] = reach[last]
    return out


def _combine(windows: np.ndarray, add: np.ndarray, suppress: np.ndarray) -> np.ndarray:
    if add.size == 0 and suppress.size == 0:
        return windows
    points = np.unique(np.concatenate([windows, add, suppress]))
    # The state on [points[i], points[i+1]); every set is empty after its last boundary.
    state = (_member(windows, points) | _member(add, points)) & ~_member(suppress, points)
    changed = state != np.concatenate([[False], state[:-1]])
    return points[changed]


@functools.lru_cache(maxsize=16384)
def _occurrences(
    timezone: str, windows: tuple[Window, ...], ordinal: int
) -> tuple[tuple[float, float], ...]:
    """UTC [start, end) of the windows that start on local day ``ordinal``."""
    tz = ZoneInfo(timezone)
    day = date.fromordinal(ordinal)
    weekday = day.weekday()
    out = []
    for w in windows:
        if weekday in w.days:
            start = _resolve(datetime.combine(day, w.start), tz)
            end_day = day + timedelta(days=1) if w.spans_midnight else day
            end = _resolve(datetime.combine(end_day, w.end), tz)
            if end > start:  # not when the whole window falls in a DST gap
                out.append((start, end))
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _range_bounds(schedule: Schedule, first: int, last: int) -> np.ndarray:
    """Boundaries that are exact for every instant whose windows start on local days
    ``first..last``; cached because the engine asks about the same few days batch after batch."""
    return schedule._bounds(range(first, last + 1))


def _check_ts(ts: float, what: str = "timestamp") -> float:
    try:
        t = float(ts)
    except (TypeError, ValueError):
        raise ScheduleError(f"{what} must be Unix seconds, got {ts!r}") from None
    if not _TS_MIN <= t <= _TS_MAX:  # also rejects NaN and infinities
        raise ScheduleError(f"{what} must be finite Unix seconds within years 1..9999, got {t!r}")
    return t


# --- schedules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """Weekly windows in an IANA zone, plus dated exceptions; see the module docstring.

    ``always_active`` makes the base schedule active at every instant (``windows`` must then be
    empty); with no windows and ``always_active`` false only ``"add"`` exceptions are active.
    """

    timezone: str = "UTC"
    windows: tuple[Window, ...] = ()
    exceptions: tuple[DatedException, ...] = ()
    always_active: bool = False
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _add: np.ndarray = field(init=False, repr=False, compare=False)
    _suppress: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tz", _zone(self.timezone))
        windows = tuple(self.windows)
        exceptions = tuple(self.exceptions)
        for w in windows:
            if not isinstance(w, Window):
                raise ScheduleError(f"schedule windows must be Window objects, got {w!r}")
        for e in exceptions:
            if not isinstance(e, DatedException):
                raise ScheduleError(f"schedule exceptions must be DatedException, got {e!r}")
        if not isinstance(self.always_active, bool):
            raise ScheduleError(f"always_active must be true or false, got {self.always_active!r}")
        if self.always_active and windows:
            raise ScheduleError("an always-active schedule cannot also have windows")
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "exceptions", exceptions)
        for kind, attr in (("add", "_add"), ("suppress", "_suppress")):
            picked = [e for e in exceptions if e.kind == kind]
            bounds = _union(np.array([e.start for e in picked]), np.array([e.end for e in picked]))
            bounds.flags.writeable = False
            object.__setattr__(self, attr, bounds)

    @classmethod
    def always(
        cls, timezone: str = "UTC", exceptions: Iterable[DatedException] = ()
    ) -> Schedule:
        """Active at every instant, except during suppressions: for rules with no schedule."""
        return cls(timezone, (), tuple(exceptions), always_active=True)

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    # -- queries --

    def active_at(self, ts: npt.ArrayLike) -> np.ndarray:
        """Whether the schedule is active at each Unix-second instant; same shape as ``ts``.

        Vectorised: expands the windows over the days the instants span (per day, not per
        instant) and answers every instant with one ``searchsorted``. NaN, infinities and
        instants outside years 1..9999 raise :class:`ScheduleError`.
        """
        t = np.asarray(ts, dtype=np.float64)
        if t.size == 0:
            return np.zeros(t.shape, dtype=bool)
        lo, hi = float(t.min()), float(t.max())
        if not (_TS_MIN <= lo and hi <= _TS_MAX):
            raise ScheduleError(
                "timestamps must be finite Unix seconds within years 1..9999, "
                f"got values in [{lo!r}, {hi!r}]"
            )
        if self.always_active and self._suppress.size == 0:
            return np.ones(t.shape, dtype=bool)
        if not self.windows:
            bounds = self._bounds(())
        elif (hi - lo) / _DAY_S <= _SPARSE_SPAN_DAYS:
            bounds = _range_bounds(self, self._ordinal(lo) - 2, self._ordinal(hi) + 1)
        else:
            # A local date is within a day of the UTC date, and an instant can only be in a
            # window that started on its local date or the day before.
            utc_days = np.unique(np.floor(t / _DAY_S).astype(np.int64))
            days = np.unique((utc_days[:, None] + np.arange(-3, 3)).ravel()) + _EPOCH_ORDINAL
            bounds = self._bounds(days.tolist())
        return _member(bounds, t)

    def is_active(self, ts: float) -> bool:
        """:meth:`active_at` for one instant."""
        return bool(self.active_at(np.array([_check_ts(ts)]))[0])

    def intervals(self, start_ts: float, end_ts: float) -> list[tuple[float, float]]:
        """When the schedule is active within ``[start_ts, end_ts)``: sorted, disjoint,
        non-touching ``(start, end)`` Unix-second pairs, clipped to the range."""
        lo, hi = _check_ts(start_ts, "start_ts"), _check_ts(end_ts, "end_ts")
        if hi < lo:
            raise ScheduleError(f"end_ts {end_ts!r} is before start_ts {start_ts!r}")
        if not self.windows:
            bounds = self._bounds(())
        else:
            bounds = _range_bounds(self, self._ordinal(lo) - 2, self._ordinal(hi) + 1)
        starts = np.maximum(bounds[0::2], lo)
        ends = np.minimum(bounds[1::2], hi)
        keep = ends > starts
        return list(zip(starts[keep].tolist(), ends[keep].tolist(), strict=True))

    def next_change(self, ts: float) -> float:
        """The first instant strictly after ``ts`` at which the active state changes, or
        ``math.inf`` if it never does: when to set the timer for "a curfew begins"."""
        t = _check_ts(ts)
        if not self.windows:
            bounds = self._bounds(())
            i = int(np.searchsorted(bounds, t, side="right"))
            return float(bounds[i]) if i < bounds.size else math.inf
        settled = max([e.end for e in self.exceptions], default=-math.inf)
        first = self._ordinal(t) - 2
        horizon = 8
        while True:
            last = min(self._ordinal(t) + horizon, _LAST_ORDINAL)
            bounds = _range_bounds(self, first, last)
            # Windows of days after `last` start no earlier than its following midnight, so
            # boundaries before then are final; one exactly there might merge with such a window.
            cutoff = _resolve(datetime.combine(date.fromordinal(last + 1), time()), self._tz)
            i = int(np.searchsorted(bounds, t, side="right"))
            if i < bounds.size and bounds[i] < cutoff:
                return float(bounds[i])
            if cutoff - max(t, settled) >= _STEADY_S or last >= _LAST_ORDINAL:
                return math.inf
            horizon *= 4

    # -- serialisation --

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Parse ``{"timezone": ..., "windows": [...], "exceptions": [...]}`` or
        ``{"always": true, "timezone": ..., "exceptions": [...]}`` (``timezone`` defaults to UTC
        and ``exceptions`` to none there; ``exceptions`` is optional everywhere)."""
        if not isinstance(data, Mapping):
            raise ScheduleError(f"schedule must be an object, got {data!r}")
        always = data.get("always", False)
        if not isinstance(always, bool):
            raise ScheduleError(f"schedule 'always' must be true or false, got {always!r}")
        if always:
            _check_keys(data, set(), {"always", "timezone", "windows", "exceptions"}, "schedule")
            if data.get("windows"):
                raise ScheduleError("an always-active schedule cannot also have windows")
        else:
            _check_keys(data, {"timezone", "windows"}, {"always", "exceptions"}, "schedule")
        name = data.get("timezone", "UTC")
        tz = _zone(name)
        raw_windows = [] if always else data["windows"]
        raw_exceptions = data.get("exceptions", [])
        for key, value in (("windows", raw_windows), ("exceptions", raw_exceptions)):
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
                raise ScheduleError(f"schedule '{key}' must be a list, got {value!r}")
        windows = tuple(Window.from_dict(w, f"windows[{i}]") for i, w in enumerate(raw_windows))
        exceptions = tuple(
            DatedException.from_dict(e, tz, f"exceptions[{i}]")
            for i, e in enumerate(raw_exceptions)
        )
        return cls(name, windows, exceptions, always_active=always)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form :meth:`from_dict` reads; exceptions as ISO times in the zone."""
        out: dict[str, Any] = {"timezone": self.timezone}
        if self.always_active:
            out["always"] = True
        else:
            out["windows"] = [w.to_dict() for w in self.windows]
        out["exceptions"] = [e.to_dict(self._tz) for e in self.exceptions]
        return out

    # -- internals --

    def _ordinal(self, ts: float) -> int:
        return datetime.fromtimestamp(ts, self._tz).toordinal()

    def _bounds(self, ordinals: Iterable[int]) -> np.ndarray:
        if self.always_active:
            base = _EVERYTHING
        else:
            pairs = [
                p for o in ordinals for p in _occurrences(self.timezone, self.windows, o)
            ]
            arr = np.array(pairs, dtype=np.float64).reshape(-1, 2)
            base = _union(arr[:, 0], arr[:, 1])
        bounds = _combine(base, self._add, self._suppress)
        if bounds.flags.writeable:
            bounds.flags.writeable = False
        return bounds
