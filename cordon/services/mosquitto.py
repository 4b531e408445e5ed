"""A private Mosquitto broker on a port of its own (the demo's embedded broker, the tests')."""

from __future__ import annotations

import getpass
import shutil
import signal
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
    """``with PrivateMosquitto(port) as broker:`` — a broker that lives as long as the block.

    By default anyone may connect and publish anywhere. With ``password_file`` (and usually
    ``acl_file``; both written by :func:`devices.credentials.write_broker_auth`) only the users
    of the password file may connect, each on the topics the ACL grants; :meth:`reload` makes
    the broker reread both after they change.
    """

    def __init__(
        self,
        port: int,
        workdir: Path | None = None,
        persistence: bool = False,
        password_file: Path | None = None,
        acl_file: Path | None = None,
    ):
        self.port = port
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="cordon-mqtt-"))
        self.persistence = persistence
        self.password_file = Path(password_file).resolve() if password_file else None
        self.acl_file = Path(acl_file).resolve() if acl_file else None
        self.proc = None

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> PrivateMosquitto:
        require_free(self.port, "MQTT", "--mqtt-port")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        for path in (self.password_file, self.acl_file):
            if path is not None and not path.is_file():
                raise RuntimeError(f"Mosquitto cannot start: {path} does not exist")
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if self.password_file else 'true'}",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            f"user {getpass.getuser()}",
            f"persistence {'true' if self.persistence else 'false'}",
        ]
        if self.persistence:
            lines += [f"persistence_location {self.workdir}/", "autosave_interval 1"]
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        conf.write_text("\n".join(lines) + "\n")
        self.proc = spawn([find_mosquitto(), "-c", str(conf)], self.log_file)
        if not wait_for_port(self.port):
            self.stop()
            raise RuntimeError(
                f"Mosquitto did not start on port {self.port}:\n{tail(self.log_file)}"
            )
        return self

    def reload(self) -> None:
        """Make the broker reread its password and ACL files (SIGHUP): new users may connect,
        the ACL applies to every client, and a connected client whose user was removed is
        disconnected. Mosquitto does it asynchronously, just after this returns."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("Mosquitto is not running")
        self.proc.send_signal(signal.SIGHUP)

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
