"""Why an alert opened: the fixes around it, each with what the engine's rule made of it.

Pure computation, for ``GET /alerts/{id}/explain``. The decisions are the engine's own: zone
fixes go through :meth:`geofence.ZoneSet.classify` (certain only when farther than the scaled
accuracy from the boundary) and the zone rule's verdicts; victim proximity through
:func:`alerts.rules.victim.proximity_verdicts`; separation through
:func:`alerts.rules.separation.separation_verdicts`. Accuracies are scaled by the engine's
``accuracy_factor`` first, as the evaluator does. Distances shown beside them are measured
with Shapely in a local azimuthal equidistant projection (pyproj) centred on the zone or the
other device: metres, exact enough at the scale of a zone.

The *deciding* fixes are those of the confirming streak, as :meth:`alerts.episodes.Staging.fold`
counts it: from the first violating verdict at the alert's start, the next violating ones
(uncertain ones change nothing), until the plan's ``confirm_fixes`` are reached.

>>> from shapely.geometry import Point
>>> feature = {"type": "Feature", "id": "z", "properties": {"kind": "exclusion",
...            "radius_m": 100}, "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}}
>>> fixes = [{"device_id": "d", "ts": float(t), "lon": lon, "lat": 0.0, "accuracy_m": 10.0,
...           "battery": None} for t, lon in enumerate([0.01, 0.001, 0.0, 0.0, 0.0])]
>>> out = explain({"kind": "exclusion_entry", "started_at": 2.0, "supervisee_id": "s",
...                "device_id": "d", "subject": "z"}, fixes, zone=feature,
...               thresholds={"confirm_fixes": 2, "confirm_gap_s": 180.0}, accuracy_factor=1.5)
>>> [f["decision"] for f in out["fixes"]]
['outside', 'uncertain', 'inside', 'inside', 'inside']
>>> [f["deciding"] for f in out["fixes"]]
[False, False, True, True, False]
>>> [round(f["distance_m"]) for f in out["fixes"]]
[1013, 11, -100, -100, -100]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyproj import Transformer
from shapely import ops
from shapely.geometry import Point

from alerts.rules.separation import separation_verdicts
from alerts.rules.victim import proximity_verdicts
from alerts.rules.zones import ZONE_RULES, zone_rule_name
from alerts.verdict import Verdict
from geofence import INACTIVE, INSIDE, OUTSIDE, UNCERTAIN, Zone, ZoneSet

ZONE_KINDS = frozenset({"exclusion_entry", "pass_through", "inclusion_exit", "curfew",
                        "curfew_unverified"})
DECISION = {int(INSIDE): "inside", int(OUTSIDE): "outside", int(UNCERTAIN): "uncertain",
            int(INACTIVE): "inactive"}
VERDICT = {Verdict.COMPLIANT: "compliant", Verdict.VIOLATING: "violating",
           Verdict.UNKNOWN: "uncertain"}


def _local(lon: float, lat: float) -> Transformer:
    """WGS 84 lon/lat → metres in an azimuthal equidistant projection centred here."""
    return Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m",
        always_xy=True)


def _distance_to(lon: float, lat: float, lon2: float, lat2: float) -> float:
    x, y = _local(lon2, lat2).transform(lon, lat)
    return math.hypot(x, y)


def zone_distances(zone: Zone, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Signed metres from each point to the zone's boundary: negative inside."""
    centre = zone.geometry.centroid if zone.shape != "circle" else zone.geometry
    to_m = _local(centre.x, centre.y)
    xs, ys = to_m.transform(lon, lat)
    if zone.shape == "circle":
        return np.hypot(xs, ys) - zone.radius_m
    local = ops.transform(to_m.transform, zone.geometry)
    if zone.shape == "corridor":
        return np.array([local.distance(Point(x, y)) - zone.width_m / 2
                         for x, y in zip(xs, ys, strict=True)])
    boundary = local.boundary
    return np.array([-boundary.distance(p) if local.contains(p) else boundary.distance(p)
                     for p in (Point(x, y) for x, y in zip(xs, ys, strict=True))])


def deciding(verdicts: Sequence[int], ts: Sequence[float], started_at: float, confirm: int,
             max_gap_s: float, confirm_s: float = 0.0) -> list[int]:
    """Indices of the streak that opened an episode at ``started_at`` (see module doc)."""
    out: list[int] = []
    for i, (v, t) in enumerate(zip(verdicts, ts, strict=True)):
        if not out:
            if v == Verdict.VIOLATING and abs(t - started_at) < 0.5:
                out.append(i)
            continue
        if v == Verdict.UNKNOWN:
            continue
        if v == Verdict.COMPLIANT or t - ts[out[-1]] > max_gap_s:
            break
        out.append(i)
        if len(out) >= confirm and t - ts[out[0]] >= confirm_s:
            break
    return out


