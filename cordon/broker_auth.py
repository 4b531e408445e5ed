"""The engine keeps the broker's password and ACL files in step with the device registry.

With ``broker_auth_dir`` set, engine process 0 rewrites ``passwd`` and ``acl`` there (see
:mod:`devices.credentials`) at start and whenever the registry changes, and then runs
``broker_reload_command`` (``systemctl reload mosquitto``, ``kill -HUP <pid>``) so the broker
rereads them. The order matters: the engine has loaded the new registry before the broker
admits a new device, so a new device's first message is never quarantined as unknown; a device
removed from the registry loses its credentials, and the broker disconnects it at the reload.

Devices log in as their id with a password derived from ``device_secret``; relay users
(``broker_relay_users``: trusted gateways, a simulator) may publish on every device topic, with
passwords derived the same way (``cordon device-password NAME`` prints either).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from cordon.settings import Settings, SettingsError
from devices.credentials import MIN_SECRET_BYTES, device_password
from store.broker_auth import sync_broker_auth

log = logging.getLogger(__name__)

RELOAD_TIMEOUT_S = 30.0


@dataclass
class BrokerAuthKeeper:
    directory: Path
    secret: bytes
    engine_user: str
    engine_password: str
    relay_users: tuple[str, ...] = ()
    partitions: int = 1
    reload_command: str | None = None
    # The registry may have changed since the broker last reread the files (or a write or a
    # reload failed): :meth:`sync` is due.
    stale: bool = field(default=True, init=False)
    _reload_pending: bool = field(default=False, init=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerAuthKeeper | None:
        """The keeper the settings ask for, None without ``broker_auth_dir``, or
        ``SettingsError`` for what it cannot work without.

        >>> BrokerAuthKeeper.from_settings(Settings()) is None
        True
        >>> BrokerAuthKeeper.from_settings(Settings(broker_auth_dir="/tmp/auth",
        ...                                         mqtt_url="mqtt://127.0.0.1"))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cordon.settings.SettingsError: broker_auth_dir needs device_secret ...
        """
        if not settings.broker_auth_dir:
            return None
        secret = (settings.device_secret or "").encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"broker_auth_dir needs device_secret (CORDON_DEVICE_SECRET, at least "
                f"{MIN_SECRET_BYTES} characters): device passwords are derived from it")
        _host, _port, user, password = settings.mqtt_parts()
        if not user or not password:
            raise SettingsError("broker_auth_dir needs the engine's own MQTT user and password "
                                "in mqtt_url (mqtt://engine:secret@broker:1883)")
        relays = tuple(r.strip() for r in (settings.broker_relay_users or "").split(",")
                       if r.strip())
        return cls(Path(settings.broker_auth_dir), secret, user, password, relays,
                   settings.mqtt_partitions, settings.broker_reload_command)

    async def sync(self, pool: AsyncConnectionPool) -> bool:
        """Rewrite the files from the registry and, when they changed (or an earlier reload
        failed), make the broker reread them; True when the files changed. ``stale`` stays set
        until both steps succeed, so the next registry check retries."""
        relays = {name: device_password(self.secret, name) for name in self.relay_users}
        async with pool.connection() as conn:
            changed = await sync_broker_auth(conn, self.directory, self.secret,
                                             self.engine_user, self.engine_password, relays,
                                             self.partitions)
        self._reload_pending = self._reload_pending or changed
        if self._reload_pending:
            if self.reload_command is None:
                log.warning("broker credentials in %s changed: reload the broker (no "
                            "broker_reload_command is set)", self.directory)
            elif not await self._run_reload():
                return changed
            self._reload_pending = False
        self.stale = False
        return changed

    async def _run_reload(self) -> bool:
        proc = await asyncio.create_subprocess_shell(
            self.reload_command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            async with asyncio.timeout(RELOAD_TIMEOUT_S):
                output, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.error("broker reload %r took over %.0f s: killed, retried at the next registry "
                      "check", self.reload_command, RELOAD_TIMEOUT_S)
            return False
        if proc.returncode != 0:
            log.error("broker reload %r failed (exit %d), retried at the next registry check: "
                      "%s", self.reload_command, proc.returncode,
                      output.decode(errors="replace").strip())
            return False
        log.info("broker reloaded its credentials (%s)", self.reload_command)
        return True
