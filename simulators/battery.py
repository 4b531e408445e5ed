"""Battery charge over time: drain, daily charging, and running flat.

A device drains at a steady rate (%/h) and charges at another during *charging sessions*: a
bracelet for a couple of hours every evening at home, a phone overnight. The level is therefore
piecewise linear, and is kept as knots. A neglected device (the ``battery_dead`` script) skips
the sessions before its death: from the end of the last session it did get, it drains straight
to 0 % at the scripted instant, is off until it is plugged in again, and charges from there.

Compliant rates are chosen so that the level never falls below 30 %: ``low_battery`` (at
:data:`LOW_BATTERY_PCT`) only happens to devices that are let die.

>>> b = plan_battery([(10 * 3600, 12 * 3600)], t0=0.0, level0=80.0, drain_per_h=5.0,
...                  charge_per_h=40.0, t_end=24 * 3600)
>>> [round(float(x)) for x in b.level_at(np.array([0, 10 * 3600, 11 * 3600, 24 * 3600]))]
[80, 30, 70, 40]
>>> [name for _, name in b.events]
['charger_connected', 'charger_disconnected']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.intervals import Interval, as_array, member

FloatArray = npt.NDArray[np.float64]
LOW_BATTERY_PCT = 15.0
MIN_NEGLECT_S = 12 * 3600.0  # a device let die runs at least this long on its last charge


@dataclass(frozen=True, slots=True, eq=False)
class Battery:
    t: FloatArray
    level: FloatArray
    charging: FloatArray  # (n, 2) intervals on the charger
    dead: tuple[Interval, ...]  # flat: off until plugged in
    events: tuple[tuple[float, str], ...]

    def level_at(self, ts: FloatArray) -> FloatArray:
        return np.interp(ts, self.t, self.level)

    def charging_at(self, ts: FloatArray) -> npt.NDArray[np.bool_]:
        return member(ts, self.charging) >= 0


def plan_battery(sessions: Sequence[Interval], t0: float, level0: float, drain_per_h: float,
                 charge_per_h: float, t_end: float, death: Interval | None = None) -> Battery:
    """Simulate from ``t0`` (at ``level0`` %) to ``t_end``. ``death = (flat_at, plugged_at)``
    skips the sessions that would have prevented it and adds the one that revives the device."""
    sessions = sorted(s for s in sessions if s[0] >= t0)
    drain_to: tuple[float, float] | None = None  # (after this session end, reach 0 at)
    dead: list[Interval] = []
    if death is not None:
        flat_at, plugged_at = death
        kept = [s for s in sessions if s[1] <= flat_at - MIN_NEGLECT_S]
        revive = (plugged_at, plugged_at + 2.5 * 3600)
        later = [s for s in sessions if s[0] >= revive[1] + 1800]
        sessions = [*kept, revive, *later]
        drain_to = (kept[-1][1] if kept else t0, flat_at)
        dead.append(death)
    knots: list[tuple[float, float]] = [(t0, level0)]
    events: list[tuple[float, str]] = []
    t, level = t0, level0

    def drain_until(t_stop: float, rate_per_h: float) -> None:
        nonlocal t, level
        new = level - rate_per_h * (t_stop - t) / 3600.0
        if level > LOW_BATTERY_PCT >= new:
            events.append((t + (level - LOW_BATTERY_PCT) / rate_per_h * 3600.0, "low_battery"))
        t, level = t_stop, max(new, 0.0)
        knots.append((t, level))

    for s, e in sessions:
        if drain_to is not None and t >= drain_to[0] and drain_to[1] <= s:
            flat_at = drain_to[1]
            drain_until(flat_at, level / max(flat_at - t, 1.0) * 3600.0)
            events.append((flat_at, "power_off"))
            knots.append((s, 0.0))
            t, level = s, 0.0
            events.append((s, "power_on"))
            drain_to = None
        else:
            drain_until(s, drain_per_h)
        events.append((s, "charger_connected"))
        full_at = s + (100.0 - level) / charge_per_h * 3600.0
        if full_at < e:
            knots.append((full_at, 100.0))
            level = 100.0
        else:
            level += charge_per_h * (e - s) / 3600.0
        knots.append((e, level))
        t = e
        events.append((e, "charger_disconnected"))
    drain_until(max(t_end, t + 1.0), drain_per_h)
    arr = np.array(knots)
    # Knots may repeat an instant (full exactly at a session's end): keep the last level.
    keep = np.r_[np.diff(arr[:, 0]) > 0, True]
    return Battery(arr[keep, 0], arr[keep, 1], as_array(list(sessions)), tuple(dead),
                   tuple(sorted(events)))
