"""Compile the geofence kernels before the engine takes traffic.

Numba compiles a kernel the first time it meets a new signature, and caches it on disk. On a
fresh installation that first time would be the first batch of fixes — seconds with the event
loop blocked, while health checks and the live feed wait. :func:`warm_up` runs a small
synthetic registry (every zone shape, a curfew, a pairing, a victim) through the evaluator at
start instead.
"""

from __future__ import annotations

import time

from alerts.episodes import EpisodeTracker
from alerts.evaluator import Evaluator
from devices.fixes import Fix, FixBatch
from devices.models import Device, Pairing, ProtectionOrder, Supervisee
from geofence.zones import Zone

_X, _Y = -97.74, 30.27


def _feature(zid: str, kind: str, geometry: dict, **props: object) -> Zone:
    return Zone.from_feature({"type": "Feature", "id": zid,
                              "properties": {"kind": kind, **props}, "geometry": geometry})


def warm_up() -> float:
    """Evaluate a few fixes against every kind of zone and rule; returns the seconds taken."""
    t0 = time.perf_counter()
    d = 0.01
    zones = [
        _feature("w-circle", "exclusion", {"type": "Point", "coordinates": [_X, _Y]},
                 radius_m=100),
        _feature("w-polygon", "inclusion", {"type": "Polygon", "coordinates": [[
            [_X - d, _Y - d], [_X + d, _Y - d], [_X + d, _Y + d], [_X - d, _Y + d],
            [_X - d, _Y - d]]]}),
        _feature("w-corridor", "exclusion", {"type": "LineString", "coordinates": [
            [_X - d, _Y + d / 2], [_X + d, _Y + d / 2]]}, width_m=30),
        _feature("w-home", "inclusion", {"type": "Point", "coordinates": [_X, _Y]},
                 radius_m=75, schedule={"timezone": "UTC", "windows": [
                     {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                      "start": "00:00", "end": "23:59"}]}),
    ]
    people = {"w-p": Supervisee("w-p", "warm-up", "w", tuple(z.id for z in zones))}
    devices = {"w-br": Device("w-br", "w-p", "bracelet"), "w-ph": Device("w-ph", "w-p"),
               "w-v": Device("w-v", None, "phone", victim_id="w-victim")}
    ev = Evaluator(devices, people, zones, pairings=[Pairing("w-p", "w-br", "w-ph")],
                   orders=[ProtectionOrder("w-p", "w-victim", "w-v")], accuracy_factor=1.5)
    tracker = EpisodeTracker(3, 180.0)
    now = time.time() - 3600
    for step in range(4):
        t = now + 60 * step
        batch = FixBatch.from_fixes([
            Fix(dev, t + k, _X + 0.004 * k * (step % 2), _Y + 0.002 * step, 8.0 + k, 50.0, t,
                "native") for k, dev in enumerate(("w-br", "w-ph", "w-v"))])
        staging = tracker.stage()
        decided = ev.decide(batch)
        ev.fold(decided, staging)
        tracker.commit(staging)
        ev.record(decided)
        staging = tracker.stage()
        ev.tick(t + 30, staging)
        tracker.commit(staging)
    return time.perf_counter() - t0
