"""Real services for the tests: a private Mosquitto and a private PostgreSQL with TimescaleDB,
started once per test session on free ports and stopped at its end."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.bus import LiveBus
from cordon.services import PrivateMosquitto, PrivatePostgres, free_port
from devices.formats import Limits
from ingest.clock import Clock
from ingest.pipeline import Pipeline
from ingest.stats import IngestStats
from store.database import migrate
from store.registry import import_registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[PrivateMosquitto]:
    with PrivateMosquitto(free_port()) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres(free_port(), durable=False) as pg:
        assert pg.timescaledb, (
            "TimescaleDB is not installed for this PostgreSQL: run scripts/install-system-deps.sh"
        )
        yield pg


@pytest.fixture
def db_url(postgres: PrivatePostgres) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:{postgres.port}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class EngineProcess:
    """``cordon serve`` as a real process, against the test broker and a test database."""

    def __init__(self, db_url: str, mqtt_url: str, workdir: Path, **env: str):
        self.db_url = db_url
        self.mqtt_port = int(mqtt_url.rsplit(":", 1)[1])
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "engine.log"
        self.env = os.environ | {
            "CORDON_DATABASE_URL": db_url,
            "CORDON_MQTT_URL": mqtt_url,
            "CORDON_HTTP_PORT": str(self.port),
            "CORDON_MQTT_CLIENT_ID": f"cordon-test-{uuid.uuid4().hex[:8]}",
            "CORDON_REGISTRY_REFRESH_S": "1",
            "CORDON_BATCH_MS": "5",
            # The engine tests script their fixes for two confirming fixes (the rules' own tests,
            # tests/test_rules.py, use the default of three).
            "CORDON_CONFIRM_FIXES": "2",
        } | {f"CORDON_{k.upper()}": v for k, v in env.items()}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> EngineProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cordon", "serve"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"engine exited:\n{self.log.read_text()}")
            try:
                h = httpx.get(f"{self.base}/api/v1/health", timeout=1).json()
                if h["broker"]["connected"]:
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"engine did not become healthy:\n{self.log.read_text()}")

    def health(self) -> dict:
        return httpx.get(f"{self.base}/api/v1/health", timeout=5).json()

    def token(self) -> str:
        """An access token of an admin of every top-level jurisdiction."""
        return admin_token(self.db_url, self.base)

    def live_url(self, token: str | None = None) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/live?token={token or self.token()}"

    def get(self, path: str, token: str | None = None, **params: object) -> httpx.Response:
        """``GET /api/v1<path>`` signed in (as the admin unless ``token``)."""
        return httpx.get(f"{self.base}/api/v1{path}", params=params, timeout=10,  # type: ignore[arg-type]
                         headers={"Authorization": f"Bearer {token or self.token()}"})

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def engine_factory(mosquitto: PrivateMosquitto, tmp_path: Path) -> Iterator:
    started: list[EngineProcess] = []

    def start(db_url: str, mqtt_url: str | None = None, **env: str) -> EngineProcess:
        """``env``: further settings, e.g. ``consumers="2"`` for ``CORDON_CONSUMERS``."""
        eng = EngineProcess(db_url, mqtt_url or mosquitto.url, tmp_path, **env).start()
        started.append(eng)
        return eng

    yield start
    for eng in started:
        eng.stop()


def add_user(db_url: str, username: str, grants: dict[str, str],
             password: str = "correct horse battery staple") -> int:
    """A user with ``grants`` (jurisdiction id → role), written straight to the database."""
    from api.auth import hash_password

    with psycopg.connect(db_url) as conn:
        user_id = conn.execute(
            "INSERT INTO users (username, password_hash) VALUES (%s, %s) RETURNING id",
            (username, hash_password(password))).fetchone()[0]
        for jurisdiction, role in grants.items():
            conn.execute("INSERT INTO grants (user_id, jurisdiction_id, role) VALUES (%s, %s, %s)",
                         (user_id, jurisdiction, role))
    return user_id


def sign_in(base: str, username: str, password: str = "correct horse battery staple") -> str:
    """An access token from the API's OAuth2 password flow (``base``: http://host:port)."""
    r = httpx.post(f"{base}/api/v1/auth/token", timeout=10,
                   data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def admin_token(db_url: str, base: str, username: str = "admin") -> str:
    """Sign in as an admin of every top-level jurisdiction (made on first use)."""
    with psycopg.connect(db_url) as conn:
        roots = [r[0] for r in conn.execute(
            "SELECT id FROM jurisdictions WHERE parent_id IS NULL").fetchall()]
        exists = conn.execute("SELECT 1 FROM users WHERE username = %s", (username,)).fetchone()
    if not exists:
        add_user(db_url, username, {j: "admin" for j in roots})
    return sign_in(base, username)


@contextlib.asynccontextmanager
async def registry_pool(db_url: str, doc: dict) -> AsyncIterator[AsyncConnectionPool]:
    """A migrated database holding the registry document ``doc``, and a pool on it."""
    await migrate(db_url)
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await import_registry(conn, json.loads(json.dumps(doc)))
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as p:
        await p.open(wait=True)
        yield p


async def started_pipeline(pool: AsyncConnectionPool, clock: Clock) -> Pipeline:
    """The engine's pipeline on ``pool``, on ``clock``, started (registry loaded, state
    restored), with no intake: tests feed it batches."""
    p = Pipeline(pool, LiveBus(), IngestStats(), Limits(max_age_s=10 * 86400), clock=clock)
    await p.start()
    return p


class ManualClock:
    """The engine's clock in a test: it says ``now``, which the test moves."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now
