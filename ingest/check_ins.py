"""Check-ins on their own: the schedules' requests, the commands sent, the answers recorded.

A background task of the API process (consumer 0). Every :data:`PASS_S` it

1. makes the requests the schedules call for: a person on a schedule is asked
   ``times_per_day`` times a day at random times within the window of hours (their
   jurisdiction's local time) — one random time in each equal part of the window, chosen per
   person and day by a keyed hash, so the same day gives the same times after a restart and a
   person cannot learn them from yesterday's (:func:`slot_times`). A slot is asked once
   (unique per person and slot), only while it is less than its deadline old;
2. sends the commands not sent yet (the broker was away when asked);
3. settles what can be settled: answers recorded, deadlines passed marked ``missed``
   (:func:`store.check_ins.settle`); the alert itself is the engine's rule
   (:mod:`alerts.rules.check_in_missed`).

>>> from datetime import date, time
>>> a = slot_times("P-1", date(2026, 3, 2), 3, time(9), time(21), "Asia/Shanghai")
>>> a == slot_times("P-1", date(2026, 3, 2), 3, time(9), time(21), "Asia/Shanghai")
True
>>> from datetime import datetime, timezone
>>> [datetime.fromtimestamp(t, timezone.utc).hour + 8 for t in a]  # 9–13, 13–17, 17–21
[12, 13, 20]
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from devices.topics import partition_of
from ingest.commands import DeviceCommands, command_topic
from store import audit
from store import check_ins as store

log = logging.getLogger(__name__)

PASS_S = 5.0  # sending and settling
SCHEDULE_EVERY_S = 30.0  # the schedules (a slot is asked while younger than its deadline, ≥ 1 min)


def slot_times(supervisee_id: str, day: date, times_per_day: int, start: time, end: time,
               timezone: str, key: bytes = b"") -> list[float]:
    """The day's check-in times of one person (seconds since the epoch, in order): one
    uniformly random instant in each of ``times_per_day`` equal parts of [start, end) local
    time, from a generator seeded by the person, the day and ``key`` (the agency secret)."""
    if times_per_day <= 0:
        return []
    tz = ZoneInfo(timezone)
    t0 = datetime.combine(day, start, tz).timestamp()
    t1 = datetime.combine(day, end, tz).timestamp()
    seed = hmac.new(key, f"check-in\0{supervisee_id}\0{day.isoformat()}".encode(),
                    hashlib.sha256).digest()
    rng = random.Random(seed)
    part = (t1 - t0) / times_per_day
    return [float(int(t0 + k * part + rng.random() * part)) for k in range(times_per_day)]


async def send(pool: AsyncConnectionPool, commands: DeviceCommands | None, check_in_id: int,
               topic: str) -> bool:
    """Send one request's command and record that the broker took it."""
    if commands is None or not await commands.report_location(topic):
        return False
    async with pool.connection() as conn, conn.transaction():
        await store.mark_sent(conn, check_in_id)
    return True


async def schedule_pass(pool: AsyncConnectionPool, commands: DeviceCommands | None,
                        now: float, partitions: int = 1, key: bytes = b"") -> int:
    """Make the requests due now; how many were made."""
    made: list[tuple[int, str]] = []
    async with pool.connection() as conn:
        people = await store.scheduled_people(conn)
    for p in people:
        tz = ZoneInfo(p["timezone"])
        today = datetime.fromtimestamp(now, tz).date()
        deadline_s = p["deadline_min"] * 60.0
        for day in (today - timedelta(days=1), today):
            for slot in slot_times(p["supervisee_id"], day, p["times_per_day"],
                                   p["window_start"], p["window_end"], p["timezone"], key):
                if not slot <= now < slot + deadline_s:
                    continue
                topic = command_topic(p["phone"], partition_of(p["supervisee_id"], partitions))
                async with pool.connection() as conn, conn.transaction():
                    cid = await store.insert(conn, p["supervisee_id"], p["phone"], now,
                                             now + deadline_s, store.SCHEDULER, topic,
                                             scheduled_for=slot)
                    if cid is not None:
                        await audit.record(conn, store.SCHEDULER, "check_in.requested",
                                           str(cid), {"supervisee_id": p["supervisee_id"],
                                                      "device_id": p["phone"],
                                                      "deadline": now + deadline_s,
                                                      "scheduled_for": slot})
                if cid is not None:
                    made.append((cid, topic))
    for cid, topic in made:
        await send(pool, commands, cid, topic)
    return len(made)


async def one_pass(pool: AsyncConnectionPool, commands: DeviceCommands | None, now: float,
                   partitions: int = 1, key: bytes = b"", schedules: bool = True
                   ) -> tuple[int, int, int]:
    """One round: (requests made, answered, missed); ``schedules``: look at them too."""
    made = await schedule_pass(pool, commands, now, partitions, key) if schedules else 0
    async with pool.connection() as conn:
        waiting = await store.unsent(conn, now)
    for cid, topic in waiting:
        if not await send(pool, commands, cid, topic):
            break  # the broker is away: the next round tries again
    async with pool.connection() as conn, conn.transaction():
        answered, missed = await store.settle(conn, now)
    return made, answered, missed


async def run_check_ins(pool: AsyncConnectionPool, commands: DeviceCommands | None,
                        clock: Callable[[], float], partitions: int = 1, key: bytes = b"",
                        every_s: float = PASS_S) -> None:
    """Run the rounds until cancelled."""
    scheduled_at = -SCHEDULE_EVERY_S
    while True:
        try:
            now = clock()
            due = now - scheduled_at >= SCHEDULE_EVERY_S
            made, answered, missed = await one_pass(pool, commands, now, partitions, key, due)
            if due:
                scheduled_at = now
            if made or answered or missed:
                log.info("check-ins: %d asked by schedule, %d answered, %d missed", made,
                         answered, missed)
        except Exception:  # noqa: BLE001 — the database may be away: the next round retries
            log.warning("check-in round failed", exc_info=True)
        await asyncio.sleep(every_s)
