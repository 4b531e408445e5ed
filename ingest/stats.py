"""Counters of the intake, read by ``/api/v1/health`` (and later ``/metrics``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

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
    # Fixes of bracelets outside every positioning order in force: counted, not kept
    # (ingest/orders.py).
    fixes_without_order: int = 0
    batches: int = 0
    events_received: int = 0
    alerts_opened: int = 0
    alerts_cleared: int = 0
    # HTTP (OsmAnd) reports refused without a valid device password, and answered 429.
    http_refused: int = 0
    http_rate_limited: int = 0
    last_batch_ms: float = 0.0
    # Seconds spent, summed over batches, in each step of the path (where the time goes).
    decode_s: float = 0.0
    decide_s: float = 0.0
    fold_s: float = 0.0
    store_s: float = 0.0
    broker_connected: bool = False
    broker_error: str | None = None
    database_ok: bool = False
    database_error: str | None = None
    devices_seen: set[str] = field(default_factory=set)
    commit_lag: LagHistogram = field(default_factory=LagHistogram)
    # The latest report of each other consumer process, by consumer number (see ingest.relay).
    peers: dict[str, dict[str, Any]] = field(default_factory=dict)

    _SUMMED: ClassVar[tuple[str, ...]] = (
        "messages_received", "fixes_received", "fixes_stored", "fixes_duplicate", "quarantined",
        "fixes_without_order",
        "batches", "alerts_opened", "alerts_cleared", "http_refused", "http_rate_limited",
        "decode_s", "decide_s", "fold_s",
        "store_s",
    )

    def report(self) -> dict[str, Any]:
        """This process's own counters, for the API process (see :mod:`ingest.relay`)."""
        return {
            **{k: getattr(self, k) for k in self._SUMMED},
            "devices_seen": len(self.devices_seen),
            "last_batch_ms": self.last_batch_ms,
            "broker_connected": self.broker_connected,
            "broker_error": self.broker_error,
            "database_ok": self.database_ok,
            "database_error": self.database_error,
            "commit_lag_counts": self.commit_lag.counts.tolist(),
            "reported_at": time.time(),
        }

    def lag_counts(self) -> np.ndarray:
        """The commit-lag histogram over all consumer processes."""
        counts = self.commit_lag.counts.copy()
        for peer in self.peers.values():
            counts += np.asarray(peer["commit_lag_counts"], dtype=np.int64)
        return counts

    @property
    def broker_ok(self) -> bool:
        return self.broker_connected and all(p["broker_connected"] for p in self.peers.values())

    def snapshot(self) -> dict[str, Any]:
        """Counters over all consumer processes."""
        peers = list(self.peers.values())
        totals = {k: getattr(self, k) + sum(p[k] for p in peers) for k in self._SUMMED}
        lag = self.lag_counts()
        return {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in totals.items()},
            "devices_seen": len(self.devices_seen) + sum(p["devices_seen"] for p in peers),
            "last_batch_ms": round(self.last_batch_ms, 2),
            "commit_lag_p50_ms": self.commit_lag.quantile(0.5, lag),
            "commit_lag_p99_ms": self.commit_lag.quantile(0.99, lag),
            "uptime_s": round(time.time() - self.started_at, 1),
            "consumers": 1 + len(peers),
        }
