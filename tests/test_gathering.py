"""gathering (聚集): supervisees within gathering_m of each other for gathering_min_s
(alerts/rules/gathering.py). Pure: no broker, no database."""

from __future__ import annotations

from alerts.episodes import EpisodeTracker
from alerts.evaluator import Evaluator
from alerts.plans import SupervisionPlan
from alerts.rules.gathering import GatheringRule
from devices.fixes import Fix, FixBatch
from devices.models import Device, Supervisee
from geofence.zones import Zone
from tests.test_evaluator import fold_and_commit
from tests.test_rules import HOME, at, east

KIND = "gathering"
PARK = east(3000)


def home(pid: str, where: tuple[float, float]) -> Zone:
    return Zone.from_feature({
        "type": "Feature", "id": f"home-{pid}",
        "properties": {"kind": "inclusion", "radius_m": 75,
                       "schedule": {"timezone": "America/Chicago", "windows": [
                           {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "start": "22:00", "end": "06:00"}]}},
        "geometry": {"type": "Point", "coordinates": list(where)}})


def evaluator(homes: dict[str, tuple[float, float]] | None = None,
              plan: SupervisionPlan | None = None, shared_home: bool = False,
              cases: dict[str, str] | None = None, people: int = 3) -> Evaluator:
    homes = homes or {f"p{i}": east(5000 * i, HOME) for i in range(1, people + 1)}
    zones = {pid: home("shared" if shared_home else pid, where)
             for pid, where in homes.items()}
    unique = list({z.id: z for z in zones.values()}.values())
    sup = {pid: Supervisee(pid, pid, "j", (zones[pid].id,), plan.id if plan else None)
           for pid in homes}
    devices = {}
    for pid in homes:
        n = pid[1:]
        devices[f"ph-{n}"] = Device(f"ph-{n}", pid)
        devices[f"br-{n}"] = Device(f"br-{n}", pid, "bracelet")
    ev = Evaluator(devices, sup, unique, plans={plan.id: plan} if plan else None)
    if cases is not None:
        ev.rules = [GatheringRule(ev.roster, cases) if isinstance(r, GatheringRule) else r
                    for r in ev.rules]
    return ev


def minutes(ev: Evaluator, tr: EpisodeTracker, t0: float, n: int,
            where: dict[str, tuple[float, float]], acc: float = 8.0
            ) -> list[tuple[str, str, str, float]]:
    """``n`` minutes of one fix a minute from each person's bracelet at ``where[pid]``."""
    out = []
    for k in range(n):
        t = t0 + 60.0 * k
        batch = FixBatch.from_fixes([
            Fix(f"br-{pid[1:]}", t + i, x, y, acc, float("nan"), t + i, "native")
            for i, (pid, (x, y)) in enumerate(sorted(where.items()))])
        out += [(c.action, c.key.supervisee_id, c.key.subject, c.at)
                for c in fold_and_commit(ev, tr, batch) if c.key.kind == KIND]
    return out


def test_a_meeting_of_twenty_minutes_opens_one_episode_per_person_and_parting_clears():
    ev, tr = evaluator(), EpisodeTracker(3)
    t0 = at(2026, 11, 18, 14, 0)
    together = {"p1": PARK, "p2": east(20, PARK), "p3": east(9000, PARK)}
    changes = minutes(ev, tr, t0, 25, together)
    assert sorted(c[:3] for c in changes) == [("opened", "p1", "p2"), ("opened", "p2", "p1")]
    assert all(c[3] == t0 + 1 for c in changes)  # from the first certain verdict
    apart = {"p1": PARK, "p2": east(800, PARK), "p3": east(9000, PARK)}
    assert sorted(c[:3] for c in minutes(ev, tr, t0 + 1800, 2, apart)) == [
        ("cleared", "p1", "p2"), ("cleared", "p2", "p1")]


def test_fifteen_minutes_together_is_not_a_gathering():
    ev, tr = evaluator(), EpisodeTracker(3)
    t0 = at(2026, 11, 18, 14, 0)
    assert minutes(ev, tr, t0, 15, {"p1": PARK, "p2": PARK}) == []
    assert minutes(ev, tr, t0 + 900, 10, {"p1": PARK, "p2": east(700, PARK)}) == []


def test_fixes_that_merely_could_be_close_raise_nothing():
    ev, tr = evaluator(), EpisodeTracker(3)
    # 30 m apart with 40 m accuracy each: 30 + 57 > 50, not certainly within.
    assert minutes(ev, tr, at(2026, 11, 18, 14, 0), 40, {"p1": PARK, "p2": east(30, PARK)},
                   acc=40.0) == []


def test_people_under_one_roof_are_not_compared():
    t0 = at(2026, 11, 18, 19, 0)
    ev, tr = evaluator(shared_home=True, homes={"p1": HOME, "p2": HOME}), EpisodeTracker(3)
    assert minutes(ev, tr, t0, 40, {"p1": HOME, "p2": HOME}) == []
    # Neighbours whose home zones nearly touch: family next door, also left out.
    near = {"p1": HOME, "p2": east(180)}
    ev, tr = evaluator(homes=near), EpisodeTracker(3)
    assert minutes(ev, tr, t0, 40, {"p1": PARK, "p2": PARK}) == []