def explain(alert: dict[str, Any], fixes: list[dict[str, Any]], *,
            thresholds: dict[str, Any], accuracy_factor: float,
            zone: dict[str, Any] | None = None, victim_device: str | None = None,
            phone_device: str | None = None) -> dict[str, Any]:
    """The fixes (in time order) with, for each, its role, scaled accuracy, distance and the
    rule's decision; which of them decided the alert."""
    kind = alert["kind"]
    n = len(fixes)
    lon = np.array([f["lon"] for f in fixes], dtype=np.float64)
    lat = np.array([f["lat"] for f in fixes], dtype=np.float64)
    ts = np.array([f["ts"] for f in fixes], dtype=np.float64)
    acc = np.array([f["accuracy_m"] for f in fixes], dtype=np.float64) * accuracy_factor
    out = [{**f, "role": "supervisee", "accuracy_used_m": float(acc[i]), "distance_m": None,
            "decision": None, "verdict": None, "deciding": False}
           for i, f in enumerate(fixes)]
    for f in out:
        if f["device_id"] == victim_device:
            f["role"] = "victim"
        elif f["device_id"] == phone_device:
            f["role"] = "phone"
    confirm = int(thresholds.get("confirm_fixes") or 1)
    max_gap = float(thresholds.get("confirm_gap_s") or math.inf)
    rows: list[int] = []
    verdicts: list[int] = []
    confirm_s = 0.0
    if zone is not None and kind in ZONE_KINDS and n:
        z = Zone.from_feature(zone, str(zone.get("id") or alert["subject"]))
        decisions = ZoneSet([z]).classify(lon, lat, acc, np.arange(n), np.zeros(n, dtype=np.int64))
        if z.schedule is not None:
            decisions[~z.schedule.active_at(ts)] = INACTIVE
        v = ZONE_RULES[zone_rule_name(z)].verdicts(decisions)
        dist = zone_distances(z, lon, lat)
        for i, f in enumerate(out):
            f.update(distance_m=float(dist[i]), decision=DECISION[int(decisions[i])],
                     verdict=VERDICT[Verdict(int(v[i]))])
        rows = list(range(n))
        verdicts = [int(x) for x in v]
        if kind == "pass_through":
            own = [i for i, f in enumerate(fixes) if f["device_id"] == alert["device_id"]]
            rows, verdicts = _pass_through(z, own, lon, lat, ts, alert["started_at"])
            confirm = len(rows)
    elif kind == "victim_proximity" and victim_device:
        rows, verdicts = _paired(out, lon, lat, ts, acc, victim_device, lambda d, a, b, skew:
                                 proximity_verdicts(d, a, b, skew, thresholds["enter_m"],
                                                    thresholds["exit_m"]))
    elif kind == "separation" and phone_device:
        rows, verdicts = _paired(out, lon, lat, ts, acc, phone_device, lambda d, a, b, skew:
                                 separation_verdicts(d, a + b, skew, thresholds["separation_m"]))
        confirm, confirm_s = 1, float(thresholds.get("separation_s") or 0.0)
    for k in deciding(verdicts, [float(ts[r]) for r in rows], alert["started_at"], confirm,
                      max_gap, confirm_s):
        out[rows[k]]["deciding"] = True
    return {"fixes": out}


def _paired(out: list[dict[str, Any]], lon: np.ndarray, lat: np.ndarray, ts: np.ndarray,
            acc: np.ndarray, other: str, rule: Any) -> tuple[list[int], list[int]]:
    """Each fix of the supervisee's devices against the newest fix of ``other`` (the victim's
    phone, the paired phone) at that instant: distance, and the rule's verdict."""
    rows: list[int] = []
    verdicts: list[int] = []
    last: int | None = None
    for i, f in enumerate(out):
        if f["device_id"] == other:
            last = i
            continue
        if last is None:
            continue
        d = _distance_to(float(lon[i]), float(lat[i]), float(lon[last]), float(lat[last]))
        v = int(rule(np.array([d]), np.array([acc[i]]), np.array([acc[last]]),
                     np.array([ts[i] - ts[last]]))[0])
        f.update(distance_m=d, verdict=VERDICT[Verdict(v)])
        rows.append(i)
        verdicts.append(v)
    return rows, verdicts


def _pass_through(z: Zone, own: list[int], lon: np.ndarray, lat: np.ndarray, ts: np.ndarray,
                  started_at: float) -> tuple[list[int], list[int]]:
    """The two fixes (of the alert's device: ``own``) whose straight path between them met the
    zone, at the alert's start."""
    if len(own) < 2:
        return [], []
    idx = np.array(own)
    met = ZoneSet([z]).segment_enters(lon, lat, idx[:-1], idx[1:],
                                      np.zeros(len(idx) - 1, dtype=np.int64))
    for k in np.flatnonzero(met).tolist():
        a, b = own[k], own[k + 1]
        if ts[a] - 0.5 <= started_at <= ts[b] + 0.5:
            return [a, b], [int(Verdict.VIOLATING)] * 2
    return [], []


HISTORY_DAYS = 30  # how far back a gathering alert's explanation shows the pair's meetings


def gathering_history(meetings: Sequence[dict[str, Any]], companion_id: str, now: float,
                      days: float = HISTORY_DAYS,
                      nightly: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the nightly passes kept of a pair that a ``gathering`` alert names: how often
    they met over the ``days`` before ``now``, when last, for how long in all, and each
    meeting — so that the officer sees "met 4 times in 30 days" beside the alert; and, when
    the nightly pass itself raised the alert (``nightly``: its mark), that it did.

    >>> h = gathering_history([{"start": 0.0, "end": 1500.0, "minutes": 25.0},
    ...                        {"start": 86400.0, "end": 88200.0, "minutes": 30.0}],
    ...                       "P-2", now=90000.0)
    >>> h["meetings_count"], h["last_start"], h["minutes"], h["found_by"]
    (2, 86400.0, 55.0, 'engine')
    """
    since = now - days * 86400.0
    kept = sorted((m for m in meetings if m["end"] > since and m["start"] < now),
                  key=lambda m: m["start"])
    return {
        "companion_id": companion_id,
        "days": days,
        "meetings_count": len(kept),
        "last_start": kept[-1]["start"] if kept else None,
        "last_end": kept[-1]["end"] if kept else None,
        "minutes": round(sum(m["minutes"] for m in kept), 1),
        "meetings": kept,
        "found_by": "nightly_pass" if nightly else "engine",
        "nightly": nightly,
    }
