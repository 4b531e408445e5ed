"""What a receiver reports for a true position: honest noise most of the time, and the ways
real positioning goes wrong.

Each fix reports an accuracy radius ``acc``. In an *honest* regime the error is a 2-D Gaussian
scaled so that the true point lies within ``acc`` of the reported one 95 % of the time
(sigma = acc / sqrt(2 ln 20) per axis). The regimes, by what the wearer is doing:

- **open sky** (driving, outdoors): acc 3–30 m, honest;
- **urban canyon** (driving, in runs of minutes): acc 15–50 m, errors a little larger than
  claimed (86 % within);
- **indoor drift** (staying indoors, GPS): the error wanders slowly — a smooth sum of
  sinusoids with periods of minutes, up to ~30 m — and the accuracy follows it loosely, so now
  and then the true point is outside the claimed radius;
- **Wi-Fi fallback** (phones indoors, in runs): acc 100–400 m; **cell fallback** (indoors, in
  runs, more often for bracelets): acc 500–2000 m; both honest;
- **multipath** (any time, ~1 % of fixes, more in urban canyons): a fix 50–300 m off that claims
  4–15 m — the classic lie;
- **cold start** (the first 90 s after a device comes back on): 100–800 m off, claiming 20–120 m.

Regimes that come in runs are driven by slow sinusoids of time with per-device phases, so a
fix's regime depends only on its time: no state is carried between fixes, and any stretch of a
device's life can be rendered on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.geo import metres_per_degree
from simulators.paths import DRIVE, INDOOR

FloatArray = npt.NDArray[np.float64]
K95 = math.sqrt(2.0 * math.log(20.0))  # radius / sigma holding 95 % of a 2-D Gaussian


@dataclass(frozen=True, slots=True)
class Receiver:
    """A device's positioning character."""

    kind: str  # "bracelet" | "phone"
    quality: float  # scales open-sky accuracy (antenna, mounting)
    drift_m: float  # indoor drift amplitude
    phases: tuple[float, ...]
    periods: tuple[float, ...]

    @classmethod
    def draw(cls, kind: str, rng: np.random.Generator) -> Receiver:
        return cls(
            kind,
            float(rng.uniform(0.8, 1.3)),
            float(rng.uniform(8.0, 30.0)),
            tuple(float(x) for x in rng.uniform(0, 2 * math.pi, 8)),
            tuple(float(x) for x in rng.uniform([900, 1700, 3100, 400, 560, 2300],
                                                 [1500, 2600, 4700, 700, 900, 3500])),
        )

    def wave(self, k: int, ts: FloatArray) -> FloatArray:
        return np.sin(2.0 * math.pi * ts / self.periods[k % 6] + self.phases[k])


def observe(rx: Receiver, ts: FloatArray, lon: FloatArray, lat: FloatArray,
            mode: npt.NDArray[np.int8], cold: npt.NDArray[np.bool_], rng: np.random.Generator
            ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Reported (lon, lat, acc) for true positions at ``ts``. ``cold`` marks fixes taken just
    after the device came back on."""
    n = len(ts)
    # Every fix draws the same random numbers whatever its regime, so that regimes do not shift
    # each other's noise (and a device's output depends only on its own draws).
    g = rng.standard_normal((n, 2))
    u = rng.uniform(0.0, 1.0, (n, 4))
    indoor = mode == INDOOR
    driving = mode == DRIVE

    acc = rx.quality * np.exp(math.log(6.0) + 0.35 * rng.standard_normal(n))
    acc = np.clip(acc, 3.0, 30.0)
    sigma = acc / K95
    ex, ey = g[:, 0] * sigma, g[:, 1] * sigma

    urban = driving & (rx.wave(0, ts) > 0.55)
    acc = np.where(urban, 15.0 + 35.0 * u[:, 0], acc)
    ex = np.where(urban, g[:, 0] * acc / 2.0, ex)
    ey = np.where(urban, g[:, 1] * acc / 2.0, ey)

    # Indoors on GPS: a slow wander, the claimed radius loosely following its size.
    a = rx.drift_m
    dx = a * (0.75 * rx.wave(3, ts) + 0.35 * rx.wave(5, ts))
    dy = a * (0.75 * rx.wave(4, ts) + 0.35 * rx.wave(6, ts + 300.0))
    claimed = 6.0 + a * (0.7 + 0.6 * (0.5 + 0.5 * rx.wave(7, ts)))
    ex = np.where(indoor, dx + 2.0 * g[:, 0], ex)
    ey = np.where(indoor, dy + 2.0 * g[:, 1], ey)
    acc = np.where(indoor, claimed, acc)

    wifi = indoor & (rx.kind == "phone") & (rx.wave(1, ts) > 0.1)
    cell = indoor & ~wifi & (rx.wave(2, ts) > (0.8 if rx.kind == "bracelet" else 0.9))
    fallback = wifi | cell
    fb_acc = np.where(wifi, 100.0 + 300.0 * u[:, 1], 500.0 + 1500.0 * u[:, 1])
    acc = np.where(fallback, fb_acc, acc)
    ex = np.where(fallback, g[:, 0] * fb_acc / K95, ex)
    ey = np.where(fallback, g[:, 1] * fb_acc / K95, ey)

    p_multipath = np.where(urban, 0.03, np.where(indoor, 0.006, 0.012))
    multipath = ~fallback & (u[:, 2] < p_multipath)
    off = np.where(cold, 100.0 + 700.0 * u[:, 3], 50.0 + 250.0 * u[:, 3])
    bearing = 2.0 * math.pi * u[:, 2] / np.maximum(p_multipath, 1e-9)
    bearing = np.where(cold, 2.0 * math.pi * u[:, 0], bearing)
    jump = multipath | cold
    ex = np.where(jump, off * np.cos(bearing), ex)
    ey = np.where(jump, off * np.sin(bearing), ey)
    acc = np.where(multipath, 4.0 + 11.0 * u[:, 1], acc)
    acc = np.where(cold, 20.0 + 100.0 * u[:, 1], acc)

    m_lon, m_lat = metres_per_degree(lat)
    return lon + ex / m_lon, lat + ey / m_lat, acc
