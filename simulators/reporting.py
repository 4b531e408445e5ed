"""How a device reports: when it takes fixes, when it sends them, and in which messages.

A device takes a fix every ``interval_s`` on its own phase (plus up to 1.5 s of jitter), and
every ``fast_s`` while its wearer is truly in violation (devices run zone checks of their own and
report faster then). It takes none while off (flat battery, shielded).

Sending:

- **live**: each fix as its own message 0.15–1.2 s after it is taken;
- **buffered** (some bracelets): fixes are kept and uploaded as one native array every
  ``upload_s`` on the device's own grid, 2–5 s after the grid instant (so every fix of the batch
  is older than the message); while in violation the device sends live;
- **connectivity gaps** (a few minutes, now and then): what would have been sent during the gap
  goes out when it ends — a native device as one array, the OwnTracks app as its queued messages
  one after another, each marked ``"conn":"o"``.

Rendering is stateless in time: a device's life is cut into windows of ``chunk_s`` aligned on its
upload grid, and each window is rendered from the device's plan and a random stream of its own
(seeded by fleet seed, device, window). Windows never split a batch or a gap, so the output does
not depend on the order in which windows are rendered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from simulators.battery import Battery
from simulators.gps import Receiver, observe
from simulators.intervals import member
from simulators.paths import DRIVE, INDOOR, Path
from simulators.wire import (
    SimMessage,
    event_payload,
    native_batch,
    native_fixes,
    owntracks_locations,
)

FloatArray = npt.NDArray[np.float64]
COLD_START_S = 90.0


@dataclass(frozen=True, slots=True)
class Clock:
    """The fleet's timing, shared by all devices."""

    start: float
    end: float
    interval_s: float
    fast_s: float
    upload_s: float
    chunk_s: float  # a multiple of upload_s
    seed: int


@dataclass(frozen=True, slots=True, eq=False)
class DeviceSim:
    index: int
    id: str
    kind: str  # "bracelet" (native format) | "phone" (OwnTracks)
    owner: str  # supervisee or victim id
    topic: str
    event_topic: str
    path: Path
    receiver: Receiver
    battery: Battery
    phase_s: float  # of the fix grid, in [0, interval_s)
    offset_s: float  # of the upload grid and render windows, in [0, upload_s)
    batched: bool
    off: FloatArray  # (n, 2): no fixes, no messages
    gaps: FloatArray  # (n, 2): no connectivity, sending deferred to the end
    fast: FloatArray  # (n, 2): reporting every fast_s
    resumes: FloatArray  # instants the device comes back on (cold starts)
    events: tuple[tuple[float, str, tuple[tuple[str, str], ...]], ...]  # sorted by time
    alt_m: float

    @property
    def native(self) -> bool:
        return self.kind == "bracelet"

    def window(self, k: int, clock: Clock) -> tuple[float, float]:
        w0 = clock.start + self.offset_s + (k - 1) * clock.chunk_s
        return max(w0, clock.start), min(w0 + clock.chunk_s, clock.end)


def render(dev: DeviceSim, k: int, clock: Clock) -> tuple[list[float], list[SimMessage]]:
    """The messages of window ``k`` of ``dev``: delivery times and messages (unsorted)."""
    lo, hi = dev.window(k, clock)
    if hi <= lo:
        return [], []
    rng = np.random.default_rng((clock.seed, 0x5EED, dev.index, k))
    nominal, fast = _fix_times(dev, lo, hi, clock)
    ts = nominal + rng.uniform(0.0, 1.5, len(nominal))
    ts = np.ceil(ts) if not dev.native else np.round(ts, 3)
    order = np.argsort(ts, kind="stable")
    ts, nominal, fast = ts[order], nominal[order], fast[order]
    keep = (member(ts, dev.off) < 0) & np.r_[True, np.diff(ts) > 0]
    ts, nominal, fast = ts[keep], nominal[keep], fast[keep]

    delivers: list[float] = []
    messages: list[SimMessage] = []
    if len(ts):
        _render_fixes(dev, ts, nominal, fast, clock, rng, delivers, messages)
    _render_events(dev, lo, hi, rng, delivers, messages)
    return delivers, messages


