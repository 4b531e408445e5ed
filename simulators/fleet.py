"""A deterministic simulated fleet with ground truth: supervisees, victims and their devices over
simulated days, rendered as the MQTT messages devices would send, plus the labels of every
violation that truly happened. Pure computation: no network, no clock.

>>> fleet = Fleet(FleetConfig(supervisees=6, seed=3, days=0.25))
>>> msg = next(fleet.messages())
>>> msg.topic.startswith(("cordon/devices/", "owntracks/"))
True
>>> sorted(fleet.registry())
['devices', 'jurisdictions', 'pairings', 'supervisees', 'victims', 'zones']

The model, module by module:

- :mod:`simulators.world` — real counties of a state (US Census, ``bokeh-sampledata``) with
  exclusion zones: protected residences (circles) and school campuses (polygons);
- :mod:`simulators.people` — each supervisee lives in one county (their inclusion zone) with a
  home (a 75 m home zone for the curfew), maybe a job, errand places, and a daily routine;
- :mod:`simulators.scenarios` — violators of one kind each; the episodes they act out;
- :mod:`simulators.paths` — the true path of each person, and exact boundary crossings;
- :mod:`simulators.labels` — the ground truth computed from true paths and device states
  (``low_battery`` from each supervisee device's battery, so after the devices are made);
- :mod:`simulators.battery`, :mod:`simulators.gps`, :mod:`simulators.reporting` — batteries,
  positioning errors, and when and how each device sends;
- :mod:`simulators.wire` — the bytes: Cordon's native format, OwnTracks, device events, OsmAnd.

Devices: a supervisee has a bracelet (native format; 40 % of them buffer and upload every
10 minutes), a phone (OwnTracks), or both, paired. A protected victim carries a phone whose
position is the centre of a moving exclusion zone for the supervisee it protects against.

Determinism: everything is drawn from NumPy generators seeded by ``(seed, purpose, index)``, so
the same configuration gives byte-identical messages and labels, and a person's life does not
depend on how many others are simulated after them.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shapely.geometry import Point, mapping

from devices.topics import native_topic, owntracks_topic
from simulators.battery import plan_battery
from simulators.clock import Curfew, dates, local_ts
from simulators.gps import Receiver
from simulators.intervals import Interval, as_array, normalize
from simulators.labels import (
    GATHERING_MIN_S,
    HOME_RADIUS_M,
    SEPARATION_M,
    SEPARATION_MIN_S,
    VICTIM_ENTER_M,
    VICTIM_EXIT_M,
    Label,
    battery_labels,
    gathering_labels,
    phone_left_behind_labels,
    sort_labels,
    spatial_labels,
    write_labels,
)
from simulators.paths import Path, beyond_radius, within_radius
from simulators.people import DayPlanner, Person, make_person
from simulators.reporting import Clock, DeviceSim, render
from simulators.scenarios import COMPLIANT, KINDS, Life, plan_life
from simulators.wire import SimMessage, event_topic
from simulators.world import County, StaticZone, World, build_world

__all__ = ["Fleet", "FleetConfig", "Label", "SimMessage", "write_labels"]

# The kinds scripted before the last two were added: drawn first, as they always were, so that
# adding kinds changed no one else's life (the new ones are drawn from the compliant).
FIRST_KINDS = KINDS[:8]

DEFAULT_START = 1_794_808_800.0  # Monday 2026-11-16 00:00 America/Chicago
BLE_RANGE_M = 30.0  # bracelet–phone Bluetooth link
COMPLIANT_VICTIM_CLEARANCE_M = 1500.0
PLACE_CLEARANCE_M = 250.0  # between the places of different supervisees of a county
FIRST = ("James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer",
         "Carlos", "Elizabeth", "Daniel", "Susan", "Jose", "Jessica", "Anthony", "Sarah",
         "Kevin", "Karen", "Luis", "Nancy", "Brian", "Lisa", "Juan", "Angela")
LAST = ("Smith", "Garcia", "Johnson", "Martinez", "Williams", "Hernandez", "Brown", "Lopez",
        "Jones", "Gonzalez", "Miller", "Rodriguez", "Davis", "Perez", "Wilson", "Sanchez",
        "Anderson", "Ramirez", "Taylor", "Torres", "Thomas", "Flores", "Moore", "Rivera")


@dataclass(frozen=True, slots=True)
class FleetConfig:
    supervisees: int = 100
    seed: int = 0
    start: float = DEFAULT_START  # Unix seconds of the simulated start
    days: float = 1.0  # simulated duration
    state: str = "TX"
    counties: tuple[str, ...] = ("Travis", "Williamson", "Hays", "Bastrop", "Caldwell")
    timezone: str | None = None  # default: the state's
    report_interval_s: float = 60.0
    violation_interval_s: float = 15.0  # while truly in violation
    upload_interval_s: float = 600.0  # buffered bracelets
    buffered_fraction: float = 0.4  # of bracelets
    # Violators: the share of supervisees acting out each kind (the rest are compliant). A kind
    # with a positive share gets at least one supervisee.
    exclusion_entry_fraction: float = 0.03
    inclusion_exit_fraction: float = 0.03
    curfew_fraction: float = 0.03
    victim_proximity_fraction: float = 0.03
    separation_fraction: float = 0.03
    tamper_fraction: float = 0.03
    battery_dead_fraction: float = 0.03
    silent_fraction: float = 0.03
    gathering_fraction: float = 0.04  # in pairs of one county
    phone_left_behind_fraction: float = 0.03
    compliant_victim_fraction: float = 0.03  # compliant people with a (faraway) protected victim
    residences_per_county: int = 4
    schools_per_county: int = 2
    gap_chance_per_day: float = 0.3  # per device: a connectivity gap of 3–25 min
    chunk_s: float = 6 * 3600.0  # render window (memory vs. overhead), multiple of upload

    def fraction(self, kind: str) -> float:
        return float(getattr(self, f"{kind}_fraction"))

    def validate(self) -> None:
        if self.supervisees < 1 or self.days <= 0:
            raise ValueError("FleetConfig needs supervisees >= 1 and days > 0")
        total = sum(self.fraction(k) for k in KINDS)
        if total > 1.0 or any(self.fraction(k) < 0 for k in KINDS):
            raise ValueError(f"violator fractions must be >= 0 and sum to <= 1 (sum {total})")
        if not 0 < self.violation_interval_s <= self.report_interval_s:
            raise ValueError("violation_interval_s must be in (0, report_interval_s]")
        if not self.counties:
            raise ValueError("FleetConfig.counties is empty")


@dataclass(slots=True, eq=False)
class Member:
    """A supervisee with everything the fleet knows about them."""

    life: Life
    county: County
    home_zone: StaticZone
    bracelet: str | None
    phone: str | None
    victim: Life | None = None
    victim_device: str | None = None
    labels: list[Label] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.life.person.id


class Fleet:
    """A simulated fleet: build it from a :class:`FleetConfig`, then read :meth:`messages`,
    :meth:`labels`, :meth:`registry`; :meth:`truth` gives any device's true position."""

    def __init__(self, config: FleetConfig):
        config.validate()
        self.config = config
        self.start = float(config.start)
        self.end = self.start + config.days * 86400.0
        self.world: World = build_world(
            config.state, config.counties, np.random.default_rng((config.seed, 1)),
            config.residences_per_county, config.schools_per_county, config.timezone)
        upload = config.upload_interval_s
        self.clock = Clock(self.start, self.end, config.report_interval_s,
                           config.violation_interval_s, upload,
                           max(1, round(config.chunk_s / upload)) * upload, config.seed)
        self._width = max(4, len(str(config.supervisees)))
        kinds = self._assign_kinds()
        self.members: list[Member] = []
        for i in range(config.supervisees):  # a gathering follower joins an earlier leader
            self.members.append(self._member(i, kinds[i]))
        self._member_by_id = {m.id: m for m in self.members}
        self.devices: list[DeviceSim] = []
        self._device_by_id: dict[str, DeviceSim] = {}
        self._device_role: dict[str, dict[str, Any]] = {}
        for m in self.members:
            m.labels = self._labels_of(m)
        for lb in gathering_labels(
                [(m.id, m.life.path, m.life.person.home.xy, HOME_RADIUS_M) for m in self.members],
                self.start, self.end):
            member = self._member_by_id[lb.supervisee]
            member.labels = sort_labels([*member.labels, lb])
        for m in self.members:
            self._add_devices(m)
        # Battery labels need the devices' batteries; they do not change how devices report.
        for m in self.members:
            m.labels = sort_labels([*m.labels, *self._battery_labels_of(m)])
            if m.life.kind == COMPLIANT and m.labels:
                raise RuntimeError(f"compliant {m.id} has labels {m.labels[:3]}: a planning bug")

    # --- public API ---------------------------------------------------------------------------

    def messages(self) -> Iterator[SimMessage]:
        """Every message of the fleet, in non-decreasing ``deliver_at`` (ties in a fixed order).

        Generated lazily, a render window (``chunk_s`` of simulated time) at a time: memory holds
        about two windows of messages."""
        clock = self.clock
        n_windows = math.ceil((self.end - self.start) / clock.chunk_s) + 1
        carry_at = np.empty(0)
        carry: list[SimMessage] = []
        for k in range(n_windows):
            at: list[float] = carry_at.tolist()
            msgs = carry
            for dev in self.devices:
                d, m = render(dev, k, clock)
                at.extend(d)
                msgs.extend(m)
            times = np.asarray(at)
            order = np.argsort(times, kind="stable")
            # Windows after k start at or after this instant, and nothing is sent before its
            # fix or event time: what is due before it is final.
            bound = self.start + k * clock.chunk_s if k < n_windows - 1 else math.inf
            ready = int(np.searchsorted(times[order], bound, side="left"))
            yield from map(msgs.__getitem__, order[:ready].tolist())
            rest = order[ready:]
            carry_at = times[rest]
            carry = [msgs[i] for i in rest.tolist()]

    def labels(self) -> list[Label]:
        """Ground truth: every violation episode, sorted by start (see :mod:`simulators.labels`)."""
        return sort_labels(lb for m in self.members for lb in m.labels)

    def scenarios(self) -> dict[str, str]:
        """Supervisee id → the scripted kind (``compliant`` or one of the label kinds)."""
        return {m.id: m.life.kind for m in self.members}

    def truth(self, device_id: str, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True (lon, lat) of a device at ``t`` (Unix seconds, scalar or array)."""
        return self._device_by_id[device_id].path.at(t)

    def supervisee_truth(self, supervisee_id: str, t: float | np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """True (lon, lat) of a supervisee (their body, where the bracelet is) at ``t``."""
        return self._member_by_id[supervisee_id].life.path.at(t)

    def device(self, device_id: str) -> DeviceSim:
        return self._device_by_id[device_id]

    def registry(self) -> dict[str, Any]:
        """What to register in Cordon, JSON-able: jurisdictions (with GeoJSON boundaries), zones
        (GeoJSON Features as Cordon reads them), supervisees, victims, devices and pairings."""
        w = self.world
        jurisdictions: list[dict[str, Any]] = [{
            "id": w.state_id, "name": w.state_name, "kind": "state", "parent_id": None,
            "timezone": w.timezone, "boundary": None}]
        zones = []
        for c in w.counties:
            jurisdictions.append({
                "id": c.id, "name": c.detailed_name, "kind": "county", "parent_id": w.state_id,
                "timezone": w.timezone, "fips": c.fips, "boundary": mapping(c.geometry)})
            zones.append(c.line.feature())
            zones.extend(z.feature() for z in c.exclusions)
        supervisees, victims, devices, pairings = [], [], [], []
        for m in self.members:
            zones.append(m.home_zone.feature())
            person = m.life.person
            assert person.curfew is not None
            entry: dict[str, Any] = {
                "id": m.id, "name": person.name, "jurisdiction_id": m.county.id,
                "zone_ids": [m.county.line.id, *(z.id for z in m.county.exclusions)],
                "home_zone_id": m.home_zone.id, "curfew": person.curfew.schedule(),
                "protected_victims": []}
            if m.victim is not None and m.victim_device is not None:
                rule = {"victim_id": m.victim.person.id, "device_id": m.victim_device,
                        "enter_m": VICTIM_ENTER_M, "exit_m": VICTIM_EXIT_M}
                entry["protected_victims"].append(rule)
                victims.append({"id": m.victim.person.id, "name": m.victim.person.name,
                                "jurisdiction_id": m.county.id, "protected_from": m.id,
                                "device_id": m.victim_device, "enter_m": VICTIM_ENTER_M,
                                "exit_m": VICTIM_EXIT_M})
            supervisees.append(entry)
            if m.bracelet and m.phone:
                pairings.append({"supervisee_id": m.id, "bracelet_id": m.bracelet,
                                 "phone_id": m.phone, "max_distance_m": SEPARATION_M,
                                 "max_seconds": SEPARATION_MIN_S})
        for dev in self.devices:
            devices.append(dict(self._device_role[dev.id]))
        return {"jurisdictions": jurisdictions, "zones": zones, "supervisees": supervisees,
                "victims": victims, "devices": devices, "pairings": pairings}

    # --- building -------------------------------------------------------------------------------

    def _assign_kinds(self) -> list[str]:
        cfg = self.config
        n = cfg.supervisees
        counts = {k: (max(1, round(cfg.fraction(k) * n)) if cfg.fraction(k) > 0 else 0)
                  for k in KINDS}
        kinds: list[str] = []
        for k in FIRST_KINDS:
            kinds.extend([k] * counts[k])
        kinds = kinds[:n]
        kinds.extend([COMPLIANT] * (n - len(kinds)))
        rng = np.random.default_rng((cfg.seed, 2))
        kinds = [kinds[int(i)] for i in rng.permutation(n)]
        # The later kinds, from the compliant: gathering in pairs of one county (a leader and a
        # follower, the follower later in the list), phone_left_behind one by one.
        rng = np.random.default_rng((cfg.seed, 9))
        counties = len(self.world.counties)
        self._leader_of: dict[int, int] = {}
        pairs = max(1, round(counts["gathering"] / 2)) if counts["gathering"] else 0
        for _ in range(pairs):
            free = [i for i, k in enumerate(kinds) if k == COMPLIANT]
            if len(free) < 2:
                break
            a = free[int(rng.integers(len(free)))]
            mates = [j for j in free if j != a and j % counties == a % counties]
            if not mates:
                continue
            b = mates[int(rng.integers(len(mates)))]
            kinds[a] = kinds[b] = "gathering"
            self._leader_of[max(a, b)] = min(a, b)
        for _ in range(counts["phone_left_behind"]):
            free = [i for i, k in enumerate(kinds) if k == COMPLIANT]
            if free:
                kinds[free[int(rng.integers(len(free)))]] = "phone_left_behind"
        return kinds

    def _member(self, i: int, kind: str) -> Member:
        cfg, w = self.config, self.world
        county = w.counties[i % len(w.counties)]
        sid = f"S-{i + 1:0{self._width}d}"
        rng = np.random.default_rng((cfg.seed, 3, i))
        night = int(rng.choice([21, 22, 22, 22]))
        curfew = Curfew(w.timezone, night, min(night + 1, 23))
        # Places keep clear of the places of the county's people drawn before: two strangers
        # whose home, work or errands lay 40 m apart would be gathering (a coincidence of
        # random points that a few hundred people make likely).
        taken = [xy for m in self.members if m.county is county for xy in _places(m.life.person)]
        person, router = make_person(
            sid, _name(rng), "supervisee", county.id, county.safe, county.geometry, rng,
            np.random.default_rng((cfg.seed, 4, i)), curfew, county.random_safe_point,
            avoid=taken, avoid_m=PLACE_CLEARANCE_M)
        planner = DayPlanner(person, router, rng, w.timezone)
        victim = None
        wants_victim = kind == "victim_proximity" or (
            kind == COMPLIANT and rng.random() < cfg.compliant_victim_fraction)
        if wants_victim:
            vrng = np.random.default_rng((cfg.seed, 5, i))
            mine = [person.home.xy, *(p.xy for p in person.errands)]
            if person.work:
                mine.append(person.work.xy)
            vperson, vrouter = make_person(
                f"V-{i + 1:0{self._width}d}", _name(vrng), "victim", county.id, county.safe,
                county.geometry, vrng, np.random.default_rng((cfg.seed, 6, i)), None,
                county.random_safe_point, avoid=mine, avoid_m=5000.0)
            victim = plan_life(vperson, COMPLIANT, DayPlanner(vperson, vrouter, vrng, w.timezone),
                               county, self.start, self.end, vrng)
        # Who carries what: both devices, a bracelet alone, or a phone alone; scripts that need
        # a device get it. People with a phone alone are restless (see simulators.scenarios).
        roll = np.random.default_rng((cfg.seed, 8, i)).random()
        bracelet = (roll < 0.85 or kind in ("separation", "tamper")) \
            and kind != "phone_left_behind"
        phone = roll < 0.6 or roll >= 0.85 or kind in ("separation", "phone_left_behind")
        walks = np.random.default_rng((cfg.seed, 10, i)) if phone and not bracelet else None
        leader = self._leader_of.get(i)
        meetings = self.members[leader].life.meetings if leader is not None else ()
        life = plan_life(person, kind, planner, county, self.start, self.end, rng, victim,
                         meetings, walks)
        if victim is not None and kind == COMPLIANT and within_radius(
                life.path, victim.path, COMPLIANT_VICTIM_CLEARANCE_M, self.start, self.end):
            victim = None  # their lives cross: this compliant person protects no one after all
        home = StaticZone(f"home-{sid}", f"Home of {person.name}", "inclusion", "home",
                          Point(person.home.xy), HOME_RADIUS_M, county.id, curfew.schedule())
        num = sid.split("-")[1]
        return Member(life, county, home, f"br-{num}" if bracelet else None,
                      f"ph-{num}" if phone else None, victim)

    def _labels_of(self, m: Member) -> list[Label]:
        """Labels from the person's path and script (every kind but ``low_battery``, which
        needs the devices: :meth:`_battery_labels_of`)."""
        life, person = m.life, m.life.person
        assert person.curfew is not None
        both = m.bracelet is not None and m.phone is not None
        out = spatial_labels(
            m.id, life.path, m.county.line, m.county.exclusions, person.home.xy,
            person.curfew.intervals(self.start, self.end), self.start, self.end,
            victim=m.victim.path if m.victim else None,
            bracelet=life.path if both else None, phone=life.phone_path() if both else None)
        for _how, t0, t1 in life.tampers:
            out.append(Label(m.id, "tamper", t0, min(t1, self.end)))
        for t0, t1 in life.deaths:
            out.append(Label(m.id, "battery_dead", t0, min(t1, self.end)))
        for t0, t1 in life.silences:
            out.append(Label(m.id, "silent", t0, min(t1, self.end)))
        if m.phone is not None and m.bracelet is None:
            out += phone_left_behind_labels(m.id, life.phone_path(), self.world.timezone,
                                            self.start, self.end)
        return sort_labels(out)

    def _battery_labels_of(self, m: Member) -> list[Label]:
        """``low_battery`` labels of the supervisee's own devices (not their victim's phone)."""
        out: list[Label] = []
        for did in (m.bracelet, m.phone):
            if did is not None:
                battery = self._device_by_id[did].battery
                out += battery_labels(m.id, battery.t, battery.level, self.start, self.end)
        return out

    def _add_devices(self, m: Member) -> None:
        num = m.id.split("-")[1]
        life = m.life
        silences = list(life.silences)
        fast = normalize([*((lb.start, lb.end) for lb in m.labels if lb.kind in (
            "exclusion_entry", "inclusion_exit", "curfew", "victim_proximity", "separation")),
            *((lb.start - GATHERING_MIN_S, lb.end) for lb in m.labels
              if lb.kind == "gathering")])
        bracelet_id, phone_id = m.bracelet, m.phone
        dies = bracelet_id or phone_id
        link: list[tuple[float, str, tuple[tuple[str, str], ...]]] = []
        if bracelet_id and phone_id:
            for a, b in beyond_radius(life.path, life.phone_path(), BLE_RANGE_M, self.start,
                                      self.end):
                link.append((a, "lost_link", (("peer", phone_id),)))
                if b < self.end:
                    link.append((b, "link_restored", (("peer", phone_id),)))
        tamper_events = []
        for kind, t0, t1 in life.tampers:
            names = ("strap_tamper", "strap_restored") if kind == "strap" else \
                ("case_open", "case_closed")
            tamper_events += [(t0, names[0], ()), (t1, names[1], ())]
        user = m.id.lower()
        if bracelet_id:
            self._new_device(
                bracelet_id, "bracelet", m.id, life.path, m.life.person.curfew, native_topic(
                    bracelet_id), deaths=list(life.deaths) if dies == bracelet_id else [],
                silences=silences, fast=fast, extra_events=link + tamper_events,
                role={"id": bracelet_id, "kind": "bracelet", "supervisee_id": m.id,
                      "role": "supervisee", "format": "native"})
        if phone_id:
            self._new_device(
                phone_id, "phone", m.id, life.phone_path(), m.life.person.curfew,
                owntracks_topic(user, phone_id),
                deaths=list(life.deaths) if dies == phone_id else [], silences=silences,
                fast=fast, extra_events=[],
                role={"id": phone_id, "kind": "phone", "supervisee_id": m.id,
                      "role": "supervisee", "format": "owntracks", "owntracks_user": user})
        if m.victim is not None:
            vid = f"vp-{num}"
            vuser = m.victim.person.id.lower()
            m.victim_device = vid
            self._new_device(
                vid, "phone", m.victim.person.id, m.victim.path, None, owntracks_topic(vuser, vid),
                deaths=[], silences=[], fast=[], extra_events=[],
                role={"id": vid, "kind": "phone", "supervisee_id": None, "role": "victim",
                      "victim_id": m.victim.person.id, "protects_against": m.id,
                      "format": "owntracks", "owntracks_user": vuser})

    def _new_device(self, did: str, kind: str, owner: str, path: Path, curfew: Curfew | None,
                    topic: str, deaths: list[Interval], silences: list[Interval],
                    fast: list[Interval], extra_events: list, role: dict[str, Any]) -> None:
        cfg, clock, tz = self.config, self.clock, self.world.timezone
        index = len(self.devices)
        rng = np.random.default_rng((cfg.seed, 7, int.from_bytes(did.encode(), "big") % 2**63))
        t0 = self.start - 3 * 86400.0
        sessions = []
        for d in dates(t0, self.end + 86400.0, tz):
            if kind == "bracelet":
                night = curfew.window_starting(d)[0] if curfew else local_ts(d, 22, tz)
                s = night + rng.uniform(15 * 60, 75 * 60)
                sessions.append((s, s + rng.uniform(1.5 * 3600, 2.5 * 3600)))
            else:
                s = local_ts(d, 22.75, tz) + rng.uniform(0, 3600)
                nxt = local_ts(d, 24 + 5.75, tz) + rng.uniform(0, 1500)
                sessions.append((s, nxt))
        drain = rng.uniform(1.5, 2.6) if kind == "bracelet" else rng.uniform(2.5, 3.8)
        charge = 45.0 if kind == "bracelet" else 30.0
        battery = plan_battery(sessions, t0, 90.0, drain, charge, self.end + 86400.0,
                               deaths[0] if deaths else None)
        off = normalize([*battery.dead, *silences])
        offset = float(rng.uniform(0, clock.upload_s))
        gaps = []
        for d in dates(self.start, self.end, tz):
            if rng.random() >= cfg.gap_chance_per_day:
                continue
            g0 = local_ts(d, 0, tz) + rng.uniform(0, 86400.0)
            g1 = g0 + rng.uniform(3 * 60, 25 * 60)
            w0 = math.floor((g0 - 30 - self.start - offset) / clock.chunk_s)
            w1 = math.floor((g1 + 30 - self.start - offset) / clock.chunk_s)
            if w0 == w1 and not any(a < g1 + 60 and g0 - 60 < b for a, b in off):
                gaps.append((g0, g1))
        events = []
        if kind == "bracelet":
            events = [(t, name, ()) for t, name in battery.events
                      if self.start <= t < self.end]
            events += [e for e in extra_events if self.start <= e[0] < self.end]
        dev = DeviceSim(
            index=index, id=did, kind=kind, owner=owner, topic=topic, event_topic=event_topic(did),
            path=path, receiver=Receiver.draw(kind, rng), battery=battery,
            phase_s=float(rng.uniform(0, clock.interval_s)), offset_s=offset,
            batched=kind == "bracelet" and rng.random() < cfg.buffered_fraction,
            off=as_array(off), gaps=as_array(normalize(gaps)), fast=as_array(fast),
            resumes=np.array([b for _, b in off]),
            events=tuple(sorted(events, key=lambda e: (e[0], e[1]))),
            alt_m=float(rng.uniform(150.0, 260.0)))
        self.devices.append(dev)
        self._device_by_id[did] = dev
        interval = clock.upload_s if dev.batched else clock.interval_s
        self._device_role[did] = role | {"batched": dev.batched, "report_interval_s": interval}


def _places(person: Person) -> list[tuple[float, float]]:
    return [person.home.xy, *(p.xy for p in person.errands), *(
        [person.work.xy] if person.work else [])]


def _name(rng: np.random.Generator) -> str:
    return f"{FIRST[int(rng.integers(len(FIRST)))]} {LAST[int(rng.integers(len(LAST)))]}"


def merge_sorted(*streams: Iterator[SimMessage]) -> Iterator[SimMessage]:
    """Merge several fleets' message streams (each in delivery order) into one."""
    return heapq.merge(*streams, key=lambda m: m.deliver_at)
