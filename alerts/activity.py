"""What each device did last: when it was last heard from, its newest fix, its battery.

The timer rules (lost contact, no fix, a device that died) and the rules that compare positions
across batches (pass-through, victim proximity, separation) read it. It is kept as arrays
indexed by device number, so a check of every device on each tick is a few vectorised passes
even for a million devices.

Times: ``last_message``, ``last_fix_message`` and ``first_blind`` (the first message without a
position since the last fix; NaN while the last message was a fix) are arrival instants on the
engine's clock; ``fix_ts`` is the newest fix time and ``heard_ts`` the newest fix or event time
(the device's clock). NaN: never.

The newest :data:`RECENT_FIXES` fixes of each device are kept too (``recent_ts``, ``recent_lon``,
``recent_lat``, ``recent_acc``, oldest first): a rule that must judge a person from what they
sent before a curfew began asks for a confirmed streak, not a single fix. ``fix_ts``, ``lon``,
``lat`` and ``acc`` are views of their newest column.

>>> a = Activity(["br-1", "ph-1"])
>>> a.record_fixes(np.array([0]), np.array([100.0]), np.array([1.0]), np.array([2.0]),
...                np.array([10.0]), np.array([55.0]), np.array([101.0]))
>>> float(a.last_message[0]), float(a.battery[0]), bool(np.isnan(a.last_message[1]))
(101.0, 55.0, True)
>>> b = a.renumbered(["ph-1", "br-1", "br-2"])
>>> float(b.fix_ts[1]), bool(np.isnan(b.fix_ts[2]))
(100.0, True)
>>> b.record_fixes(np.array([1, 1, 1]), np.array([160.0, 130.0, 100.0]), np.zeros(3), np.zeros(3),
...                np.zeros(3), np.full(3, np.nan), np.full(3, 161.0))
>>> b.recent_ts[1].tolist(), float(b.fix_ts[1])
([100.0, 130.0, 160.0], 160.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from devices.fixes import newest_of_each

_FIELDS = ("last_message", "last_fix_message", "first_blind", "heard_ts", "battery", "battery_ts",
           "best_ts", "best_lon", "best_lat", "best_acc")
_RECENT = ("recent_ts", "recent_lon", "recent_lat", "recent_acc")
RECENT_FIXES = 3  # the engine's default confirmation
DRIFT_M_PER_S = 1.5  # how fast a best fix ages (walking pace): see best_fix


class Activity:
    def __init__(self, device_ids: Sequence[str]):
        # (The roster's numbering, held as given: never changed in place, and two million ids
        # copied would hold the event loop.)
        self.device_ids = device_ids
        n = len(self.device_ids)
        for name in _FIELDS:
            setattr(self, name, np.full(n, np.nan))
        for name in _RECENT:
            setattr(self, name, np.full((n, RECENT_FIXES), np.nan))
        self.last_message: np.ndarray
        self.last_fix_message: np.ndarray
        self.first_blind: np.ndarray
        self.heard_ts: np.ndarray
        self.recent_ts: np.ndarray
        self.recent_lon: np.ndarray
        self.recent_lat: np.ndarray
        self.recent_acc: np.ndarray
        # The newest fix: views, written through the recent fixes.
        self.fix_ts = self.recent_ts[:, -1]
        self.lon = self.recent_lon[:, -1]
        self.lat = self.recent_lat[:, -1]
        self.acc = self.recent_acc[:, -1]
        self.battery: np.ndarray
        self.battery_ts: np.ndarray
        # The *best* recent fix: the one whose accuracy, grown by DRIFT_M_PER_S for its age, is
        # the smallest — for a phone lying indoors on a Wi-Fi fix of 300 m, the GPS fix of a
        # minute before says more.
        self.best_ts: np.ndarray
        self.best_lon: np.ndarray
        self.best_lat: np.ndarray
        self.best_acc: np.ndarray
        self.still = StillAnchors(n)

    def renumbered(self, device_ids: Sequence[str]) -> Activity:
        """The same facts under a new device numbering (after the registry changed)."""
        return self.moved(device_ids, renumbering(self.device_ids, device_ids))

    def moved(self, device_ids: Sequence[str], numbering: tuple[np.ndarray, np.ndarray],
              into: Activity | None = None) -> Activity:
        """:meth:`renumbered` with the numbering worked out already (see :func:`renumbering`,
        which a worker thread can run: this part only copies arrays). ``into``: a fresh
        activity of ``device_ids`` (nothing recorded in it yet) to fill, rather than one made
        here — a new roster's own (at a million supervisees each is 350 MB)."""
        out = into if into is not None and into.device_ids is device_ids else Activity(
            device_ids)
        new_ix, old_ix = numbering
        if len(new_ix):
            for name in _FIELDS + _RECENT:
                getattr(out, name)[new_ix] = getattr(self, name)[old_ix]
        out.still = self.still.renumbered(len(out.device_ids), new_ix, old_ix)
        return out

    def patched(self, device_ids: Sequence[str], cleared: np.ndarray) -> Activity:
        """The same facts under a numbering patched from this one's (see
        :meth:`alerts.roster.Roster.patched`: nothing renumbered, numbers added last), with
        the ``cleared`` numbers (a new device, or none) never heard from. In place when no
        number was added: a few rows written, not every array copied."""
        out = self
        if len(device_ids) > len(self.device_ids):
            out = Activity(device_ids)
            old = len(self.device_ids)
            for name in _FIELDS + _RECENT:
                getattr(out, name)[:old] = getattr(self, name)
        out.device_ids = device_ids
        for name in _FIELDS + _RECENT:
            getattr(out, name)[cleared] = np.nan
        out.still = self.still.resized(len(out.device_ids), cleared)
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
        self._push_recent(device_no, ts, lon, lat, acc)
        better = ~(acc[rows] > self.best_acc[d] + DRIFT_M_PER_S * (ts[rows] - self.best_ts[d]))
        d, rows = d[better], rows[better]
        self.best_ts[d], self.best_lon[d], self.best_lat[d], self.best_acc[d] = (
            ts[rows], lon[rows], lat[rows], acc[rows])
        self._record_battery(device_no, ts, battery)

    def recent(self, n: int, count: int) -> tuple[np.ndarray, ...]:
        """(ts, lon, lat, acc) of device ``n``'s newest ``count`` fixes (at most
        :data:`RECENT_FIXES`), oldest first; fewer if it sent fewer."""
        count = min(count, RECENT_FIXES)
        ts = self.recent_ts[n, RECENT_FIXES - count:]
        have = ~np.isnan(ts)
        return tuple(getattr(self, name)[n, RECENT_FIXES - count:][have] for name in _RECENT)

    def _push_recent(self, device_no: np.ndarray, ts: np.ndarray, lon: np.ndarray,
                     lat: np.ndarray, acc: np.ndarray) -> None:
        """Merge a batch's fixes into each device's newest :data:`RECENT_FIXES` (a late fix
        older than them all changes nothing; a repeated one counts once)."""
        k = RECENT_FIXES
        touched = np.unique(device_no)
        dev = np.concatenate([np.repeat(touched, k), device_no])
        cols = [np.concatenate([getattr(self, name)[touched].ravel(), new])
                for name, new in zip(_RECENT, (ts, lon, lat, acc), strict=True)]
        known = ~np.isnan(cols[0])
        dev, cols = dev[known], [c[known] for c in cols]
        order = np.lexsort((cols[0], dev))  # stable: of equal times, the stored one first
        dev, cols = dev[order], [c[order] for c in cols]
        unique = np.ones(len(dev), dtype=bool)
        unique[1:] = (dev[1:] != dev[:-1]) | (cols[0][1:] != cols[0][:-1])
        dev, cols = dev[unique], [c[unique] for c in cols]
        from_end = np.searchsorted(dev, dev, side="right") - 1 - np.arange(len(dev))
        keep = from_end < k
        column = k - 1 - from_end[keep]
        for name, values in zip(_RECENT, cols, strict=True):
            target = getattr(self, name)
            target[touched] = np.nan
            target[dev[keep], column] = values[keep]

    def record_messages(self, device_no: np.ndarray, ts: np.ndarray, battery: np.ndarray,
                        received: np.ndarray) -> None:
        """Committed messages without a position (device events, heartbeats)."""
        if not len(device_no):
            return
        _latest(self.last_message, device_no, received)
        _latest(self.heard_ts, device_no, ts)
        blind = np.isnan(self.first_blind[device_no])
        if blind.any():
            # (Over the devices of the batch, not every device: a million of them at each.)
            touched, at = np.unique(device_no[blind], return_inverse=True)
            first = np.full(len(touched), np.inf)
            np.minimum.at(first, at.reshape(-1), received[blind])
            now_blind = np.isfinite(first)
            self.first_blind[touched[now_blind]] = first[now_blind]
        self._record_battery(device_no, ts, battery)

    def restore_messages(self, device_no: np.ndarray, received: np.ndarray, ts: np.ndarray,
                         battery: np.ndarray, battery_ts: np.ndarray) -> None:
        """What stored messages without a position say, at start: per device, the newest
        arrival and device time, and the newest battery reading (NaN: none) with its time.
        Call after the stored fixes are recorded."""
        if not len(device_no):
            return
        _latest(self.last_message, device_no, received)
        _latest(self.heard_ts, device_no, ts)
        # Blind since the first message after the last fix: only the newest is at hand, a
        # bound that can make no_fix later than live, never earlier.
        blind = ~(received <= self.last_fix_message[device_no]) & np.isnan(
            self.first_blind[device_no])
        self.first_blind[device_no[blind]] = received[blind]
        self._record_battery(device_no, battery_ts, battery)

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


