"""A small fleet for the live demo: people at home, and scripted violators who leave and return.

Each device reports every ``interval_s`` seconds of real time (fix time is the wall clock), with
GPS noise drawn to match the accuracy it reports. A device with a ``target`` walks there, stays a
while and comes back, over and over: into an exclusion zone, or across its county line.
Phones speak OwnTracks, bracelets Cordon's native format.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import zlib
from dataclasses import dataclass

import aiomqtt
import orjson

from devices.topics import native_topic, owntracks_topic

log = logging.getLogger(__name__)

M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True, slots=True)
class SimDevice:
    device_id: str
    user: str  # the OwnTracks user (the supervisee)
    fmt: str  # "owntracks" | "native"
    home: tuple[float, float]  # lon, lat
    target: tuple[float, float] | None = None  # where a violator goes
    period_s: float = 120.0  # one round trip home → target → home


@dataclass(slots=True)
class FleetStats:
    published: int = 0
    failed: int = 0


def position_at(dev: SimDevice, t: float, rng: random.Random) -> tuple[float, float, float]:
    """(lon, lat, accuracy_m) of ``dev`` at time ``t``: the true path plus honest GPS noise."""
    lon, lat = dev.home
    if dev.target is not None:
        # home 30% of the period, out 15%, at the target 40%, back 15%.
        phase = ((t + zlib.crc32(dev.device_id.encode()) % 997) % dev.period_s) / dev.period_s
        tx, ty = dev.target
        if phase < 0.30:
            f = 0.0
        elif phase < 0.45:
            f = (phase - 0.30) / 0.15
        elif phase < 0.85:
            f = 1.0
        else:
            f = 1.0 - (phase - 0.85) / 0.15
        lon, lat = lon + (tx - lon) * f, lat + (ty - lat) * f
    accuracy = rng.uniform(5.0, 20.0)
    sigma = accuracy / 2.0  # the reported radius holds ~95% of the time
    dy = rng.gauss(0.0, sigma) / M_PER_DEG_LAT
    dx = rng.gauss(0.0, sigma) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lon + dx, lat + dy, accuracy


def encode(
    dev: SimDevice, lon: float, lat: float, acc: float, ts: float, batt: int
) -> tuple[str, bytes]:
    if dev.fmt == "owntracks":
        msg = {"_type": "location", "tid": dev.device_id[-2:], "lat": round(lat, 7),
               "lon": round(lon, 7), "tst": int(ts), "acc": round(acc), "batt": batt,
               "conn": "m", "t": "p"}
        return owntracks_topic(dev.user, dev.device_id), orjson.dumps(msg)
    msg = {"ts": round(ts, 3), "lon": round(lon, 7), "lat": round(lat, 7),
           "acc": round(acc, 1), "batt": batt}
    return native_topic(dev.device_id), orjson.dumps(msg)


async def run_fleet(
    devices: list[SimDevice],
    host: str,
    port: int,
    interval_s: float = 5.0,
    stop: asyncio.Event | None = None,
    seed: int = 1,
    stats: FleetStats | None = None,
    username: str | None = None,
    password: str | None = None,
) -> FleetStats:
    """Publish every device's position every ``interval_s`` until ``stop`` is set (as the
    broker user ``username``: a relay user, on a broker with device credentials)."""
    stop = stop or asyncio.Event()
    stats = stats or FleetStats()
    rng = random.Random(seed)
    battery = {d.device_id: rng.randint(40, 100) for d in devices}
    while not stop.is_set():
        try:
            async with aiomqtt.Client(host, port, identifier=f"cordon-demo-fleet-{seed}",
                                      username=username, password=password) as client:
                client.pending_calls_threshold = 10 * len(devices) + 100
                while not stop.is_set():
                    t0 = time.time()
                    sends = []
                    for dev in devices:
                        lon, lat, acc = position_at(dev, t0, rng)
                        batt = battery[dev.device_id] = max(
                            5, battery[dev.device_id] - rng.random() * 0.05
                        )
                        topic, payload = encode(dev, lon, lat, acc, t0, int(batt))
                        sends.append(client.publish(topic, payload, qos=1))
                    results = await asyncio.gather(*sends, return_exceptions=True)
                    failed = sum(isinstance(r, Exception) for r in results)
                    stats.failed += failed
                    stats.published += len(results) - failed
                    await _sleep_unless(stop, max(0.0, interval_s - (time.time() - t0)))
        except aiomqtt.MqttError as exc:
            log.warning("demo fleet: broker unavailable (%s); retrying", exc)
            await _sleep_unless(stop, 1.0)
    return stats


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass
