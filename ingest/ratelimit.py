"""Token buckets per key (a remote address, a device id), bounded in memory.

Each key may spend ``burst`` requests at once and earns ``per_minute`` back over a minute. The
table holds at most ``max_keys`` buckets: the least recently used goes first, and since a bucket
left alone refills, forgetting an old one only forgives what it had spent.

>>> now = [0.0]
>>> buckets = TokenBuckets(per_minute=60, burst=2, clock=lambda: now[0])
>>> [buckets.take("a") for _ in range(3)]
[0.0, 0.0, 1.0]
>>> now[0] = 1.0
>>> buckets.take("a"), buckets.take("b")
(0.0, 0.0)
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, per_minute: float, burst: float | None = None, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic):
        if per_minute <= 0:
            raise ValueError(f"a rate limit must be above 0 requests a minute, not {per_minute}")
        self.rate = per_minute / 60.0  # tokens a second
        self.burst = float(burst if burst is not None else per_minute)
        if self.burst < 1:
            raise ValueError(f"a burst must allow at least one request, not {self.burst}")
        self.max_keys = max_keys
        self.clock = clock
        # key -> (tokens, when they were counted); a dict keeps insertion order, and a key
        # used is moved to the end, so the first key is the least recently used.
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Spend one token of ``key``'s bucket: 0.0 if there was one, else the seconds until
        there will be (nothing is spent then)."""
        now = self.clock()
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def client_key(host: str | None) -> str:
    """The rate-limit key of a remote address: IPv6 by its /64, since one subscriber (one
    phone, one home) is handed a whole /64 and could otherwise spend a fresh bucket per
    address.

    >>> client_key("203.0.113.7"), client_key("2001:db8:1:2:aaaa::1"), client_key(None)
    ('203.0.113.7', '2001:db8:1:2::/64', 'unknown')
    >>> client_key("::ffff:203.0.113.7")
    '203.0.113.7'
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