_STILL = ("ts", "lon", "lat", "acc", "upto", "away_n", "away_last", "moved")


class StillAnchors:
    """Where each watched phone came to rest (:mod:`alerts.rules.phone_left_behind`): the
    anchor (``ts``, ``lon``, ``lat``, ``acc``), the newest fix folded into it (``upto``), the
    streak of fixes certainly away (``away_n``, ``away_last``), and whether the anchor is where
    the phone moved to (``moved``: 1). NaN: never.

    Held in rows for the devices the rule has folded a fix of (``row``, by device number; -1:
    none), not for every device: most devices are bracelets, or the phones of people who wear
    one, and eight numbers for each of them were an eighth of the engine's memory.

    >>> s = StillAnchors(4)
    >>> rows = s.rows(np.array([3, 1, 3]))
    >>> rows.tolist(), bool(np.isnan(s.ts[rows[0]])), s.row.tolist()
    ([1, 0, 1], True, [-1, 0, -1, 1])
    """

    def __init__(self, n_devices: int):
        self.row = np.full(n_devices, -1, dtype=np.int32)
        self.used = 0
        for name in _STILL:
            setattr(self, name, np.zeros(0))
        self.ts: np.ndarray
        self.lon: np.ndarray
        self.lat: np.ndarray
        self.acc: np.ndarray
        self.upto: np.ndarray
        self.away_n: np.ndarray
        self.away_last: np.ndarray
        self.moved: np.ndarray

    def rows(self, device_no: np.ndarray) -> np.ndarray:
        """The rows of these devices, a new one (never anchored) for each without."""
        rows = self.row[device_no]
        if (rows < 0).any():
            new = np.unique(device_no[rows < 0])
            need = self.used + len(new)
            if need > len(self.ts):
                size = max(need, 2 * len(self.ts), 64)
                for name in _STILL:
                    grown = np.full(size, np.nan)
                    grown[:self.used] = getattr(self, name)[:self.used]
                    setattr(self, name, grown)
            self.row[new] = np.arange(self.used, need)
            self.used = need
            rows = self.row[device_no]
        return rows

    def renumbered(self, n_devices: int, new_ix: np.ndarray, old_ix: np.ndarray
                   ) -> StillAnchors:
        """The same anchors under a new device numbering (see :meth:`Activity.moved`)."""
        out = StillAnchors(n_devices)
        out.row[new_ix] = self.row[old_ix]
        out.used = self.used
        for name in _STILL:
            setattr(out, name, getattr(self, name).copy())
        return out

    def resized(self, n_devices: int, cleared: np.ndarray) -> StillAnchors:
        """For ``n_devices`` numbers (only ever more), the ``cleared`` ones never anchored
        (see :meth:`Activity.patched`); in place when the numbers are as many."""
        if n_devices != len(self.row):
            row = np.full(n_devices, -1, dtype=np.int32)
            row[:len(self.row)] = self.row[:n_devices]
            self.row = row
        self.row[cleared] = -1
        return self


def renumbering(old_ids: Sequence[str], new_ids: Sequence[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """(new numbers, old numbers) of the devices in both numberings."""
    old = {d: i for i, d in enumerate(old_ids)}
    pairs = [(j, old[d]) for j, d in enumerate(new_ids) if d in old]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    new_ix, old_ix = (np.asarray(x, dtype=np.int64) for x in zip(*pairs, strict=True))
    return new_ix, old_ix


def _latest(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """target[i] = max(target[i], values of i), NaN counting as never (worked out over the
    numbers in ``index``, not every number: a million devices at each batch)."""
    touched, at = np.unique(index, return_inverse=True)
    merged = target[touched]
    merged[np.isnan(merged)] = -np.inf
    np.maximum.at(merged, at.reshape(-1), values)
    target[touched] = merged
