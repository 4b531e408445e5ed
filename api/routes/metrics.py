"""``GET /metrics``: the engine's counters in Prometheus's text format, for scraping.

Counters (messages, fixes, alerts, quarantined, …) are summed over every consumer process; the
commit lag (publish → stored) is a histogram in seconds. Nothing here names a person, so it is
served without sign-in, as scrapers expect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from ingest.stats import LAG_BOUNDS_MS, IngestStats

router = APIRouter(tags=["health"])
_GAUGES = {"devices_seen", "last_batch_ms", "uptime_s", "consumers", "commit_lag_p50_ms",
           "commit_lag_p99_ms"}


class StatsCollector(Collector):
    def __init__(self, stats: IngestStats, live_clients: Callable[[], int]) -> None:
        self.stats = stats
        self.live_clients = live_clients

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily
                                  | HistogramMetricFamily]:
        snap = self.stats.snapshot()
        for key, value in snap.items():
            if value is None or not isinstance(value, int | float):
                continue
            name = f"cordon_{key}"
            if key in _GAUGES:
                yield GaugeMetricFamily(name, key.replace("_", " "), value=float(value))
            else:
                yield CounterMetricFamily(name, key.replace("_", " "), value=float(value))
        yield GaugeMetricFamily("cordon_live_clients", "WebSocket clients connected",
                                value=float(self.live_clients()))
        counts = self.stats.lag_counts()
        cumulative = np.cumsum(counts)
        bounds = [*(f"{b / 1000:.6g}" for b in LAG_BOUNDS_MS[:-1]), "+Inf"]
        yield HistogramMetricFamily(
            "cordon_commit_lag_seconds", "from a message's newest fix to its commit",
            buckets=list(zip(bounds, (float(c) for c in cumulative), strict=True)),
            sum_value=None)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = request.app.state.cordon
    if getattr(state, "metrics_registry", None) is None:
        registry = CollectorRegistry()
        registry.register(StatsCollector(state.stats, lambda: state.bus.subscriber_count))
        state.metrics_registry = registry
    return Response(generate_latest(state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
