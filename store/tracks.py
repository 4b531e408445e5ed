"""A supervisee's track: the fixes of all their devices over a time range, thinned for long
ranges (Douglas–Peucker, which keeps the points that shape the path: stops, turns, the far end
of an excursion)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg

from history.thinning import kept, significance, significance_in_time
from store.history import device_fixes, supervisee_devices

M_PER_DEGREE = 111_320.0


@dataclass(slots=True)
class Track:
    """One device's fixes in time order (columns)."""

    device_id: str
    ts: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy_m: np.ndarray
    battery: np.ndarray

    def take(self, rows: np.ndarray) -> Track:
        return Track(self.device_id, self.ts[rows], self.lon[rows], self.lat[rows],
                     self.accuracy_m[rows], self.battery[rows])

    def __len__(self) -> int:
        return len(self.ts)


async def supervisee_tracks(conn: psycopg.AsyncConnection, supervisee_id: str,
                            start: datetime, end: datetime, limit: int) -> list[Track]:
    """The fixes of each of the supervisee's devices in ``[start, end)``, at most ``limit``
    in all (the earliest, device by device). Read as a binary COPY parsed by NumPy."""
    got = await device_fixes(conn, await supervisee_devices(conn, supervisee_id), start, end,
                             limit)
    tracks: list[Track] = []
    for no, device_id in enumerate(got.device_ids):
        sel = got.device == no
        if sel.any():
            tracks.append(Track(device_id, got.ts[sel], got.lon[sel], got.lat[sel],
                                got.accuracy_m[sel], got.battery[sel]))
    return tracks


def simplified(track: Track, tolerance_m: float) -> Track:
    """The fixes Douglas–Peucker keeps at ``tolerance_m`` (the first and last always): those
    ``shapely.simplify(line, tolerance_m / M_PER_DEGREE, preserve_topology=False)`` keeps.

    >>> t = Track("d", np.arange(5.0), np.array([0, 1e-5, 2e-5, 3e-5, 4e-5]), np.zeros(5),
    ...           np.ones(5), np.ones(5))
    >>> simplified(t, 5.0).ts.tolist()  # a straight line: its two ends
    [0.0, 4.0]
    """
    if len(track) < 3 or tolerance_m <= 0:
        return track
    tolerance = tolerance_m / M_PER_DEGREE
    return track.take(np.flatnonzero(kept(significance(track.lon, track.lat, tolerance),
                                          tolerance)))


def thinned(tracks: list[Track], max_points: int, in_time: bool = False
            ) -> tuple[list[Track], float]:
    """Simplify with a tolerance doubled from 5 m until the tracks hold at most ``max_points``
    fixes; returns them and the tolerance used (0: nothing removed). Each track's
    Douglas–Peucker recursion runs once (:mod:`history.thinning`); each tolerance tried is a
    count. ``in_time``: by the synchronised distance, so that stays and speeds survive (every
    dropped fix within the tolerance of the thinned track at its own time)."""
    if sum(len(t) for t in tracks) <= max_points:
        return tracks, 0.0
    tolerance = 5.0
    sig = [(significance_in_time(t.ts, t.lon, t.lat, tolerance / M_PER_DEGREE) if in_time
            else significance(t.lon, t.lat, tolerance / M_PER_DEGREE)) if len(t) >= 3
           else np.full(len(t), np.inf) for t in tracks]
    while True:
        keep = [kept(s, tolerance / M_PER_DEGREE) for s in sig]
        if sum(int(k.sum()) for k in keep) <= max_points or tolerance > 100_000:
            return [t.take(np.flatnonzero(k)) for t, k in zip(tracks, keep, strict=True)], \
                tolerance
        tolerance *= 2
