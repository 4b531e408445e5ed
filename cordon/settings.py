"""One settings object, read from a TOML file and ``CORDON_*`` environment variables.

Precedence, lowest first: defaults, the TOML file (``--config FILE`` or ``CORDON_CONFIG``),
environment variables, command-line flags. Every field is a flat key:

.. code-block:: toml

    database_url = "postgresql://cordon@db.example/cordon"
    mqtt_url = "mqtt://engine:secret@broker.example:1883"
    http_port = 8080

is the same as ``CORDON_DATABASE_URL=…``, ``CORDON_MQTT_URL=…``, ``CORDON_HTTP_PORT=8080``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    mqtt_url: str | None = None
    mqtt_client_id: str = "cordon-engine"
    mqtt_shared_group: str | None = None
    # Partitions of the device topic space (see devices.topics); fixed for a deployment,
    # since devices publish under their partition's prefix. 1: no prefix.
    mqtt_partitions: int = 1
    # Engine processes on this machine; each reads the partitions k with k % consumers == its
    # number. At most mqtt_partitions.
    consumers: int = 1
    # Who reads which partition: "static", as above; "leases", whichever engine process holds
    # the partition's lease in the database (cordon/leases.py), on any host, each taking a fair
    # share of the live processes' and another taking over a partition whose holder died.
    # A lease lasts lease_ttl_s unless renewed (every lease_renew_s); a partition is taken over
    # about lease_ttl_s after its holder dies.
    partition_ownership: str = "static"
    lease_ttl_s: float = 10.0
    lease_renew_s: float = 2.0
    # Device credentials on the broker (see cordon.broker_auth): with broker_auth_dir set, the
    # engine keeps Mosquitto's passwd and acl files there in step with the registry and runs
    # broker_reload_command after each change. Device passwords derive from device_secret;
    # broker_relay_users (comma-separated) may publish for every device.
    broker_auth_dir: str | None = None
    broker_reload_command: str | None = None
    broker_relay_users: str | None = None
    device_secret: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    batch_max: int = 2000
    batch_ms: float = 20.0
    # An episode opens (clears) after this many consecutive certain fixes against it, none
    # more than confirm_gap_s after the one before (see alerts.episodes; plans may override).
    confirm_fixes: int = 3
    confirm_gap_s: float = 180.0
    # Reported accuracy radii are multiplied by this before a rule calls a fix certain: devices
    # report radii of 68 % (Android) to 95 % confidence, and a 95 % radius is still wrong once
    # in twenty fixes (see alerts.evaluator).
    accuracy_factor: float = 1.5
    gil_switch_ms: float = 0.5  # see cordon.engine
    kernel_threads: int = 1  # threads of the Numba kernels in each engine process; 0: all cores
    default_accuracy_m: float = 50.0
    fix_chunk_interval: str = "1 day"
    fix_retention_days: float | None = None  # keep every fix unless the agency sets a limit
    # Bad input is kept to be diagnosed, not for ever: quarantined rows older than this are
    # deleted (checked hourly); empty keeps them all.
    quarantine_retention_days: float | None = 30.0
    # The HTTP (OsmAnd) intake: requests a minute each remote address, and each device, may
    # make. A phone catching up on its buffer spends a minute's worth at once, then waits for
    # its Retry-After; many phones may share one carrier address (NAT), hence the larger one.
    osmand_rate_per_address: float = 600.0
    osmand_rate_per_device: float = 120.0
    # How often to check whether the registry changed: one cheap read of a sequence; a change
    # is then applied by the piece (store/registry_changes.py), so checking often costs little.
    registry_refresh_s: float = 0.25
    # The timers (lost contact, device off, no fix, curfew starts, escalation): how often they
    # are checked, and how long after start they wait for the broker's backlog of queued
    # messages, so that an engine restart does not take every device for silent.
    timer_tick_s: float = 1.0
    timers_start_after_s: float = 60.0
    # "wall", or "accelerated:<sim start>@<wall start>x<rate>" to replay a simulated fleet
    # (see ingest.clock).
    clock: str = "wall"
    # The legal basis of a bracelet (see ingest/orders.py): "required" keeps and evaluates a
    # bracelet's positions only while a positioning order of its wearer is in force (China:
    # 社区矫正法 art. 29); "off" needs none. An order (and each renewal) lasts at most
    # positioning_order_max_days.
    positioning_orders: str = "off"
    positioning_order_max_days: float = 92.0
    # Leave (外出请假, store/leave.py): up to leave_township_max_days the person's township office
    # approves, up to leave_county_max_days the county, longer the next level up (the city);
    # a standing permit for regular cross-county travel, and any leave, lasts at most
    # permit_max_days. A leave's destination binds after leave_travel_hours of travel out (at
    # most a quarter of the window) and until as long before its end.
    leave_township_max_days: float = 7.0
    leave_county_max_days: float = 30.0
    permit_max_days: float = 183.0
    leave_travel_hours: float = 12.0
    # The nightly co-location pass (store/colocations.py, 聚集 history): every pair of people
    # within colocation_radius_m for colocation_min_minutes in a row on a local day, run once
    # the day has been over colocation_delay_h (buffered uploads arrive late); "off": never.
    colocation_pass: str = "on"
    colocation_radius_m: float = 50.0
    colocation_min_minutes: float = 20.0
    colocation_delay_h: float = 2.0
    # The pass goes region by region (history/regions.py), placing at most this many people at
    # once (~150 B a fix of theirs and 23 KB each: ~0.36 MB at 2,300 fixes a day); a region
    # holding more is cut finer (docs/SCALING.md).
    colocation_piece_people: int = 20_000
    # The nightly day pass (store/kept_days.py): each device's closed UTC day summed up once —
    # its coverage runs and its track thinned in time — for the searches and month-long tracks
    # to read; run once the day has been over day_pass_delay_h; "off": never (searches and
    # tracks then sum up the days they read themselves).
    day_pass: str = "on"
    day_pass_delay_h: float = 2.0
    map_tile_url: str | None = None
    log_level: str = "INFO"

    def mqtt_parts(self) -> tuple[str, int, str | None, str | None]:
        """(host, port, username, password) of ``mqtt_url``."""
        if not self.mqtt_url:
            raise SettingsError("no MQTT broker configured: set CORDON_MQTT_URL or mqtt_url")
        u = urlsplit(self.mqtt_url)
        if u.scheme not in ("mqtt", "tcp"):
            raise SettingsError(f"mqtt_url {self.mqtt_url!r} must start with mqtt://")
        return (
            u.hostname or "127.0.0.1",
            u.port or 1883,
            unquote(u.username) if u.username else None,
            unquote(u.password) if u.password else None,
        )


def check_partition_ownership(settings: Settings) -> None:
    """Raise :class:`SettingsError` saying what is wrong with ``partition_ownership`` and the
    lease timings (see :mod:`cordon.leases`)."""
    mode = settings.partition_ownership
    if mode not in ("static", "leases"):
        raise SettingsError(f"partition_ownership must be 'static' or 'leases', not {mode!r}")
    if mode == "static":
        return
    if settings.mqtt_partitions < 2:
        raise SettingsError(
            f"partition_ownership = 'leases' shares partitions of the device topics between "
            f"engine processes: set mqtt_partitions to 2 or more (it is "
            f"{settings.mqtt_partitions})")
    ttl, renew = settings.lease_ttl_s, settings.lease_renew_s
    if not renew > 0:
        raise SettingsError(f"lease_renew_s must be more than 0 seconds, not {renew}")
    if not ttl >= 3 * renew:
        raise SettingsError(
            f"lease_ttl_s ({ttl}) must be at least 3 × lease_renew_s ({renew}): a process "
            f"stops reading a partition lease_renew_s before its lease could lapse, and needs "
            f"a failed renewal or more to spare before that")


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config_file = config_file or env.get("CORDON_CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            values.update(tomllib.loads(path.read_text()))
        except FileNotFoundError:
            raise SettingsError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise SettingsError(f"unknown settings in {config_file}: {', '.join(sorted(unknown))}")
    for name in known:
        key = f"CORDON_{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(Settings(), **{k: _coerce(known[k].type, k, v) for k, v in values.items()})


def _coerce(type_name: Any, name: str, value: Any) -> Any:
    optional = "None" in str(type_name)
    # "float | None" from the environment is a number too (an empty value is None, below).
    t = str(type_name).replace(" | None", "")
    try:
        if t == "int":
            return int(value)
        if t == "float":
            return float(value)
    except (TypeError, ValueError):
        if value == "" and optional:
            return None
        what = "an integer" if t == "int" else "a number"
        raise SettingsError(f"setting {name} must be {what}, not {value!r}") from None
    if value == "":
        return None if optional else value
    return value if value is None else str(value)


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``CORDON_*`` environment variables (for a child process)."""
    return {f"CORDON_{f.name.upper()}": str(getattr(settings, f.name))
            for f in fields(Settings) if getattr(settings, f.name) is not None}
