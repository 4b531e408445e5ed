"""Administration from the command line: accounts, and the broker's device credentials.

    cordon user add NAME --grant tx:admin [--grant tx-travis:officer ...]
        (the password is read from CORDON_NEW_PASSWORD, or asked for)
    cordon broker-auth DIR
        write DIR/passwd and DIR/acl for Mosquitto from the device registry (then reload the
        broker: ``systemctl reload mosquitto`` or SIGHUP); devices' passwords are derived from
        CORDON_DEVICE_SECRET, the engine's user and password come from CORDON_MQTT_URL, relay
        users from CORDON_BROKER_RELAY_USERS; with CORDON_BROKER_RELOAD_COMMAND set it is run
        when the files changed. A running engine with broker_auth_dir does this by itself.
    cordon device-password DEVICE_ID
        the password to provision on a device (or a relay user)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from dataclasses import replace
from pathlib import Path

import psycopg

from cordon.settings import Settings

MIN_PASSWORD = 12


def add_arguments(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="manage sign-in accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account (or reset its password)")
    add.add_argument("username")
    add.add_argument("--grant", action="append", default=[], metavar="JURISDICTION:ROLE",
                     help="a role (officer, supervisor, admin) on a jurisdiction and below")
    broker = sub.add_parser("broker-auth",
                            help="write Mosquitto password and ACL files from the registry")
    broker.add_argument("directory", type=Path)
    password = sub.add_parser("device-password", help="the MQTT password of a device")
    password.add_argument("device_id")
    for sp in (add, broker, password):
        sp.add_argument("--config", type=Path, help="TOML settings file (or CORDON_CONFIG)")


def device_secret(settings: Settings) -> bytes:
    secret = settings.device_secret or ""
    if len(secret) < 16:
        raise SystemExit("cordon: set CORDON_DEVICE_SECRET (at least 16 characters): device "
                         "passwords are derived from it")
    return secret.encode()


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "device-password":
        from devices.credentials import device_password

        print(device_password(device_secret(settings), args.device_id))
        return 0
    if not settings.database_url:
        print("cordon: set CORDON_DATABASE_URL (or database_url in --config)", file=sys.stderr)
        return 2
    if args.command == "user":
        return asyncio.run(_add_user(settings.database_url, args.username, args.grant))
    return asyncio.run(_broker_auth(settings, args.directory))


async def _add_user(database_url: str, username: str, grants: list[str]) -> int:
    from api.auth import hash_password
    from store.accounts import ROLE_RANK, AccountError, grant, upsert_user

    pairs = []
    for g in grants:
        jurisdiction, _, role = g.rpartition(":")
        if not jurisdiction or role not in ROLE_RANK:
            print(f"cordon: --grant {g!r}: write JURISDICTION:ROLE, the role one of "
                  f"{', '.join(ROLE_RANK)}", file=sys.stderr)
            return 2
        pairs.append((jurisdiction, role))
    password = os.environ.get("CORDON_NEW_PASSWORD") or getpass.getpass(f"password for "
                                                                         f"{username}: ")
    if len(password) < MIN_PASSWORD:
        print(f"cordon: a password needs at least {MIN_PASSWORD} characters", file=sys.stderr)
        return 2
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        user_id = await upsert_user(conn, username, hash_password(password))
        try:
            for jurisdiction, role in pairs:
                await grant(conn, user_id, jurisdiction, role)
        except AccountError as exc:
            print(f"cordon: {exc}", file=sys.stderr)
            return 2
    print(f"user {username} (id {user_id}): " + (", ".join(grants) or "no grants yet"))
    return 0


async def _broker_auth(settings: Settings, directory: Path) -> int:
    from psycopg_pool import AsyncConnectionPool

    from cordon.broker_auth import BrokerAuthKeeper
    from cordon.settings import SettingsError

    try:
        keeper = BrokerAuthKeeper.from_settings(replace(settings, broker_auth_dir=str(directory)))
    except SettingsError as exc:
        print(f"cordon: {exc}", file=sys.stderr)
        return 2
    assert keeper is not None
    async with AsyncConnectionPool(settings.database_url, min_size=1, max_size=1,
                                   open=False) as pool:
        changed = await keeper.sync(pool)
    files = f"{directory}/passwd and {directory}/acl"
    if not changed:
        print(f"{files} unchanged")
    elif not settings.broker_reload_command:
        print(f"{files} written: reload the broker")
    elif keeper.stale:
        print(f"{files} written, but the broker reload failed (see above): reload it",
              file=sys.stderr)
        return 1
    else:
        print(f"{files} written, broker reloaded")
    return 0
