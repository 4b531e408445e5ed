"""The load generator: publish pre-encoded messages on a schedule, report what was achieved.

Each message comes with the second (from the start of the run) at which it is due: at a target
rate, ramped up over ``ramp_s`` (:func:`at_rate`), or at its simulated time divided by an
acceleration (:func:`accelerated`). Messages are spread over several MQTT connections, each device
always on the same one so its messages stay in order. Every few milliseconds the generator sends
whatever has fallen due. At QoS 1 it counts the
broker's PUBACKs; a message not acknowledged when the run ends counts as failed. The report says
what was really achieved, including the generator's own CPU time, so a benchmark can show that
the generator was not what limited it.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import resource
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

from simulators.mqtt_wire import (
    CONNACK,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    PUBACK,
    PacketReader,
    connect_packet,
    publish_packet,
)

TICK_S = 0.005
MAX_INFLIGHT_PER_CONNECTION = 20_000  # well below the 65,535 packet ids


@dataclass(slots=True)
class LoadReport:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    seconds: float = 0.0
    achieved_rate: float = 0.0
    acknowledged_rate: float = 0.0
    target_rate: float = 0.0
    qos: int = 1
    connections: int = 1
    cpu_s: float = 0.0
    encode_s: float = 0.0
    late_start_s: float = 0.0  # how long after ``start_at`` the first send could go

    def as_dict(self) -> dict[str, float | int]:
        d = asdict(self)
        for k in ("seconds", "achieved_rate", "acknowledged_rate", "cpu_s", "encode_s",
                  "late_start_s"):
            d[k] = round(d[k], 3)
        return d


class _Connection:
    def __init__(self, index: int, qos: int):
        self.index = index
        self.qos = qos
        self.packets: list[bytes] = []
        self.written = 0  # packets written to the socket
        self.acked = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.error: str | None = None

    @property
    def inflight(self) -> int:
        return self.written - self.acked if self.qos else 0

    def write_upto(self, upto: int) -> None:
        assert self.writer is not None
        self.writer.write(b"".join(self.packets[self.written:upto]))
        self.written = upto

    async def open(self, host: str, port: int, client_id: str, username: str | None,
                   password: str | None) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self.writer.write(connect_packet(client_id, username, password))
        await self.writer.drain()
        data = await asyncio.wait_for(self.reader.readexactly(4), 10)
        if data[0] & 0xF0 != CONNACK or data[3] != 0:
            raise ConnectionError(f"broker refused connection {client_id} (code {data[3]})")

    async def read_acks(self) -> None:
        parser = PacketReader()
        assert self.reader is not None
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    self.error = self.error or "broker closed the connection"
                    return
                _, others = parser.feed(data)
                for kind, _body in others:
                    if kind == PUBACK:
                        self.acked += 1
        except (ConnectionError, OSError) as exc:
            self.error = str(exc)


Scheduled = tuple[float, str, str, bytes]  # (due second, device id, topic, payload)


def at_rate(
    messages: Iterable[tuple[str, str, bytes]], rate: float, ramp_s: float = 0.0
) -> Iterator[Scheduled]:
    """Due times for ``rate`` messages a second, ramping up linearly over ``ramp_s``."""
    for i, (device_id, topic, payload) in enumerate(messages):
        if ramp_s > 0 and i < rate * ramp_s / 2:
            due = math.sqrt(2 * ramp_s * i / rate)
        else:
            due = i / rate + ramp_s / 2
        yield due, device_id, topic, payload


def accelerated(
    messages: Iterable[tuple[float, str, str, bytes]], start: float, acceleration: float
) -> Iterator[Scheduled]:
    """Due times for messages stamped with a simulated time, the clock running ``acceleration``
    times faster than the wall clock from simulated time ``start``."""
    for sim_t, device_id, topic, payload in messages:
        yield (sim_t - start) / acceleration, device_id, topic, payload


async def publish_load(
    messages: Iterable[Scheduled],
    host: str,
    port: int,
    duration_s: float,
    *,
    target_rate: float = 0.0,
    qos: int = 1,
    connections: int = 4,
    username: str | None = None,
    password: str | None = None,
    client_prefix: str = "cordon-loadgen",
    grace_s: float = 10.0,
    start_at: float | None = None,
    progress: Callable[[LoadReport], None] | None = None,
) -> LoadReport:
    """Publish the messages due within ``duration_s`` (all encoded before the clock starts) and
    return the report. ``target_rate`` is only reported; ``start_at`` (Unix seconds) holds the
    first send until that instant, so that due times can be stamped into the messages."""
    report = LoadReport(target_rate=target_rate, qos=qos, connections=connections)
    cpu0 = _cpu()
    t0 = time.perf_counter()
    conns = [_Connection(i, qos) for i in range(connections)]
    order: list[tuple[int, int]] = []  # (connection, position) in global send order
    due: list[float] = []
    ids = [0] * connections
    for at, device_id, topic, payload in messages:
        if at >= duration_s:
            break
        c = zlib.crc32(device_id.encode()) % connections
        ids[c] = ids[c] % 65535 + 1
        conns[c].packets.append(publish_packet(topic, payload, ids[c], qos))
        order.append((c, len(conns[c].packets)))
        due.append(at)
    report.encode_s = time.perf_counter() - t0

    for c in conns:
        await c.open(host, port, f"{client_prefix}-{c.index}", username, password)
    readers = [asyncio.create_task(c.read_acks()) for c in conns]
    if start_at is not None:  # a wall-clock instant the caller stamped into the messages
        await asyncio.sleep(max(0.0, start_at - time.time()))
        report.late_start_s = max(0.0, time.time() - start_at)
    start = time.perf_counter()
    last_progress = start
    last_ping = start
    sent = 0
    try:
        while sent < len(order):
            now = time.perf_counter()
            elapsed = now - start
            if elapsed > duration_s + grace_s:
                break
            target = bisect.bisect_right(due, elapsed, lo=sent)
            upto: dict[int, int] = {}
            while sent < target:
                c, pos = order[sent]
                if conns[c].inflight + pos - conns[c].written > MAX_INFLIGHT_PER_CONNECTION:
                    break  # the broker is behind: hold back rather than flood it
                upto[c] = pos
                sent += 1
            for c, pos in upto.items():
                conns[c].write_upto(pos)
            for conn in conns:
                if conn.writer.transport.get_write_buffer_size() > 4 << 20:
                    await conn.writer.drain()
            if now - last_ping > 20:
                for conn in conns:
                    conn.writer.write(PINGREQ_PACKET)
                last_ping = now
            report.sent = sent
            if progress and now - last_progress >= 1.0:
                _fill(report, conns, now - start, cpu0)
                progress(report)
                last_progress = now
            await asyncio.sleep(max(0.0, TICK_S - (time.perf_counter() - now)))
        # Let the acknowledgements catch up.
        deadline = time.perf_counter() + grace_s
        while qos and sum(c.acked for c in conns) < sent and time.perf_counter() < deadline:
            if all(c.error for c in conns):
                break
            await asyncio.sleep(0.02)
    finally:
        report.sent = sent
        _fill(report, conns, time.perf_counter() - start, cpu0)
        for conn in conns:
            if conn.writer is not None:
                try:
                    conn.writer.write(DISCONNECT_PACKET)
                    conn.writer.close()
                except (ConnectionError, OSError):
                    pass
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return report


def _fill(report: LoadReport, conns: list[_Connection], seconds: float, cpu0: float) -> None:
    report.seconds = seconds
    report.acknowledged = sum(c.acked for c in conns) if report.qos else report.sent
    # A connection that broke shows up as its unacknowledged messages, counted as failed.
    report.failed = report.sent - report.acknowledged
    report.achieved_rate = report.sent / seconds if seconds > 0 else 0.0
    report.acknowledged_rate = report.acknowledged / seconds if seconds > 0 else 0.0
    report.cpu_s = _cpu() - cpu0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
