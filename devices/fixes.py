"""A position fix, and a batch of them held as NumPy arrays (struct of arrays)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


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


@dataclass(frozen=True, slots=True)
class FixBatch:
    """Fixes as parallel arrays, the shape the geofence kernels consume."""

    device_id: np.ndarray  # object (str)
    ts: np.ndarray  # float64, Unix seconds
    lon: np.ndarray  # float64
    lat: np.ndarray  # float64
    accuracy_m: np.ndarray  # float64

    @classmethod
    def from_fixes(cls, fixes: Sequence[Fix]) -> FixBatch:
        return cls(
            device_id=np.array([f.device_id for f in fixes], dtype=object),
            ts=np.fromiter((f.ts for f in fixes), dtype=np.float64, count=len(fixes)),
            lon=np.fromiter((f.lon for f in fixes), dtype=np.float64, count=len(fixes)),
            lat=np.fromiter((f.lat for f in fixes), dtype=np.float64, count=len(fixes)),
            accuracy_m=np.fromiter(
                (f.accuracy_m for f in fixes), dtype=np.float64, count=len(fixes)
            ),
        )

    def __len__(self) -> int:
        return len(self.ts)
