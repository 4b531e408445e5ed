"""A private PostgreSQL cluster from the system's server binaries, with TimescaleDB when installed.

Used by ``cordon demo`` when no database is configured, and by the test suite. The cluster lives
in a directory of its own (temporary unless given), listens on 127.0.0.1 only, trusts local
connections, and is stopped (fast shutdown) when the block ends. Run as root, the server runs as
the ``postgres`` system user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from cordon.services.ports import require_free
from cordon.services.process import spawn, tail, terminate

SERVICE_USER = "postgres"


def find_pg_bin() -> Path:
    """The newest PostgreSQL server bin directory on this machine."""
    env = os.environ.get("CORDON_PG_BIN")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL "
        "(Debian: apt-get install postgresql, or run scripts/install-system-deps.sh), set "
        "CORDON_PG_BIN to their directory, or give Cordon a database with CORDON_DATABASE_URL"
    )


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def timescaledb_available(pg_bin: Path) -> bool:
    libdir = pg_bin.parent / "lib"
    return any(libdir.glob("timescaledb*.so"))


def _require_reachable(path: Path) -> None:
    """Run as root, the server runs as ``postgres``: every folder above its own must let it in."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise RuntimeError(
                f"the postgres user cannot reach {path}: {parent} is closed to other users. "
                "Choose a data directory under /tmp or /var/tmp, or open that folder (chmod o+x)."
            )


class PrivatePostgres:
    """``with PrivatePostgres(port) as pg: pg.url`` — a database that lives as long as the block."""

    def __init__(
        self,
        port: int,
        data_dir: Path | None = None,
        database: str = "cordon",
        durable: bool = True,
    ):
        self.port = port
        self._own_dir = data_dir is None
        self.base = Path(data_dir or tempfile.mkdtemp(prefix="cordon-pg-"))
        self.data_dir = self.base / "data"
        self.database = database
        self.durable = durable
        self.pg_bin = find_pg_bin()
        self.timescaledb = timescaledb_available(self.pg_bin)
        self.proc: subprocess.Popen | None = None
        self._as_user = SERVICE_USER if os.geteuid() == 0 else None

    @property
    def log_file(self) -> Path:
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> PrivatePostgres:
        require_free(self.port, "PostgreSQL", "--db-port")
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            _require_reachable(self.base)
            shutil.chown(self.base, SERVICE_USER, SERVICE_USER)
            os.chmod(self.base, 0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self.proc = spawn(
            [str(self.pg_bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)],
            self.log_file,
            user=self._as_user,
        )
        self._wait_ready()
        self._create_database()
        return self

    def _initdb(self) -> None:
        cmd = [
            str(self.pg_bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
        ]
        kwargs: dict = {"capture_output": True, "text": True}
        if self._as_user:
            kwargs.update(user=self._as_user, group=self._as_user)
        result = subprocess.run(cmd, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.base}'",
            "max_connections": "100",
            "shared_buffers": "256MB",
            "logging_collector": "off",
        }
        if self.timescaledb:
            settings["shared_preload_libraries"] = "'timescaledb'"
            settings["timescaledb.telemetry_level"] = "off"
        if not self.durable:  # tests: a crash of the test machine loses nothing we keep
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# Cordon private cluster\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start:\n{tail(self.log_file)}")
            try:
                psycopg.connect(admin, connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not become ready:\n{tail(self.log_file)}")

    def _create_database(self) -> None:
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self) -> None:
        terminate(self.proc, signal.SIGINT)  # SIGINT: fast shutdown
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly (for fault tests): like a crash, recovery runs at the next start."""
        terminate(self.proc, signal.SIGKILL)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
