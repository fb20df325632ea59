"""Who may open a connection: the global cap, a cap per source address, and a rate of
new connections per source address (a token bucket).

Memory stays bounded: the per-address counts exist only for open connections; once the
buckets outnumber the global cap, those full again are dropped (at most once a second),
and all of them past four times the cap.  IPv6 addresses count per /64 (one
customer's host usually owns a whole /64).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

GLOBAL = "max_connections"
PER_IP = "max_connections_per_ip"
RATE = "connection_rate_per_ip"


@dataclass(frozen=True, slots=True)
class GateLimits:
    max_connections: int
    max_per_ip: int  # 0: no cap
    rate_per_ip: float  # new connections per second; 0: no limit
    burst_per_ip: int


def address_key(ip: str) -> str:
    """The key an address counts under: itself (IPv4, or IPv4-mapped IPv6), else its /64."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return ip


@dataclass(slots=True)
class ConnectionGate:
    open: dict[str, int] = field(default_factory=dict)
    """Open connections per address key."""
    total: int = 0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per address key: (tokens, when they were counted)."""
    _pruned_at: float = 0.0

    def admit(self, key: str, now: float, limits: GateLimits) -> str | None:
        """Count a new connection from ``key`` and return None, or return the limit it
        hits (nothing counted; the caller closes it at once)."""
        if self.total >= limits.max_connections:
            return GLOBAL
        held = self.open.get(key, 0)
        if limits.max_per_ip and held >= limits.max_per_ip:
            return PER_IP
        if limits.rate_per_ip and not self._take_token(key, now, limits):
            return RATE
        self.open[key] = held + 1
        self.total += 1
        return None

    def release(self, key: str) -> None:
        held = self.open.get(key, 0) - 1
        if held > 0:
            self.open[key] = held
        else:
            self.open.pop(key, None)
        self.total -= 1

    def _take_token(self, key: str, now: float, limits: GateLimits) -> bool:
        buckets = self._buckets
        burst = float(max(limits.burst_per_ip, 1))
        tokens, since = buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - since) * limits.rate_per_ip)
        if len(buckets) >= limits.max_connections:
            if now - self._pruned_at >= 1.0:
                self._prune(now, limits, burst)
            if len(buckets) >= 4 * limits.max_connections:  # a flood of addresses
                buckets.clear()
        if tokens < 1.0:
            buckets[key] = (tokens, now)
            return False
        buckets[key] = (tokens - 1.0, now)
        return True

    def _prune(self, now: float, limits: GateLimits, burst: float) -> None:
        full = [key for key, (tokens, since) in self._buckets.items()
                if tokens + (now - since) * limits.rate_per_ip >= burst]
        for key in full:
            del self._buckets[key]
        self._pruned_at = now
