"""A position fix, and a batch of them held as NumPy arrays (struct of arrays)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


def newest_of_each(device_no: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Indexes of the newest fix of each device, given each fix's device number.

    >>> newest_of_each(np.array([1, 0, 1, 0]), np.array([5.0, 2.0, 7.0, 1.0])).tolist()
    [1, 2]
    """
    by_device = np.lexsort((ts, device_no))
    return by_device[np.r_[device_no[by_device][1:] != device_no[by_device][:-1], True]]


class Fix(NamedTuple):
    """One validated position report.

    ``ts`` and ``received_at`` are Unix seconds (UTC); ``accuracy_m`` is the device's 1-sigma-ish
    accuracy radius in metres; ``battery`` is a percentage or NaN when not reported.
    """

    device_id: str
    ts: float
    lon: float
    lat: float
    accuracy_m: float
    battery: float
    received_at: float
    source: str


_FLOATS = ("ts", "lon", "lat", "accuracy_m", "battery", "received_at")


@dataclass(frozen=True, slots=True)
class FixBatch:
    """Fixes as parallel arrays: the shape the decoder produces, the geofence kernels consume and
    the store copies. Row ``i`` of every array is one fix.

    >>> b = FixBatch.from_fixes([Fix("d1", 10.0, 1.0, 2.0, 5.0, float("nan"), 11.0, "native")])
    >>> len(b), b.device_id[0], b.lon.tolist(), b.fix(0).source
    (1, 'd1', [1.0], 'native')
    """

    device_id: np.ndarray  # object (str)
    ts: np.ndarray  # float64, Unix seconds
    lon: np.ndarray  # float64
    lat: np.ndarray  # float64
    accuracy_m: np.ndarray  # float64
    battery: np.ndarray  # float64, NaN when not reported
    received_at: np.ndarray  # float64, Unix seconds
    source: np.ndarray  # object (str): "owntracks", "native", "osmand"

    @classmethod
    def empty(cls) -> FixBatch:
        return cls(np.zeros(0, dtype=object), *(np.zeros(0) for _ in _FLOATS),
                   np.zeros(0, dtype=object))

    @classmethod
    def from_fixes(cls, fixes: Sequence[Fix]) -> FixBatch:
        n = len(fixes)
        if not n:
            return cls.empty()
        cols = list(zip(*fixes, strict=True))
        return cls(
            device_id=np.array(cols[0], dtype=object),
            ts=np.fromiter(cols[1], dtype=np.float64, count=n),
            lon=np.fromiter(cols[2], dtype=np.float64, count=n),
            lat=np.fromiter(cols[3], dtype=np.float64, count=n),
            accuracy_m=np.fromiter(cols[4], dtype=np.float64, count=n),
            battery=np.fromiter(cols[5], dtype=np.float64, count=n),
            received_at=np.fromiter(cols[6], dtype=np.float64, count=n),
            source=np.array(cols[7], dtype=object),
        )

    @classmethod
    def concat(cls, batches: Sequence[FixBatch]) -> FixBatch:
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(*(np.concatenate([getattr(b, name) for b in batches])
                     for name in cls.__slots__))

    def take(self, rows: np.ndarray) -> FixBatch:
        """The fixes at ``rows`` (indexes or a boolean mask), in that order."""
        return FixBatch(*(getattr(self, name)[rows] for name in self.__slots__))

    def fix(self, i: int) -> Fix:
        return Fix(str(self.device_id[i]), float(self.ts[i]), float(self.lon[i]),
                   float(self.lat[i]), float(self.accuracy_m[i]), float(self.battery[i]),
                   float(self.received_at[i]), str(self.source[i]))

    def __len__(self) -> int:
        return len(self.ts)
