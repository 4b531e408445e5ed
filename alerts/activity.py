"""What each device did last: when it was last heard from, its newest fix, its battery.

The timer rules (lost contact, no fix, a device that died) and the rules that compare positions
across batches (pass-through, victim proximity, separation) read it. It is kept as arrays
indexed by device number, so a check of every device on each tick is a few vectorised passes
even for a million devices.

Times: ``last_message``, ``last_fix_message`` and ``first_blind`` (the first message without a
position since the last fix; NaN while the last message was a fix) are arrival instants on the
engine's clock; ``fix_ts`` is the newest fix time and ``heard_ts`` the newest fix or event time
(the device's clock). NaN: never.

>>> a = Activity(["br-1", "ph-1"])
>>> a.record_fixes(np.array([0]), np.array([100.0]), np.array([1.0]), np.array([2.0]),
...                np.array([10.0]), np.array([55.0]), np.array([101.0]))
>>> float(a.last_message[0]), float(a.battery[0]), bool(np.isnan(a.last_message[1]))
(101.0, 55.0, True)
>>> b = a.renumbered(["ph-1", "br-1", "br-2"])
>>> float(b.fix_ts[1]), bool(np.isnan(b.fix_ts[2]))
(100.0, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from devices.fixes import newest_of_each

_FIELDS = ("last_message", "last_fix_message", "first_blind", "fix_ts", "heard_ts", "lon",
           "lat", "acc", "battery", "battery_ts", "best_ts", "best_lon", "best_lat", "best_acc")
DRIFT_M_PER_S = 1.5  # how fast a best fix ages (walking pace): see best_fix


class Activity:
    def __init__(self, device_ids: Sequence[str]):
        self.device_ids = list(device_ids)
        n = len(self.device_ids)
        for name in _FIELDS:
            setattr(self, name, np.full(n, np.nan))
        self.last_message: np.ndarray
        self.last_fix_message: np.ndarray
        self.first_blind: np.ndarray
        self.fix_ts: np.ndarray
        self.heard_ts: np.ndarray
        self.lon: np.ndarray
        self.lat: np.ndarray
        self.acc: np.ndarray
        self.battery: np.ndarray
        self.battery_ts: np.ndarray
        # The *best* recent fix: the one whose accuracy, grown by DRIFT_M_PER_S for its age, is
        # the smallest — for a phone lying indoors on a Wi-Fi fix of 300 m, the GPS fix of a
        # minute before says more.
        self.best_ts: np.ndarray
        self.best_lon: np.ndarray
        self.best_lat: np.ndarray
        self.best_acc: np.ndarray

    def renumbered(self, device_ids: Sequence[str]) -> Activity:
        """The same facts under a new device numbering (after the registry changed)."""
        out = Activity(device_ids)
        old = {d: i for i, d in enumerate(self.device_ids)}
        pairs = [(j, old[d]) for j, d in enumerate(device_ids) if d in old]
        if pairs:
            new_ix, old_ix = (np.asarray(x, dtype=np.int64) for x in zip(*pairs, strict=True))
            for name in _FIELDS:
                getattr(out, name)[new_ix] = getattr(self, name)[old_ix]
        return out

    def record_fixes(self, device_no: np.ndarray, ts: np.ndarray, lon: np.ndarray,
                     lat: np.ndarray, acc: np.ndarray, battery: np.ndarray,
                     received: np.ndarray) -> None:
        """A committed batch of fixes (any order)."""
        if not len(device_no):
            return
        _latest(self.last_message, device_no, received)
        _latest(self.last_fix_message, device_no, received)
        _latest(self.heard_ts, device_no, ts)
        self.first_blind[device_no] = np.nan
        last = newest_of_each(device_no, ts)
        d = device_no[last]
        newer = ~(ts[last] <= self.fix_ts[d])  # NaN (never) compares False: newer
        d, rows = d[newer], last[newer]
        self.fix_ts[d], self.lon[d], self.lat[d], self.acc[d] = ts[rows], lon[rows], lat[rows], \
            acc[rows]
        better = ~(acc[rows] > self.best_acc[d] + DRIFT_M_PER_S * (ts[rows] - self.best_ts[d]))
        d, rows = d[better], rows[better]
        self.best_ts[d], self.best_lon[d], self.best_lat[d], self.best_acc[d] = (
            ts[rows], lon[rows], lat[rows], acc[rows])
        self._record_battery(device_no, ts, battery)

    def record_messages(self, device_no: np.ndarray, ts: np.ndarray, battery: np.ndarray,
                        received: np.ndarray) -> None:
        """Committed messages without a position (device events, heartbeats)."""
        if not len(device_no):
            return
        _latest(self.last_message, device_no, received)
        _latest(self.heard_ts, device_no, ts)
        blind = np.isnan(self.first_blind[device_no])
        first = np.full(len(self.first_blind), np.inf)
        np.minimum.at(first, device_no[blind], received[blind])
        now_blind = np.isfinite(first)
        self.first_blind[now_blind] = first[now_blind]
        self._record_battery(device_no, ts, battery)

    def _record_battery(self, device_no: np.ndarray, ts: np.ndarray, battery: np.ndarray
                        ) -> None:
        has = ~np.isnan(battery)
        if not has.any():
            return
        device_no, ts, battery = device_no[has], ts[has], battery[has]
        last = newest_of_each(device_no, ts)
        d = device_no[last]
        newer = ~(ts[last] <= self.battery_ts[d])
        self.battery[d[newer]] = battery[last][newer]
        self.battery_ts[d[newer]] = ts[last][newer]


def _latest(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """target[i] = max(target[i], values of i), NaN counting as never."""
    current = np.where(np.isnan(target[index]), -np.inf, target[index])
    merged = np.full(len(target), -np.inf)
    np.maximum.at(merged, index, np.maximum(values, current))
    touched = np.unique(index)
    target[touched] = merged[touched]
