"""The engine's clock: when a message arrived, when a timer falls due.

In production it is the wall clock. To replay a simulated week through the real engine in a
quarter of an hour (``benchmarks.detection``), the devices' clock runs faster than the wall's,
and the engine's must run with it, or every silence would look a few hundred times shorter:
``accelerated:<simulated start>@<wall start>x<rate>`` reads ``simulated start + (now − wall
start) × rate``.

>>> clock = parse_clock("accelerated:1000@0x60")
>>> clock.rate, clock.sim_start
(60.0, 1000.0)
>>> parse_clock("sundial")
Traceback (most recent call last):
...
ValueError: clock 'sundial' must be 'wall' or 'accelerated:<sim start>@<wall start>x<rate>'
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class AcceleratedClock:
    sim_start: float
    wall_start: float
    rate: float

    def __call__(self) -> float:
        return self.sim_start + (time.time() - self.wall_start) * self.rate


_ACCELERATED = re.compile(r"accelerated:([0-9.e+-]+)@([0-9.e+-]+)x([0-9.e+-]+)")


def parse_clock(spec: str) -> Clock:
    if spec == "wall":
        return time.time
    m = _ACCELERATED.fullmatch(spec)
    if m is None or float(m.group(3)) <= 0:
        raise ValueError(f"clock {spec!r} must be 'wall' or "
                         "'accelerated:<sim start>@<wall start>x<rate>'")
    return AcceleratedClock(float(m.group(1)), float(m.group(2)), float(m.group(3)))
