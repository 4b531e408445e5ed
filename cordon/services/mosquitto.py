"""A private Mosquitto broker on a port of its own (the demo's embedded broker, the tests')."""

from __future__ import annotations

import getpass
import shutil
import tempfile
from pathlib import Path

from cordon.services.ports import require_free, wait_for_port
from cordon.services.process import spawn, tail, terminate


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not found:
        raise RuntimeError(
            "the Mosquitto broker is not installed: install it (Debian: apt-get install "
            "mosquitto, or run scripts/install-system-deps.sh) or point Cordon at a broker "
            "with CORDON_MQTT_URL"
        )
    return found


class PrivateMosquitto:
    """``with PrivateMosquitto(port) as broker:`` — a broker that lives as long as the block."""

    def __init__(self, port: int, workdir: Path | None = None, persistence: bool = False):
        self.port = port
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="cordon-mqtt-"))
        self.persistence = persistence
        self.proc = None

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> PrivateMosquitto:
        require_free(self.port, "MQTT", "--mqtt-port")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            f"user {getpass.getuser()}",
            f"persistence {'true' if self.persistence else 'false'}",
        ]
        if self.persistence:
            lines += [f"persistence_location {self.workdir}/", "autosave_interval 1"]
        conf.write_text("\n".join(lines) + "\n")
        self.proc = spawn([find_mosquitto(), "-c", str(conf)], self.log_file)
        if not wait_for_port(self.port):
            self.stop()
            raise RuntimeError(
                f"Mosquitto did not start on port {self.port}:\n{tail(self.log_file)}"
            )
        return self

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> PrivateMosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
