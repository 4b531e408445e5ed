"""What the API reads from the running engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from api.auth import TokenKeys
from api.session_watch import SessionWatch
from ingest.stats import IngestStats


@dataclass(slots=True)
class ApiState:
    pool: AsyncConnectionPool
    bus: LiveBus
    stats: IngestStats
    timescaledb: str | None = None
    map_tile_url: str | None = None
    position_interval_s: float = 1.0
    token_keys: TokenKeys = field(default_factory=TokenKeys)
    sessions: SessionWatch = field(default_factory=SessionWatch)  # of the live sockets
    metrics_registry: Any = None  # made at the first scrape (api/routes/metrics.py)
    # The engine's own settings, for explaining its decisions (GET /alerts/{id}/explain).
    accuracy_factor: float = 1.5
    confirm_fixes: int = 3
    confirm_gap_s: float = 180.0
    positioning_order_max_days: float = 92.0  # the longest order or renewal the API accepts
    leave_limits: Any = None  # store.leave.LeaveLimits from the settings (None: its defaults)
    # Bracelets sending without a positioning order in force: when last heard (ingest/orders.py)
    heard_without_order: dict[str, float] = field(default_factory=dict)
    # The engine's clock (ingest/clock.py): the instant of the wall's figures (api/routes/wall.py)
    clock: Callable[[], float] = time.time