def test_codefendants_only_compares_people_who_share_a_case():
    plan = SupervisionPlan.from_settings("co", {"gathering_codefendants_only": True})
    t0 = at(2026, 11, 18, 14, 0)
    ev, tr = evaluator(plan=plan, cases={"p1": "A-1", "p2": "B-7"}), EpisodeTracker(3)
    assert minutes(ev, tr, t0, 25, {"p1": PARK, "p2": PARK}) == []
    ev, tr = evaluator(plan=plan, cases={"p1": "A-1", "p2": "A-1"}), EpisodeTracker(3)
    assert len(minutes(ev, tr, t0, 25, {"p1": PARK, "p2": PARK})) == 2


def test_a_reloaded_rule_finds_everyone_where_the_activity_left_them():
    ev, tr = evaluator(), EpisodeTracker(3)
    t0 = at(2026, 11, 18, 14, 0)
    assert minutes(ev, tr, t0, 12, {"p1": PARK, "p2": PARK}) == []
    homes = {f"p{i}": east(5000 * i, HOME) for i in range(1, 4)}
    again = evaluator(homes=homes)
    again.activity = ev.activity
    rebuilt = [r for r in again.rules if isinstance(r, GatheringRule)][0]
    fresh = GatheringRule(again.roster)
    assert [fresh.grid.has(k) for k in range(3)] == [True, True, False]
    assert rebuilt is not fresh
    again.rules = [fresh if isinstance(r, GatheringRule) else r for r in again.rules]
    # Only p2 reports from now on: p1's newest fix (12 min old at most) still counts.
    changes = minutes(again, tr, t0 + 720, 10, {"p2": PARK})
    assert sorted(c[:3] for c in changes) == [("opened", "p1", "p2"), ("opened", "p2", "p1")]


def test_case_numbers_come_from_the_registry(db_url: str):
    """Migration 0016: the case number is a column of supervisees, read with the rest of the
    row (by the whole load and by the change log's piecewise reload alike)."""
    import asyncio

    import psycopg

    from store.database import migrate
    from store.registry import import_registry, load_registry

    doc = {"jurisdictions": [{"id": "j", "name": "J", "kind": "county", "timezone": "UTC"}],
           "zones": [], "supervisees": [
               {"id": "p1", "name": "P1", "jurisdiction_id": "j", "case_no": "A-1"},
               {"id": "p2", "name": "P2", "jurisdiction_id": "j"}]}

    async def run() -> tuple[dict, dict]:
        await migrate(db_url)
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            async with conn.transaction():
                await import_registry(conn, doc)
            before = {s.id: s.case_no for s in (await load_registry(conn)).supervisees.values()}
            async with conn.transaction():
                await conn.execute("UPDATE supervisees SET case_no = 'A-1' WHERE id = 'p2'")
            reg = await load_registry(conn)
            ev = Evaluator(reg.devices, reg.supervisees, reg.zones)
            rule = [r for r in ev.rules if isinstance(r, GatheringRule)][0]
            return before, rule.cases

    before, cases = asyncio.run(run())
    assert before == {"p1": "A-1", "p2": None}
    assert cases == {"p1": "A-1", "p2": "A-1"}


async def test_the_case_number_is_written_through_the_api_scoped_and_audited(db_url,
                                                                             engine_factory):
    """POST /supervisees and PATCH /supervisees/{id} take ``case_no`` (supervisor role, the
    person's reach), and the audit trail records it."""
    from tests.test_casework import Api, query, seed

    await seed(db_url)
    eng = engine_factory(db_url)
    sup, off, bsup = Api(eng.base, "sup"), Api(eng.base, "off"), Api(eng.base, "bsup")
    r = sup.post("/supervisees", json={"id": "P-1", "name": "Li Si", "jurisdiction_id": "cn-a",
                                       "case_no": "(2026)京0105刑初123号"})
    assert r.status_code == 201, r.text
    assert sup.post("/supervisees", json={"id": "P-2", "name": "Wang Wu",
                                          "jurisdiction_id": "cn-a"}).status_code == 201
    assert off.patch("/supervisees/P-2", json={"case_no": "x"}).status_code == 403
    assert bsup.patch("/supervisees/P-2", json={"case_no": "x"}).status_code == 404
    r = sup.patch("/supervisees/P-2", json={"case_no": "x" * 101})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "case_no"]
    assert sup.patch("/supervisees/P-2", json={"case_no": "(2026)京0105刑初123号"}
                     ).status_code == 200
    assert query(db_url, "SELECT id, case_no FROM supervisees ORDER BY id") == [
        ("P-1", "(2026)京0105刑初123号"), ("P-2", "(2026)京0105刑初123号")]
    assert sup.patch("/supervisees/P-1", json={"case_no": ""}).status_code == 200
    assert query(db_url, "SELECT case_no FROM supervisees WHERE id = 'P-1'") == [(None,)]
    details = [r[0] for r in query(db_url, "SELECT detail->>'case_no' FROM audit_log WHERE "
                                           "actor = 'sup' AND action <> 'login' ORDER BY id")]
    assert details == ["(2026)京0105刑初123号", None, "(2026)京0105刑初123号", ""]
