"""Who may report over HTTP: a device proves itself with the password it has on MQTT.

The password is derived from the agency's ``device_secret`` and the device id
(:func:`devices.credentials.device_password`, printed by ``cordon device-password ID``). A phone
app sends it in its server URL, either as the URL's user information
(``http://ID:PASSWORD@host:8080/osmand``, which an HTTP client turns into an
``Authorization: Basic`` header) or as a ``key`` parameter (``/osmand?key=PASSWORD``).

Without a secret the gate is closed: no report is accepted. An unknown id and a wrong password
get the same answer in about the same time — the password is derived and compared for any id,
and the registry is not asked before the device has proved itself — so the answers do not
tell which device ids exist. Every request spends a token of its remote address; a device
that proved itself spends one of its own too (a stranger's wrong guesses cannot use up a real
device's allowance).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from dataclasses import dataclass, field

from devices.credentials import MIN_SECRET_BYTES, check_device_password
from ingest.ratelimit import TokenBuckets
from ingest.stats import IngestStats

log = logging.getLogger(__name__)

REFUSED = "device id or password not accepted"
MISSING = ("device password required: put it in the server URL, as "
           "http://DEVICE_ID:PASSWORD@host:port/osmand or /osmand?key=PASSWORD "
           "(cordon device-password DEVICE_ID prints it)")
CLOSED = ("the HTTP intake accepts no reports: the engine has no device secret "
          "(CORDON_DEVICE_SECRET)")
REFUSAL_LOG_EVERY_S = 60.0


def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    """(user, password) of an ``Authorization: Basic`` header, or (None, None).

    >>> basic_credentials("Basic " + base64.b64encode(b"ph-1:pw:x").decode())
    ('ph-1', 'pw:x')
    >>> basic_credentials("Bearer abc"), basic_credentials("Basic !!!")
    ((None, None), (None, None))
    """
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = text.partition(":")
    return (user, password) if sep else (None, None)


@dataclass
class DeviceGate:
    secret: bytes | None
    by_address: TokenBuckets
    by_device: TokenBuckets
    stats: IngestStats
    # Refusals since the last log line: one line a minute, however many there are.
    _refused: int = field(default=0, init=False)
    _latest: str = field(default="", init=False)
    _logged_at: float = field(default=0.0, init=False)

    @classmethod
    def from_secret(cls, secret: str | None, stats: IngestStats, per_address: float,
                    per_device: float) -> DeviceGate:
        key = (secret or "").encode()
        if len(key) < MIN_SECRET_BYTES:
            log.warning("the OsmAnd HTTP intake (/osmand) refuses every report: set "
                        "CORDON_DEVICE_SECRET (at least %d characters), the secret device "
                        "passwords derive from", MIN_SECRET_BYTES)
        return cls(key if len(key) >= MIN_SECRET_BYTES else None,
                   TokenBuckets(per_address), TokenBuckets(per_device), stats)

    def authentic(self, device_id: str | None, password: str | None) -> bool:
        """Whether ``password`` is ``device_id``'s: the same work whether or not the id is
        registered (or given at all)."""
        if self.secret is None:
            return False
        ok = check_device_password(self.secret, device_id or "", password or "")
        return ok and bool(device_id) and password is not None

    def address_wait(self, address: str) -> float:
        return self._limited(self.by_address.take(address))

    def device_wait(self, device_id: str) -> float:
        return self._limited(self.by_device.take(device_id))

    def _limited(self, wait: float) -> float:
        if wait:
            self.stats.http_rate_limited += 1
        return wait

    def refused(self, address: str, device_id: str | None) -> None:
        """Count a report refused for its credentials, and log the count once a minute."""
        self.stats.http_refused += 1
        self._refused += 1
        self._latest = f"{address}, device id {(device_id or '')[:64]!r}"
        now = time.monotonic()
        if now - self._logged_at >= REFUSAL_LOG_EVERY_S:
            log.warning("OsmAnd intake: refused %d report(s) without a valid device password "
                        "(latest from %s)%s", self._refused, self._latest,
                        "" if self.secret else ": no CORDON_DEVICE_SECRET is set")
            self._refused, self._logged_at = 0, now
