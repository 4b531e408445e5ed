"""Counters of the intake, read by ``/api/v1/health`` (and later ``/metrics``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class IngestStats:
    started_at: float = field(default_factory=time.time)
    messages_received: int = 0
    fixes_received: int = 0
    fixes_stored: int = 0
    fixes_duplicate: int = 0
    quarantined: int = 0
    batches: int = 0
    alerts_opened: int = 0
    alerts_cleared: int = 0
    last_batch_ms: float = 0.0
    broker_connected: bool = False
    broker_error: str | None = None
    database_ok: bool = False
    database_error: str | None = None
    devices_seen: set[str] = field(default_factory=set)

    def snapshot(self) -> dict[str, float | int]:
        return {
            "messages_received": self.messages_received,
            "fixes_received": self.fixes_received,
            "fixes_stored": self.fixes_stored,
            "fixes_duplicate": self.fixes_duplicate,
            "quarantined": self.quarantined,
            "batches": self.batches,
            "alerts_opened": self.alerts_opened,
            "alerts_cleared": self.alerts_cleared,
            "devices_seen": len(self.devices_seen),
            "last_batch_ms": round(self.last_batch_ms, 2),
            "uptime_s": round(time.time() - self.started_at, 1),
        }
