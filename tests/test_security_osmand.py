"""Device security over HTTP, on a real engine, broker and database: the OsmAnd intake takes a
report only with the device's password (the one it has on MQTT), says nothing about which ids
exist, limits each address and device, and keeps its quarantine bounded."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from devices.credentials import device_password
from ingest.ratelimit import TokenBuckets, client_key
from store import quarantine
from store.database import migrate
from tests.test_end_to_end import CENTRE, seed

SECRET = "osmand test agency secret, 32 b."
KEY = device_password(SECRET.encode(), "ph-1")
OTHER_KEY = device_password(SECRET.encode(), "br-2")  # a real password, of another device
REFUSED = "device id or password not accepted"


def report(device_id: str = "ph-1", ts: float | None = None, **extra: object) -> dict:
    """A fix inside the victim's protected circle (it would open an exclusion alert)."""
    return {"id": device_id, "lat": CENTRE[1], "lon": CENTRE[0],
            "timestamp": int(ts or time.time() - 60), "accuracy": 5, **extra}


async def stored(db_url: str) -> tuple[int, list[tuple]]:
    """(fixes stored, quarantine rows as (device_id, reason, payload length))."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        fixes = (await (await conn.execute("SELECT count(*) FROM fixes")).fetchone())[0]
        cur = await conn.execute(
            "SELECT device_id, reason, length(payload) FROM quarantine ORDER BY id")
        return fixes, await cur.fetchall()


async def test_forged_reports_are_refused_and_nothing_is_stored(db_url, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, device_secret=SECRET)
    async with httpx.AsyncClient(base_url=engine.base) as http:
        forged = [
            await http.get("/osmand", params=report()),  # no credential at all
            await http.get("/osmand", params=report(key="guess")),
            await http.get("/osmand", params=report(key=OTHER_KEY)),  # another device's
            await http.post("/osmand", auth=("ph-1", "guess"), data=report()),
            # Signed in as br-2, reporting for ph-1.
            await http.post("/osmand", auth=("br-2", OTHER_KEY), data=report()),
            await http.post("/osmand", params={"key": OTHER_KEY}, json={
                "device_id": "ph-1", "location": {"timestamp": "2026-11-21T12:00:00Z", "coords": {
                    "latitude": CENTRE[1], "longitude": CENTRE[0], "accuracy": 5}}}),
            # A bad report without a credential is not quarantined either: only a device may
            # write there.
            await http.get("/osmand", params={"id": "ph-1", "lat": 95, "lon": 0}),
        ]
    assert [r.status_code for r in forged] == [401] * len(forged)
    assert all(r.headers["www-authenticate"].startswith("Basic ") for r in forged)
    assert forged[0].text.startswith("device password required")
    assert {r.text for r in forged[1:-1]} == {REFUSED}
    await asyncio.sleep(1)  # anything that got through would be committed by now
    assert await stored(db_url) == (0, [])
    counters = engine.health()["counters"]
    assert (counters["http_refused"], counters["fixes_received"]) == (len(forged), 0)
    assert engine.get("/alerts").json()["alerts"] == []


async def test_unknown_and_known_ids_get_the_same_answer(db_url, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, device_secret=SECRET)

    def answer(r: httpx.Response) -> tuple:
        return r.status_code, r.text, r.headers.get("www-authenticate"), \
            r.headers.get("content-type")

    async with httpx.AsyncClient(base_url=engine.base) as http:
        for password in ("guess", OTHER_KEY):
            known = await http.get("/osmand", params=report("ph-1", key=password))
            unknown = await http.get("/osmand", params=report("no-such-device", key=password))
            assert answer(known) == answer(unknown) == (
                401, REFUSED, known.headers["www-authenticate"], "text/plain; charset=utf-8")
            known = await http.post("/osmand", auth=("ph-1", password), data=report())
            unknown = await http.post("/osmand", auth=("no-such-device", password),
                                      data=report("no-such-device"))
            assert answer(known) == answer(unknown)
    assert await stored(db_url) == (0, [])


async def test_traccar_client_with_the_password_in_its_server_url(db_url, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, device_secret=SECRET)
    t0 = int(time.time()) - 300
    # The server URL as typed into the app. httpx, like the app, sends the user information
    # as an Authorization: Basic header.
    userinfo_url = f"http://ph-1:{KEY}@127.0.0.1:{engine.port}/osmand"
    async with httpx.AsyncClient() as http:
        r = await http.post(userinfo_url, params=report(ts=t0))
        assert r.status_code == 200, r.text
        assert r.request.headers["authorization"].startswith("Basic ")
        # Traccar Client (Android) appends its parameters to the URL's own: ?key=… stays.
        r = await http.post(f"{engine.base}/osmand?key={KEY}&id=ph-1&timestamp={t0 + 10}"
                            f"&lat={CENTRE[1]}&lon={CENTRE[0]}&accuracy=5&batt=70&mock=false")
        assert r.status_code == 200, r.text
        # Traccar Client 9 posts JSON to the URL as given.
        r = await http.post(f"{engine.base}/osmand?key={KEY}", json={
            "device_id": "ph-1", "location": {
                "timestamp": datetime.fromtimestamp(t0 + 20, UTC).isoformat(),
                "coords": {"latitude": CENTRE[1], "longitude": CENTRE[0], "accuracy": 5},
                "battery": {"level": 0.7}}})
        assert r.status_code == 200, r.text
        # A device's bad report is quarantined, but its password is not kept with it.
        r = await http.get(f"{engine.base}/osmand", params=report(key=KEY, lat=95))
        assert (r.status_code, r.text) == (400, "lat 95.0 out of range [-90, 90]")
    fixes, rows = await stored(db_url)
    assert fixes == 3 and [(d, reason) for d, reason, _ in rows] == [
        ("ph-1", "lat 95.0 out of range [-90, 90]")]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT payload FROM quarantine")
        assert KEY.encode() not in (await cur.fetchone())[0]
    # Three certain fixes inside the protected circle: the alert the forgers could not raise.
    assert [a["kind"] for a in engine.get("/alerts").json()["alerts"]] == ["exclusion_entry"]


async def test_beyond_the_rate_limit_the_answer_is_429_with_retry_after(db_url, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, device_secret=SECRET, osmand_rate_per_device="5",
                            osmand_rate_per_address="20")
    t0 = int(time.time()) - 600
    async with httpx.AsyncClient(base_url=engine.base) as http:
        answers = [await http.get("/osmand", params=report(ts=t0 + i, key=KEY))
                   for i in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        assert int(answers[-1].headers["retry-after"]) >= 1
        # Another device has its own allowance.
        other = await http.get("/osmand", params=report(
            "br-2", ts=t0, key=device_password(SECRET.encode(), "br-2")))
        assert other.status_code == 200
        # The address's allowance (20 a minute, 7 spent; one more every 3 s) runs out,
        # whatever is sent...
        statuses = [(await http.get("/osmand", params=report(key="guess"))).status_code
                    for _ in range(30)]
        assert 429 in statuses
        limited = statuses.index(429)
        assert 13 <= limited <= 20 and set(statuses[:limited]) == {401}, statuses
        # ...for that address only (the engine trusts X-Forwarded-For from its own host, as
        # from a reverse proxy there).
        elsewhere = await http.get("/osmand", params=report(key="guess"),
                                   headers={"X-Forwarded-For": "203.0.113.9"})
        assert elsewhere.status_code == 401
    assert (await stored(db_url))[0] == 6
    assert engine.health()["counters"]["http_rate_limited"] >= 2


async def test_an_oversize_report_is_quarantined_truncated(db_url, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url, device_secret=SECRET)
    big = b'{"device_id": "ph-1", "junk": "' + b"x" * 400_000 + b'"}'
    middling = b'{"device_id": "ph-1", "junk": "' + b"y" * 100_000 + b'"}'
    async with httpx.AsyncClient(base_url=engine.base) as http:
        # Without a password an oversize body is refused like any other, and not stored.
        r = await http.post("/osmand", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 401
        r = await http.post("/osmand", auth=("ph-1", KEY), content=big,
                            headers={"content-type": "application/json"})
        assert (r.status_code, r.text) == (413, f"payload of {len(big)} bytes exceeds 262144")
        r = await http.post("/osmand", params={"key": KEY}, content=middling,
                            headers={"content-type": "application/json"})
        assert (r.status_code, r.text) == (400, "JSON body has no location object")
    fixes, rows = await stored(db_url)
    note = f"[payload truncated: only its first {quarantine.MAX_STORED_PAYLOAD} bytes are stored]"
    assert fixes == 0
    assert rows == [
        ("ph-1", f"payload of {len(big)} bytes exceeds 262144 {note}",
         quarantine.MAX_STORED_PAYLOAD),
        ("ph-1", f"JSON body has no location object {note}", quarantine.MAX_STORED_PAYLOAD),
    ]


async def test_without_a_device_secret_the_intake_refuses_everything(db_url, engine_factory):
    await seed(db_url)
    engine = engine_factory(db_url)  # no CORDON_DEVICE_SECRET
    async with httpx.AsyncClient(base_url=engine.base) as http:
        for params in (report(), report(key=KEY)):
            r = await http.get("/osmand", params=params)
            assert r.status_code == 503 and "no device secret" in r.text
    assert await stored(db_url) == (0, [])
    assert "refuses every report: set CORDON_DEVICE_SECRET" in engine.log.read_text()


async def test_quarantine_retention_drops_old_rows(db_url, engine_factory, monkeypatch):
    await migrate(db_url)
    now = datetime.now(UTC)
    ages = [40, 35, 31, 31, 31, 29, 1]  # days

    async def fill() -> None:
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
            for days in ages:
                await conn.execute(
                    "INSERT INTO quarantine (received_at, topic, device_id, reason, payload) "
                    "VALUES (%s, 't', 'd', %s, '')", (now - timedelta(days=days), f"{days} d"))

    async def kept() -> list[str]:
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            cur = await conn.execute("SELECT reason FROM quarantine ORDER BY id")
            return [r for (r,) in await cur.fetchall()]

    # The store's query, a few rows a batch.
    await fill()
    monkeypatch.setattr(quarantine, "DELETE_BATCH", 2)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        assert await quarantine.drop_quarantine_older_than(conn, 30) == 5
    assert await kept() == ["29 d", "1 d"]

    # The engine applies it at start, then hourly.
    await fill()
    engine_factory(db_url, quarantine_retention_days="7")
    deadline = time.monotonic() + 20
    while len(await kept()) > 2:
        assert time.monotonic() < deadline, await kept()
        await asyncio.sleep(0.2)
    assert await kept() == ["1 d", "1 d"]


def test_rate_limit_tables_stay_bounded():
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=1, max_keys=100, clock=lambda: now[0])
    for i in range(10_000):
        buckets.take(f"203.0.{i // 256}.{i % 256}")
    assert len(buckets) == 100
    assert buckets.take("203.0.39.15") > 0  # the most recent keys are still remembered
    # An IPv6 subscriber's whole /64 is one client.
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:2")
