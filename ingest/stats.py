"""Counters of the intake, read by ``/api/v1/health`` (and later ``/metrics``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

# Upper bounds (ms) of the lag histogram's buckets: 1 ms to ~1 h, 10 per decade, then overflow.
LAG_BOUNDS_MS = np.concatenate([10 ** np.arange(0, 6.6, 0.1), [np.inf]])


@dataclass(slots=True)
class LagHistogram:
    """How old messages were when their transaction committed: commit time − the time of the
    newest fix in the message (publish → committed, when device clocks are right)."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(LAG_BOUNDS_MS), np.int64))

    def add(self, lag_ms: np.ndarray) -> None:
        idx = np.searchsorted(LAG_BOUNDS_MS, lag_ms)
        self.counts += np.bincount(np.minimum(idx, len(LAG_BOUNDS_MS) - 1),
                                   minlength=len(LAG_BOUNDS_MS))

    def quantile(self, q: float, counts: np.ndarray | None = None) -> float | None:
        counts = self.counts if counts is None else counts
        total = int(counts.sum())
        if total == 0:
            return None
        i = int(np.searchsorted(np.cumsum(counts), q * total))
        return float(LAG_BOUNDS_MS[min(i, len(LAG_BOUNDS_MS) - 2)])


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
    commit_lag: LagHistogram = field(default_factory=LagHistogram)

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
            "commit_lag_p50_ms": self.commit_lag.quantile(0.5),
            "commit_lag_p99_ms": self.commit_lag.quantile(0.99),
            "uptime_s": round(time.time() - self.started_at, 1),
        }