def _fix_times(dev: DeviceSim, lo: float, hi: float, clock: Clock
               ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    base0 = clock.start + dev.phase_s
    j = np.arange(math.ceil((lo - base0) / clock.interval_s),
                  math.ceil((hi - base0) / clock.interval_s))
    nominal = base0 + j * clock.interval_s
    parts = []
    for a, b in dev.fast:
        s, e = max(a, lo), min(b, hi)
        if e > s:
            m = np.arange(math.ceil((s - a) / clock.fast_s), math.ceil((e - a) / clock.fast_s))
            parts.append(a + m * clock.fast_s)
    if not parts:
        return nominal, np.zeros(len(nominal), dtype=bool)
    nominal = nominal[member(nominal, dev.fast) < 0]
    quick = np.concatenate(parts)
    both = np.concatenate([nominal, quick])
    fast = np.r_[np.zeros(len(nominal), dtype=bool), np.ones(len(quick), dtype=bool)]
    order = np.argsort(both, kind="stable")
    return both[order], fast[order]


def _render_fixes(dev: DeviceSim, ts: FloatArray, nominal: FloatArray,
                  fast: npt.NDArray[np.bool_], clock: Clock, rng: np.random.Generator,
                  delivers: list[float], messages: list[SimMessage]) -> None:
    n = len(ts)
    tlon, tlat = dev.path.at(ts)
    mode = dev.path.mode_at(ts)
    cold = np.zeros(n, dtype=bool)
    for r in dev.resumes:
        cold |= (ts >= r) & (ts < r + COLD_START_S)
    lon, lat, acc = observe(dev.receiver, ts, tlon, tlat, mode, cold, rng)
    level = dev.battery.level_at(ts)
    batt = np.clip(np.floor(level), 0, 100).astype(np.int64)

    deliver = ts + rng.uniform(0.15, 1.2, n)
    grouped = np.zeros(n, dtype=bool)  # sent inside an array with others
    if dev.batched:
        grid0 = clock.start + dev.offset_s
        upload = np.floor((nominal - grid0) / clock.upload_s)
        slot = (upload - upload.min()).astype(np.int64)
        delay = rng.uniform(2.0, 5.0, int(slot.max()) + 1)[slot]
        buffered = ~fast
        deliver = np.where(buffered, grid0 + (upload + 1) * clock.upload_s + delay, deliver)
        grouped |= buffered
    gap = member(deliver, dev.gaps)
    offline = gap >= 0
    if offline.any():
        gap_delay = rng.uniform(1.0, 3.0, len(dev.gaps))
        idx = np.flatnonzero(offline)
        g = gap[idx]
        resume = dev.gaps[g, 1] + gap_delay[g]
        if dev.native:
            deliver[idx] = resume
            grouped[idx] = True
        else:
            _, first, inverse = np.unique(g, return_index=True, return_inverse=True)
            rank = np.arange(len(idx)) - first[inverse]
            deliver[idx] = resume + 0.05 * rank

    if dev.native:
        objs = native_fixes(ts.tolist(), np.round(lon, 7).tolist(), np.round(lat, 7).tolist(),
                            np.round(acc, 1).tolist(), batt.tolist())
        single = np.flatnonzero(~grouped)
        at = deliver[single].tolist()
        delivers.extend(at)
        messages.extend(map(SimMessage, at, repeat(dev.id), repeat(dev.topic),
                            [objs[i] for i in single.tolist()]))
        idx = np.flatnonzero(grouped)
        if len(idx):
            idx = idx[np.lexsort((ts[idx], deliver[idx]))]
            cuts = np.flatnonzero(np.diff(deliver[idx]) != 0) + 1
            for group in np.split(idx, cuts):
                at = float(deliver[group[0]])
                delivers.append(at)
                payload = native_batch([objs[i] for i in group.tolist()])
                messages.append(SimMessage(at, dev.id, dev.topic, payload))
        return

    speed_kmh = dev.path.speed_at(ts) * 3.6 * (1.0 + 0.05 * rng.standard_normal(n))
    vel = np.where(mode == DRIVE, np.maximum(np.rint(speed_kmh), 0), 0).astype(np.int64)
    alt = np.rint(dev.alt_m + 4.0 * rng.standard_normal(n)).astype(np.int64)
    acc_m = np.maximum(np.rint(acc), 1).astype(np.int64)
    vac = np.rint(acc_m * 1.5 + 2).astype(np.int64)
    charging = dev.battery.charging_at(ts)
    bs = np.where(charging, np.where(batt >= 100, 3, 2), 1)
    conn = np.where(offline, b"o", np.where(mode == INDOOR, b"w", b"m")).tolist()
    payloads = owntracks_locations(
        dev.id[-2:].encode(), ts.astype(np.int64).tolist(), np.round(lon, 7).tolist(),
        np.round(lat, 7).tolist(), acc_m.tolist(), alt.tolist(), batt.tolist(), bs.tolist(),
        conn, vac.tolist(), vel.tolist())
    at = deliver.tolist()
    delivers.extend(at)
    messages.extend(map(SimMessage, at, repeat(dev.id), repeat(dev.topic), payloads))


def _render_events(dev: DeviceSim, lo: float, hi: float, rng: np.random.Generator,
                   delivers: list[float], messages: list[SimMessage]) -> None:
    if not dev.events:
        return
    for ts, name, extra in dev.events:
        if ts < lo or ts >= hi:
            continue
        off = member(np.array([ts]), dev.off)[0]
        if off >= 0 and ts > dev.off[off, 0]:  # an event at the instant of switching off is sent
            continue
        deliver = ts + float(rng.uniform(0.1, 0.8))
        gap = member(np.array([deliver]), dev.gaps)[0]
        if gap >= 0:
            deliver = float(dev.gaps[gap, 1]) + 3.5 + float(rng.uniform(0.0, 0.5))
        level = int(np.clip(np.floor(dev.battery.level_at(np.array([ts]))[0]), 0, 100))
        delivers.append(deliver)
        messages.append(SimMessage(deliver, dev.id, dev.event_topic,
                                   event_payload(ts, name, level, **dict(extra))))
