"""Gathering (聚集): two or more supervisees within ``gathering_m`` of each other for
``gathering_min_s`` or more.

Positions. Each person's *current position* comes from their bracelet while its newest fix is
no more than :data:`BRACELET_PREFERRED_S` older than their newest fix of any device (the
bracelet is on the body; a phone may lie elsewhere), else from the device with the newest fix:
of that device's newest three fixes, the one nearest the other two (:func:`medoid_column`), so
that one multipath jump — 200 m off, claiming 10 m — neither breaks a meeting nor makes one.
People whose plan switches ``gathering`` off are neither alerted nor counted. Two positions are
*certainly within*
``gathering_m`` when their distance plus the root sum of squares of the two accuracies (already
scaled by the engine's ``accuracy_factor``) is below it, and *certainly beyond* when the distance
minus that is above it; otherwise nothing is decided — two 40 m fixes that merely could be close
raise nothing. The two fixes may be up to :data:`MAX_SKEW_S` apart (a buffered bracelet uploads
every ten minutes): the older one is taken as where its wearer still is, with no allowance for
walking — at 50 m any such allowance would leave nothing certain, and it is the twenty minutes
of certain verdicts in a row (none more than :data:`MAX_GAP_S` after the one before) that tell a
meeting from people passing each other.

Episodes: one per person and companion — subject: the other supervisee's id — so a meeting of
two raises an alert on each person's caseload, each under their own plan (``rules``,
``gathering_m``, ``gathering_min_s``); a group of *n* gives each member *n* − 1 episodes, which
the console shows as one incident per person. It clears when the two are certainly apart.

Not compared: people who share a registered home — the same home zone (the zone of their
curfew), or home zones whose edges are within ``gathering_m`` (family members both under
supervision); and, when a person's plan sets ``gathering_codefendants_only``, anyone who is not a
co-defendant (no case number shared; see ``supervisees.case_no``, migration 0016).

Cost. Everyone's current position sits in a grid of :data:`CELL_DEG` cells (a spatial hash);
a batch looks up only the cells around the people it brings fresh fixes of, and the pairs that
already have an episode under way, so its cost follows the fresh fixes, not the caseload; and a
person is judged at most every :data:`CHECK_EVERY_S` of their fixes' time. The
grid is derived from the device :class:`~alerts.activity.Activity` and rebuilt with the rule at
a registry reload; the episodes live in the tracker.

Partitions: an engine process holds only the supervisees of its partitions (see
:mod:`devices.topics`), so with several consumers, people in different partitions are not
compared in real time. The nightly co-location pass compares everyone over each day and raises
what no alert of this rule covered, for review (:func:`review_sides`,
:mod:`store.missed_gatherings`).

>>> gathering_verdicts(np.array([10.0, 200.0, 45.0]), np.array([15.0, 15.0, 15.0]),
...                    np.array([15.0, 15.0, 15.0]), np.array([0.0, 0.0, 0.0]), 50.0).tolist()
[1, 0, 2]
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from alerts.activity import RECENT_FIXES
from alerts.episodes import AlertChange, EpisodeKey, Staging
from alerts.rules.base import Batch, BatchRule, Changes, resized
from alerts.verdict import Verdict
from devices.tables import SuperviseeTable
from geofence.distance import distance_m
from geofence.kernel import SHAPE_CIRCLE

if TYPE_CHECKING:
    from alerts.plans import SupervisionPlan
    from alerts.roster import Fix4, Roster, RosterChange
    from geofence import Zone

KIND = "gathering"
SEVERITY = "medium"
CELL_DEG = 0.001  # grid cells, about 111 m × 96 m at 30° N
MAX_SKEW_S = 660.0  # a buffered bracelet's upload interval, and a minute
MAX_GAP_S = 900.0  # the longest pause between the certain verdicts of a streak
BRACELET_PREFERRED_S = 660.0
CHECK_EVERY_S = 30.0  # how often (fix time) a person reporting faster is judged again
M_PER_DEG = 111_320.0


def gathering_verdicts(distance: np.ndarray, acc_a: np.ndarray, acc_b: np.ndarray,
                       skew_s: np.ndarray, gathering_m: float | np.ndarray) -> np.ndarray:
    slack = np.hypot(acc_a, acc_b)
    out = np.full(len(distance), Verdict.UNKNOWN, dtype=np.int8)
    out[distance + slack < gathering_m] = Verdict.VIOLATING
    out[distance - slack > gathering_m] = Verdict.COMPLIANT
    out[np.abs(skew_s) > MAX_SKEW_S] = Verdict.UNKNOWN
    return out


def medoid_column(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per row of a device's newest three fixes (columns oldest to newest; NaN where it has
    fewer), the column of the fix closest to the others in sum — one multipath jump among
    three is never it; ties go to the newer. With fewer than three, the newest.

    >>> medoid_column(np.array([[0.0, 0.003, 0.0], [np.nan, 0.0, 0.001]]),
    ...               np.array([[0.0, 0.0, 0.0001], [np.nan, 0.0, 0.0]])).tolist()
    [0, 2]
    """
    d01 = np.asarray(distance_m(lon[:, 0], lat[:, 0], lon[:, 1], lat[:, 1]))
    d02 = np.asarray(distance_m(lon[:, 0], lat[:, 0], lon[:, 2], lat[:, 2]))
    d12 = np.asarray(distance_m(lon[:, 1], lat[:, 1], lon[:, 2], lat[:, 2]))
    sums = np.stack([d01 + d02, d01 + d12, d02 + d12], axis=1)
    best = 2 - np.argmin(sums[:, ::-1], axis=1)
    return np.where(np.isnan(sums).any(axis=1), 2, best)


