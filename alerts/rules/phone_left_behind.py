"""A phone left behind (未移动, a sign of 人机分离): the phone of a person who wears no bracelet
lies still through ``phone_still_hours`` of waking hours.

Whom it watches: the phones of supervisees whose plan applies ``phone_left_behind`` and who have
no bracelet registered (with a bracelet, :mod:`~alerts.rules.separation` compares the two).

Still, and moved. Each watched phone has an *anchor*: where it came to rest, and since when. A
fix is *certainly away* from the anchor when its distance exceeds :data:`STILL_FLOOR_M` plus the
root sum of squares of both accuracies (the fix's and the anchor's, already scaled by the
engine's ``accuracy_factor``); :data:`MOVE_CONFIRM` such fixes in a row, none more than
:data:`MOVE_GAP_S` after the one before, move the anchor there (the phone has moved). So indoor
drift, a Wi-Fi fallback of 300 m or one multipath jump leave the anchor where it is; a walk
round the block does not. While still, a fix more accurate than the anchor and inside its
radius refines the anchor's position (not its time).

Unseen is not still. A fix more than :data:`UNSEEN_S` (and three of the phone's reporting
intervals) after the phone's previous one starts the stillness again where it lies: a phone
switched off, flat or shielded for hours may have been carried anywhere meanwhile, even if it
comes back on where it was (measured: without this, the phones of people whose battery died
or who went silent for hours were reported left behind, a quarter of the rule's alerts in a
300-person, two-day run of the detection benchmark).

Waking hours. Only the time the phone lies still inside the plan's ``waking_hours`` (local,
default 08:00–22:00) counts; nights neither count nor reset the stillness. The local time zone
is that of the person's scheduled zones (a curfew carries its jurisdiction's), else the plan's
``waking_timezone``. When the waking time since the anchor reaches ``phone_still_hours`` (at a
fix of the phone), the episode opens — subject: the phone — and it clears at the first batch in
which the phone has moved. The phone keeps reporting while it lies still, so no clock is needed.

The anchors live in the device :class:`~alerts.activity.Activity`, in rows for the watched
phones only (:class:`~alerts.activity.StillAnchors`: they outlive a registry reload; an engine
restart starts them afresh from the next fix — an episode restored open then stays open until
the phone moves, and a new one waits for the hours again). A fix folds into them once
(``upto``): a batch redelivered after a failed commit is judged on the same anchors.

>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> tz = ZoneInfo("Asia/Shanghai")
>>> t0 = datetime(2026, 3, 2, 20, 0, tzinfo=tz).timestamp()  # Monday 20:00
>>> waking_seconds(t0, t0 + 14 * 3600, tz, (8.0, 22.0)) / 3600  # till Tuesday 10:00
4.0
"""

from __future__ import annotations

import copy
import math
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.plans import SupervisionPlan
from alerts.rules.base import Batch, BatchRule, Changes, resized
from alerts.verdict import Verdict
from geofence.distance import distance_m
from geofence.schedules import resolve_local

if TYPE_CHECKING:
    from alerts.roster import Roster, RosterChange

KIND = "phone_left_behind"
SEVERITY = "medium"
STILL_FLOOR_M = 100.0  # a phone must leave its anchor by this much (beyond accuracy) to move
MOVE_CONFIRM = 3  # certainly-away fixes in a row that move the anchor
MOVE_GAP_S = 300.0  # … none more than this after the one before
UNSEEN_S = 1800.0  # no fix for longer (and 3 report intervals): not known to have lain still


@lru_cache(maxsize=4096)
def _window(day: date, tz: ZoneInfo, hours: tuple[float, float]) -> tuple[float, float]:
    """The waking window that starts on local ``day`` (DST-correct, Unix seconds)."""
    start, end = hours
    midnight = datetime(day.year, day.month, day.day)
    a = resolve_local(midnight + timedelta(hours=start), tz)
    b = resolve_local(midnight + timedelta(days=0 if end > start else 1, hours=end), tz)
    return a, b


