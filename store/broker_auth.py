"""The broker's password and ACL files, kept in step with the device registry.

:func:`sync_broker_auth` reads the registered devices and rewrites the files of
:func:`devices.credentials.write_broker_auth` when they change; the caller then makes the broker
reread them (SIGHUP: ``PrivateMosquitto.reload``, ``systemctl reload mosquitto``). A device
removed from the registry loses its credentials, and Mosquitto disconnects it at the reload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

import psycopg

from devices.credentials import check_user, write_broker_auth

log = logging.getLogger(__name__)


async def registered_device_ids(conn: psycopg.AsyncConnection) -> list[str]:
    """Every registered device (of a supervisee or of a protected victim) in service: not
    retired, and not of a released supervisee."""
    cur = await conn.execute(
        "SELECT d.id FROM devices d LEFT JOIN supervisees s ON s.id = d.supervisee_id "
        "WHERE d.retired_at IS NULL AND s.released_at IS NULL ORDER BY d.id")
    return [r[0] for r in await cur.fetchall()]


async def sync_broker_auth(
    conn: psycopg.AsyncConnection,
    directory: Path,
    secret: bytes,
    engine_user: str,
    engine_password: str,
    relay_users: Mapping[str, str] | None = None,
    partitions: int = 1,
    per_device_acl: bool = False,
) -> bool:
    """(Re)write ``directory/passwd`` and ``directory/acl`` from the registry; True when either
    changed (then reload the broker). A device whose id cannot be an MQTT user (``/``, ``+``,
    ``#``, ``:``, spaces) gets no credentials and is logged: it could not publish on a topic of
    its own anyway; nor does a device named like the engine or a relay user. Hashing new users'
    passwords runs in a worker thread."""
    reserved = {engine_user, *(relay_users or {})}
    usable = []
    for device_id in await registered_device_ids(conn):
        try:
            check_user(device_id)
        except ValueError as exc:
            log.error("device %r gets no MQTT credentials: %s", device_id, exc)
            continue
        if device_id in reserved:
            log.error("device %r gets no MQTT credentials: the name of a service user",
                      device_id)
            continue
        usable.append(device_id)
    files = await asyncio.to_thread(
        write_broker_auth, Path(directory), usable, secret, engine_user, engine_password,
        relay_users, partitions, per_device_acl)
    if files.changed:
        log.info("broker credentials written for %d devices in %s", len(usable), directory)
    return files.changed
