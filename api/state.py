"""What the API reads from the running engine."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from ingest.stats import IngestStats


@dataclass(slots=True)
class ApiState:
    pool: AsyncConnectionPool
    bus: LiveBus
    stats: IngestStats
    timescaledb: str | None = None
    map_tile_url: str | None = None
    position_interval_s: float = 1.0