def waking_seconds(t0: float, t1: float, tz: ZoneInfo, hours: tuple[float, float]) -> float:
    """Seconds of ``[t0, t1]`` inside the local waking windows."""
    if not t1 > t0:
        return 0.0
    day = datetime.fromtimestamp(t0, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(t1, tz).date()
    total = 0.0
    while day <= last:
        a, b = _window(day, tz, hours)
        total += max(0.0, min(b, t1) - max(a, t0))
        day += timedelta(days=1)
    return total


def person_timezone(roster: Roster, supervisee_id: str, plan: SupervisionPlan) -> ZoneInfo:
    """The time zone of the person's scheduled zones (a curfew first), else the plan's."""
    found: str | None = None
    for a in roster.assignments.of_subject(supervisee_id).tolist():
        schedule = roster.assignments.schedule_of(a)
        if schedule is not None:
            found = schedule.timezone
            if roster.key_of_assignment[a].kind == "curfew":
                break
    return ZoneInfo(found or plan.waking_timezone)


class PhoneLeftBehindRule(BatchRule):
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster):
        self.roster = r = roster
        sup = r.sup_of_device
        has_bracelet = np.zeros(len(r.supervisee_ids) + 1, dtype=bool)
        has_bracelet[sup[r.is_bracelet]] = True  # index -1: nobody's (never read)
        plans = {id(p): p for p in r.plan_of.distinct()}
        on = {i for i, p in plans.items() if p.applies(KIND)}
        self.watched = r.is_phone & (sup >= 0) & ~has_bracelet[sup]
        self.tz: dict[int, ZoneInfo] = {}  # by device number
        self.shortest_s = math.inf
        for n in np.flatnonzero(self.watched).tolist():
            sid = r.supervisee_ids[int(sup[n])]
            plan = r.plan_of[sid]
            if id(plan) not in on:
                self.watched[n] = False
                continue
            self.tz[n] = person_timezone(r, sid, plan)
            self.shortest_s = min(self.shortest_s, plan.phone_still_hours * 3600.0)
        self._watch: set[int] | None = None

    def patched(self, roster: Roster, change: RosterChange) -> PhoneLeftBehindRule:
        """After a registry change: the devices it touched, and every device of the people it
        touched (a phone is watched only while its person has no bracelet), looked at again."""
        new = copy.copy(self)
        r = new.roster = roster
        new.watched = resized(self.watched, len(r.device_ids), False)
        new.tz = dict(self.tz)
        new._watch = None
        devices = set(change.devices.tolist())
        for k in change.supervisees.tolist():
            devices.update(r.devices_of_sup[k].tolist())
        for n in sorted(devices):
            new.watched[n] = False
            new.tz.pop(n, None)
            device = r.devices.get(r.device_ids[n])
            k = r.sup_no.get(device.supervisee_id or "", -1) if device is not None else -1
            if device is None or device.kind != "phone" or k < 0:
                continue
            if any(r.devices[r.device_ids[m]].kind == "bracelet"
                   for m in r.devices_of_sup[k].tolist()):
                continue
            sid = r.supervisee_ids[k]
            plan = r.plan_of[sid]
            if plan.applies(KIND):
                new.watched[n] = True
                new.tz[n] = person_timezone(r, sid, plan)
                new.shortest_s = min(new.shortest_s, plan.phone_still_hours * 3600.0)
        return new

    def watch(self, staging: Staging) -> set[int]:
        """Device numbers with an episode (open, or once open: a superset)."""
        if self._watch is None:
            no = self.roster.device_no
            self._watch = {no[k.subject] for k in staging.keys_of_kind(KIND)
                           if k.subject in no}
        return self._watch

    def forget(self) -> None:
        self._watch = None

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if not batch.any_fresh or not self.tz:
            return out
        d = batch.decided
        if d.numbering is not self.roster.device_ids:
            return out  # decided by an earlier registry's numbering
        sel = np.flatnonzero(batch.fresh & self.watched[d.device_no])
        if not len(sel):
            return out
        rows = d.rows[sel]
        dev = d.device_no[sel]
        fb = d.batch
        ts, lon, lat, acc = fb.ts[rows], fb.lon[rows], fb.lat[rows], fb.accuracy_m[rows]
        order = np.lexsort((ts, dev))
        dev, ts, lon, lat, acc = dev[order], ts[order], lon[order], lat[order], acc[order]
        # Round k folds the k-th fix of every device at once.
        first = np.ones(len(dev), dtype=bool)
        first[1:] = dev[1:] != dev[:-1]
        start = np.flatnonzero(first)
        rank = np.arange(len(dev)) - np.repeat(start, np.diff(np.append(start, len(dev))))
        for k in range(int(rank.max()) + 1):
            m = rank == k
            self._record(dev[m], ts[m], lon[m], lat[m], acc[m])
        newest = np.append(start[1:] - 1, len(dev) - 1)
        self._verdicts(dev[newest], ts[newest], staging, out)
        return out

    def _record(self, n: np.ndarray, ts: np.ndarray, lon: np.ndarray, lat: np.ndarray,
                acc: np.ndarray) -> None:
        """Fold one fix per device (``n`` distinct) into the anchors."""
        s = self.roster.activity.still
        r = s.rows(n)
        new = ~(ts <= s.upto[r])  # NaN: never folded
        n, r, ts, lon, lat, acc = n[new], r[new], ts[new], lon[new], lat[new], acc[new]
        if not len(n):
            return
        # Unseen is not still: after a silence the stillness starts again at this fix.
        with np.errstate(invalid="ignore"):
            unseen = ts - s.upto[r] > np.maximum(UNSEEN_S, 3 * self.roster.interval[n])
        s.upto[r] = ts
        fresh = np.isnan(s.ts[r]) | unseen
        dist = np.asarray(distance_m(s.lon[r], s.lat[r], lon, lat), dtype=np.float64)
        away = ~fresh & (dist > STILL_FLOOR_M + np.hypot(acc, s.acc[r]))
        going = (s.away_n[r] > 0) & (ts - s.away_last[r] <= MOVE_GAP_S)
        s.away_n[r] = np.where(away, np.where(going, s.away_n[r] + 1, 1), 0)
        s.away_last[r] = np.where(away, ts, np.nan)
        moved = away & (s.away_n[r] >= MOVE_CONFIRM)
        anchor = fresh | moved
        m = r[anchor]
        s.ts[m], s.lon[m], s.lat[m], s.acc[m] = ts[anchor], lon[anchor], lat[anchor], acc[anchor]
        s.away_n[m] = 0
        s.away_last[m] = np.nan
        s.moved[m] = moved[anchor]
        refine = ~fresh & ~away & (acc < s.acc[r]) & (dist <= s.acc[r])
        m = r[refine]
        s.lon[m], s.lat[m], s.acc[m] = lon[refine], lat[refine], acc[refine]

    def _verdicts(self, n: np.ndarray, ts: np.ndarray, staging: Staging, out: Changes) -> None:
        r = self.roster
        s = r.activity.still
        # Only phones still for the shortest plan's hours (in any hours), or with an episode.
        maybe = ts - s.ts[s.rows(n)] >= self.shortest_s
        watch = self.watch(staging)
        if watch:
            maybe |= np.fromiter((d in watch for d in n.tolist()), dtype=bool, count=len(n))
        n, ts = n[maybe], ts[maybe]
        for no, t in zip(n.tolist(), ts.tolist(), strict=True):
            did = r.device_ids[no]
            sid = r.devices[did].supervisee_id
            assert sid is not None
            plan = r.plan_of[sid]
            key = EpisodeKey(sid, did, KIND)
            row = int(s.row[no])
            since = float(s.ts[row])
            need = plan.phone_still_hours * 3600.0
            still = t - since >= need and waking_seconds(
                since, t, self.tz[no], plan.waking_hours) >= need
            if still:
                watch.add(no)
                out.fold(staging, key, r.suppressed(sid, KIND, t, Verdict.VIOLATING), t,
                         float(s.lon[row]), float(s.lat[row]), did, SEVERITY, 1)
            elif s.moved[row] == 1 and staging.has_state(key):
                out.fold(staging, key, Verdict.COMPLIANT, t, math.nan, math.nan, did,
                         SEVERITY, 1)