def cell_keys(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """One int64 per :data:`CELL_DEG` cell."""
    cx = np.floor(np.asarray(lon) / CELL_DEG).astype(np.int64) + (1 << 20)
    cy = np.floor(np.asarray(lat) / CELL_DEG).astype(np.int64) + (1 << 20)
    return (cx << 21) | cy


class PositionGrid:
    """Everyone's current position (arrays by supervisee number) in a spatial hash: a sorted
    array of cell keys built in one pass, plus the cells of those who moved since, in a dict
    (folded into the sorted array once they are many)."""

    def __init__(self, n: int):
        self.ts = np.full(n, np.nan)
        self.lon = np.full(n, np.nan)
        self.lat = np.full(n, np.nan)
        self.acc = np.full(n, np.nan)
        self.device = np.full(n, -1, dtype=np.int64)
        self._compact()

    def _compact(self) -> None:
        placed = np.flatnonzero(~np.isnan(self.ts))
        self.base = np.full(len(self.ts), -1, dtype=np.int64)
        self.base[placed] = cell_keys(self.lon[placed], self.lat[placed])
        order = np.argsort(self.base[placed], kind="stable")
        self.sorted_members = placed[order]
        self.sorted_keys = self.base[self.sorted_members]
        self.moved: dict[int, int] = {}  # person → cell key, where it differs from base
        self.overlay: dict[int, set[int]] = {}  # cell key → people moved there

    def grow(self, n: int) -> None:
        """Room for people numbered below ``n`` (new people are numbered last)."""
        if n <= len(self.ts):
            return
        for name, fill in (("ts", np.nan), ("lon", np.nan), ("lat", np.nan), ("acc", np.nan),
                           ("device", -1), ("base", -1)):
            setattr(self, name, resized(getattr(self, name), n, fill))

    def remove(self, k: np.ndarray) -> None:
        """People no longer placed (:meth:`has` is False) until :meth:`place` places them
        again. Where the grid still files them, a look-up may find them: callers ask
        :meth:`has`."""
        self.ts[k], self.lon[k], self.lat[k], self.acc[k], self.device[k] = (
            np.nan, np.nan, np.nan, np.nan, -1)

    def has(self, k: int) -> bool:
        return not math.isnan(self.ts[k])

    def fix(self, k: int) -> Fix4:
        return float(self.ts[k]), float(self.lon[k]), float(self.lat[k]), float(self.acc[k])

    def place(self, k: np.ndarray, ts: np.ndarray, lon: np.ndarray, lat: np.ndarray,
              acc: np.ndarray, device: np.ndarray) -> None:
        """New current positions of people ``k`` (distinct)."""
        self.ts[k], self.lon[k], self.lat[k], self.acc[k], self.device[k] = (
            ts, lon, lat, acc, device)
        keys = cell_keys(lon, lat)
        current = self.base[k].copy()
        moved = self.moved
        if moved:
            for i, person in enumerate(k.tolist()):
                m = moved.get(person)
                if m is not None:
                    current[i] = m
        changed = np.flatnonzero(keys != current)
        overlay = self.overlay
        for person, key, old, base in zip(k[changed].tolist(), keys[changed].tolist(),
                                          current[changed].tolist(),
                                          self.base[k[changed]].tolist(), strict=True):
            if person in moved:
                members = overlay[old]
                members.discard(person)
                if not members:
                    del overlay[old]
                del moved[person]
            if key != base:
                moved[person] = key
                overlay.setdefault(key, set()).add(person)
        if len(moved) > max(1024, len(self.ts) // 8):
            self._compact()

    def near(self, k: np.ndarray, reach_m: float) -> dict[int, set[int]]:
        """For each of people ``k``, the others whose current positions lie in the cells
        within ``reach_m`` of theirs (only those with any)."""
        if not len(k) or not reach_m > 0:
            return {}
        ky = math.ceil(reach_m / (M_PER_DEG * CELL_DEG))
        cos = max(math.cos(math.radians(float(np.max(np.abs(self.lat[k]))))), 0.01)
        kx = math.ceil(reach_m / (M_PER_DEG * cos * CELL_DEG))
        offsets = np.array([(dx << 21) + dy for dx in range(-kx, kx + 1)
                            for dy in range(-ky, ky + 1)], dtype=np.int64)
        keys = cell_keys(self.lon[k], self.lat[k])[:, None] + offsets[None, :]
        lo = np.searchsorted(self.sorted_keys, keys)
        hi = np.searchsorted(self.sorted_keys, keys + 1)
        own = (keys == self.base[k][:, None]).any(axis=1)  # the person's own base entry
        look = (hi - lo).sum(axis=1) > own
        overlay, moved = self.overlay, self.moved
        if overlay:  # the cells of those who moved: someone there besides the person?
            cells = overlay.keys()
            for i, (person, row) in enumerate(zip(k.tolist(), keys.tolist(), strict=True)):
                if look[i] or cells.isdisjoint(row):
                    continue
                own = moved.get(person)
                look[i] = own is None or len(cells & row) > 1 or len(overlay[own]) > 1
        out: dict[int, set[int]] = {}
        for i in np.flatnonzero(look).tolist():
            person = int(k[i])
            found: set[int] = set()
            for a, b, key in zip(lo[i].tolist(), hi[i].tolist(), keys[i].tolist(),
                                 strict=True):
                found.update(m for m in self.sorted_members[a:b].tolist() if m not in moved)
                found |= overlay.get(key, set())
            found.discard(person)
            if found:
                out[person] = found
        return out


class GatheringRule(BatchRule):
    kinds = frozenset({KIND})

    def __init__(self, roster: Roster, cases: Mapping[str, str] | None = None):
        """``cases``: supervisee id → case number (co-defendants share one); by default the
        supervisees' own ``case_no``."""
        self.roster = r = roster
        people = r.supervisees
        self.cases = dict(cases) if cases is not None else people.case_nos() if isinstance(
            people, SuperviseeTable) else {
            s.id: s.case_no for s in people.values() if s.case_no}
        plans = {id(p): p for p in r.plan_of.distinct()}  # a few plans for many people
        on = {i for i, p in plans.items() if p.applies(KIND)}
        plan_no = {i: n for n, i in enumerate(plans)}
        of = np.fromiter((plan_no[id(p)] for p in r.plan_of.by_number),
                         dtype=np.int64, count=len(r.supervisee_ids))
        self.applies = np.array([i in on for i in plans], dtype=bool)[of] if len(of) else \
            np.zeros(0, dtype=bool)
        self.reach_of = np.array([p.gathering_m for p in plans.values()])[of] if len(of) else \
            np.zeros(0)  # each person's own plan's gathering_m
        self.reach_m = max((plans[i].gathering_m for i in on), default=0.0)
        self.home_zone = self._home_zones()  # each person's home zone's number (-1: none)
        self.grid = PositionGrid(len(r.supervisee_ids))
        self.checked = np.full(len(r.supervisee_ids), -np.inf)  # fix time last judged
        self._partners: dict[int, set[int]] | None = None
        self._unsettled: tuple[int, np.ndarray] | None = None  # see patched
        if self.applies.any():
            self._place_everyone()

    def patched(self, roster: Roster, change: RosterChange) -> GatheringRule:
        """After a registry change: the settings, home and case of the people it touched, and
        which devices are bracelets, again. The grid of positions is this rule's, shared (the
        numbering only grows): at its first fold it grows for new people and forgets where
        the touched people were — their next fix places them again."""
        new = copy.copy(self)
        r = new.roster = roster
        n = len(r.supervisee_ids)
        new.cases = dict(self.cases)
        new.home_zone = resized(self.home_zone, n, -1)
        new.applies = resized(self.applies, n, False)
        new.reach_of = resized(self.reach_of, n, 0.0)
        for k in change.supervisees.tolist():
            sid = r.supervisee_ids[k]
            new.cases.pop(sid, None)
            new.home_zone[k] = -1
            s = r.supervisees.get(sid) if r.sup_no.get(sid) == k else None
            new.applies[k], new.reach_of[k] = False, 0.0
            if s is None:
                continue
            plan = r.plan_of[sid]
            new.applies[k], new.reach_of[k] = plan.applies(KIND), plan.gathering_m
            if plan.applies(KIND):  # (a bound: a plan's reach made shorter only looks further)
                new.reach_m = max(new.reach_m, plan.gathering_m)
            if s.case_no:
                new.cases[sid] = s.case_no
            new.home_zone[k] = self._home_zone_of(r, sid)
        new._unsettled = (n, change.supervisees)
        new._partners = None
        return new

    def _settle(self) -> None:
        """What :meth:`patched` left for the first fold (the grid is shared with the rule it
        was patched from, which may fold a batch until this one is swapped in)."""
        if self._unsettled is None:
            return
        n, touched = self._unsettled
        self.grid.grow(n)
        self.grid.remove(touched)
        if len(self.checked) < n:
            self.checked = resized(self.checked, n, -np.inf)
        self.checked[touched] = -np.inf
        self._unsettled = None

    @staticmethod
    def _home_zone_of(r: Roster, sid: str) -> int:
        """The number of the person's home zone (their first curfew's), as
        :meth:`_home_zones` finds it; -1: none."""
        for a in r.assignments.of_subject(sid).tolist():
            if r.key_of_assignment[a].kind == "curfew":
                return int(r.assignments.zone[a])
        return -1

    def _home(self, k: int) -> Home | None:
        """Person ``k``'s home as :func:`home_of_zone` gives it (a circle's read from the
        compiled zones' arrays, made no zone)."""
        z = int(self.home_zone[k]) if k < len(self.home_zone) else -1
        if z < 0:
            return None
        zs = self.roster.zoneset
        if zs.shape[z] == SHAPE_CIRCLE:
            return zs.zones.ids[z], float(zs.center[z, 0]), float(zs.center[z, 1]), float(
                zs.radius_m[z])
        return home_of_zone(zs.zones[z])

    def _place_everyone(self) -> None:
        """Everyone's current position from the activity, in a few array passes (a registry
        reload rebuilds the rule)."""
        r = self.roster
        act = r.activity
        sup = r.sup_of_device
        ok = ~np.isnan(act.fix_ts) & (sup >= 0)
        ok[ok] = self.applies[sup[ok]]
        n_all = np.flatnonzero(ok)
        is_bracelet = r.is_bracelet

        def newest(devices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(supervisee numbers, their newest device among ``devices``)."""
            order = np.lexsort((act.fix_ts[devices], sup[devices]))
            devices = devices[order]
            last = np.ones(len(devices), dtype=bool)
            last[:-1] = sup[devices][1:] != sup[devices][:-1]
            return sup[devices[last]], devices[last]

        chosen = np.full(len(r.supervisee_ids), -1, dtype=np.int64)
        k_any, n_any = newest(n_all)
        chosen[k_any] = n_any
        k_br, n_br = newest(n_all[is_bracelet[n_all]])
        recent = act.fix_ts[chosen[k_br]] - act.fix_ts[n_br] <= BRACELET_PREFERRED_S
        chosen[k_br[recent]] = n_br[recent]
        g, n = self.grid, chosen[k_any]
        g.ts[k_any], g.lon[k_any], g.lat[k_any], g.acc[k_any] = (
            act.fix_ts[n], act.lon[n], act.lat[n], act.acc[n])
        g.device[k_any] = n
        g._compact()

    def _home_zones(self) -> np.ndarray:
        """Each person's home zone (their first curfew's), by number (-1: none)."""
        r = self.roster
        out = np.full(len(r.supervisee_ids), -1, dtype=np.int64)
        curfew = [i for i, rule in enumerate(r.zone_rules) if rule.alert_kind == "curfew"]
        asg = r.assignments
        rows = np.flatnonzero(np.isin(r.rule_of_assignment, curfew))
        subjects, sup_no = asg.subjects, r.sup_no
        for s, z in zip(asg.subject[rows].tolist(), asg.zone[rows].tolist(), strict=True):
            k = sup_no.get(subjects[s])
            if k is not None and out[k] < 0:
                out[k] = z
        return out

    # --- positions and the grid ---------------------------------------------------------------

    def _positions(self, people: np.ndarray, dev: np.ndarray, ts: np.ndarray,
                   lon: np.ndarray, lat: np.ndarray, acc: np.ndarray
                   ) -> tuple[np.ndarray, ...]:
        """The current positions of ``people`` (see the module) from their devices' recorded
        fixes and a batch's fresh ones (``dev``, ``ts``, …): (people with one, ts, lon, lat,
        acc, device)."""
        r = self.roster
        act = r.activity
        mine = r.devices_of_sup.concat(people)
        k = RECENT_FIXES
        c_dev = np.concatenate([np.repeat(mine, k), dev])
        cols = [np.concatenate([getattr(act, name)[mine].ravel(), new]) for name, new in (
            ("recent_ts", ts), ("recent_lon", lon), ("recent_lat", lat), ("recent_acc", acc))]
        known = ~np.isnan(cols[0])
        c_dev, cols = c_dev[known], [c[known] for c in cols]
        order = np.lexsort((cols[0], c_dev))
        c_dev, cols = c_dev[order], [c[order] for c in cols]
        unique = np.ones(len(c_dev), dtype=bool)
        unique[:-1] = (c_dev[1:] != c_dev[:-1]) | (cols[0][1:] != cols[0][:-1])
        c_dev, cols = c_dev[unique], [c[unique] for c in cols]
        from_end = np.searchsorted(c_dev, c_dev, side="right") - 1 - np.arange(len(c_dev))
        keep = from_end < k
        devices, where = np.unique(c_dev[keep], return_inverse=True)
        grid = [np.full((len(devices), k), np.nan) for _ in range(4)]
        column = k - 1 - from_end[keep]
        for g, c in zip(grid, cols, strict=True):
            g[where, column] = c[keep]
        pick = medoid_column(grid[1], grid[2])
        rows = np.arange(len(devices))
        f_ts, f_lon, f_lat, f_acc = (g[rows, pick] for g in grid)
        newest = grid[0][:, -1]
        # Per person: the newest device, unless a bracelet's is at most so much older.
        sup = r.sup_of_device[devices]
        bracelet = self.roster.is_bracelet[devices]
        score = np.where(bracelet, newest + BRACELET_PREFERRED_S, newest)
        order = np.lexsort((score, sup))
        last = np.ones(len(order), dtype=bool)
        last[:-1] = sup[order][1:] != sup[order][:-1]
        chosen = order[last]
        return (sup[chosen], f_ts[chosen], f_lon[chosen], f_lat[chosen], f_acc[chosen],
                devices[chosen])

    def partners(self, staging: Staging) -> dict[int, set[int]]:
        """Who has a gathering episode (open, or a streak under way) with whom."""
        if self._partners is None:
            self._partners = {}
            for key in staging.keys_of_kind(KIND):
                a, b = self.roster.sup_no.get(key.supervisee_id), self.roster.sup_no.get(
                    key.subject)
                if a is not None and b is not None and staging.has_state(key):
                    self._partners.setdefault(a, set()).add(b)
                    self._partners.setdefault(b, set()).add(a)
        return self._partners

    def forget(self) -> None:
        self._partners = None

    # --- folding ------------------------------------------------------------------------------

    def fold(self, batch: Batch, staging: Staging) -> list[AlertChange]:
        out = Changes()
        if not batch.any_fresh or not self.applies.any():
            return out
        d = batch.decided
        r = self.roster
        if d.numbering is not r.device_ids:
            return out
        self._settle()
        sel = np.flatnonzero(batch.fresh)
        sup = r.sup_of_device[d.device_no[sel]]
        ok = sup >= 0
        ok[ok] = self.applies[sup[ok]]
        sel, sup = sel[ok], sup[ok]
        fb = d.batch
        # A person is judged again once their fixes are CHECK_EVERY_S newer than when last
        # judged: twenty minutes of continuity need no more, and it spares fast reporters.
        ts = fb.ts[d.rows[sel]]
        newest = np.full(len(self.checked), -np.inf)
        np.maximum.at(newest, sup, ts)
        due = newest[sup] - self.checked[sup] >= CHECK_EVERY_S
        sel, sup = sel[due], sup[due]
        if not len(sel):
            return out
        self.checked[sup] = newest[sup]
        rows = d.rows[sel]
        people, *found = self._positions(
            np.unique(r.sup_of_device[d.device_no[sel]]), d.device_no[sel], fb.ts[rows],
            fb.lon[rows], fb.lat[rows], fb.accuracy_m[rows])
        grid = self.grid
        grid.place(people, *found)
        partners = self.partners(staging)
        near = grid.near(people, self.reach_m)
        pairs: set[tuple[int, int]] = set()
        for k in people.tolist():
            for q in near.get(k, set()) | partners.get(k, set()):
                if grid.has(q) and self.applies[q]:
                    pairs.add((min(k, q), max(k, q)))
        if not pairs:
            return out
        ab = np.array(sorted(pairs), dtype=np.int64)
        k, q = np.concatenate([ab[:, 0], ab[:, 1]]), np.concatenate([ab[:, 1], ab[:, 0]])
        dist = np.asarray(distance_m(grid.lon[k], grid.lat[k], grid.lon[q], grid.lat[q]))
        verdicts = gathering_verdicts(dist, grid.acc[k], grid.acc[q], grid.ts[k] - grid.ts[q],
                                      self.reach_of[k])
        excluded: dict[tuple[int, int], bool] = {}
        for i in np.flatnonzero(verdicts != Verdict.UNKNOWN).tolist():
            a, b, v = int(k[i]), int(q[i]), Verdict(int(verdicts[i]))
            if v == Verdict.COMPLIANT and b not in partners.get(a, ()):
                continue  # apart, and nothing under way between them
            pair = (min(a, b), max(a, b))
            if pair not in excluded:
                excluded[pair] = self._excluded(*pair)
            if not excluded[pair]:
                self._judge(a, b, v, staging, out)
        return out

    def _excluded(self, a: int, b: int) -> bool:
        """Family under one roof, or (when a plan asks) not co-defendants."""
        r = self.roster
        ha, hb = self._home(a), self._home(b)
        if ha is not None and hb is not None:
            reach = max(r.plan_of[r.supervisee_ids[a]].gathering_m,
                        r.plan_of[r.supervisee_ids[b]].gathering_m)
            if ha[0] == hb[0] or float(distance_m(ha[1], ha[2], hb[1], hb[2])) - ha[3] - hb[3] \
                    <= reach:
                return True
        ida, idb = r.supervisee_ids[a], r.supervisee_ids[b]
        if r.plan_of[ida].gathering_codefendants_only or r.plan_of[idb].gathering_codefendants_only:
            case = self.cases.get(ida)
            return case is None or case != self.cases.get(idb)
        return False

    def _judge(self, k: int, q: int, v: Verdict, staging: Staging, out: Changes) -> None:
        """Fold verdict ``v`` into ``k``'s episode with ``q``."""
        r = self.roster
        sid, other = r.supervisee_ids[k], r.supervisee_ids[q]
        plan = r.plan_of[sid]
        fk, fq, nk = self.grid.fix(k), self.grid.fix(q), int(self.grid.device[k])
        key = EpisodeKey(sid, other, KIND)
        if v == Verdict.COMPLIANT and not staging.has_state(key):
            return
        t = max(fk[0], fq[0])
        out.fold(staging, key, r.suppressed(sid, KIND, t, v), t, fk[1], fk[2], r.device_ids[nk],
                 SEVERITY, 1, plan.gathering_min_s if v == Verdict.VIOLATING else 0.0,
                 MAX_GAP_S)
        if v == Verdict.VIOLATING and self._partners is not None:
            self._partners.setdefault(k, set()).add(q)
            self._partners.setdefault(q, set()).add(k)


# --- the nightly review (store/missed_gatherings.py) ------------------------------------------

Home = tuple[str, float, float, float]  # a home zone: (zone id, centre lon, lat, radius m)


def home_of_zone(zone: Zone) -> Home:
    """A home zone (a curfew's) as the rule compares homes: its centre and the radius that
    holds it (a circle's own; a polygon's, to the farthest corner of its envelope)."""
    if zone.shape == "circle":
        return zone.id, *zone.center, zone.radius_m
    c = zone.geometry.centroid
    xs, ys = np.asarray(zone.geometry.envelope.exterior.coords).T
    return zone.id, c.x, c.y, float(np.max(distance_m(c.x, c.y, xs, ys)))


def not_compared(home_a: Home | None, home_b: Home | None, reach_m: float,
                 codefendants_only: bool, case_a: str | None, case_b: str | None) -> bool:
    """Whether two people are never compared (see the module): family under one roof — the
    same home zone, or home zones whose edges are within ``reach_m`` — or, when
    ``codefendants_only`` (either's plan), no case number shared.

    >>> home = ("h-1", 10.0, 50.0, 30.0)
    >>> not_compared(home, home, 50.0, False, None, None)
    True
    >>> not_compared(home, ("h-2", 10.01, 50.0, 30.0), 50.0, False, None, None)  # ~700 m
    False
    >>> not_compared(None, None, 50.0, True, "2026-A", "2026-A")
    False
    """
    if home_a is not None and home_b is not None and (
            home_a[0] == home_b[0] or float(distance_m(home_a[1], home_a[2], home_b[1],
                                                       home_b[2])) - home_a[3] - home_b[3]
            <= reach_m):
        return True
    return codefendants_only and (case_a is None or case_a != case_b)


def review_sides(a: str, b: str, plan_a: SupervisionPlan, plan_b: SupervisionPlan,
                 case_a: str | None, case_b: str | None, home_a: Home | None,
                 home_b: Home | None, duration_s: float, closest_m: float) -> list[str]:
    """Which of ``a`` and ``b`` a meeting the nightly pass found (``duration_s`` long, at
    ``closest_m`` at the closest) raises a ``gathering`` alert for, as the rule would have:
    each whose plan applies the rule and whose ``gathering_min_s`` the meeting lasted and
    whose ``gathering_m`` it came within, unless the two are never compared.

    >>> from alerts.plans import SupervisionPlan as P
    >>> review_sides("a", "b", P(), P(gathering_min_s=3600), None, None, None, None, 1500, 20)
    ['a']
    >>> review_sides("a", "b", P(gathering_codefendants_only=True), P(), "c1", "c2", None,
    ...              None, 1500, 20)
    []
    """
    reach = max(plan_a.gathering_m, plan_b.gathering_m)
    if not_compared(home_a, home_b, reach, plan_a.gathering_codefendants_only
                    or plan_b.gathering_codefendants_only, case_a, case_b):
        return []
    return [who for who, plan in ((a, plan_a), (b, plan_b))
            if plan.applies(KIND) and duration_s >= plan.gathering_min_s
            and closest_m <= plan.gathering_m]
