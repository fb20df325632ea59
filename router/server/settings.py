"""Settings of the ESME-facing listener and its sessions (validated by router.config)."""

from __future__ import annotations

from dataclasses import dataclass

from router.server.gate import GateLimits
from router.smpp.session import SessionConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenSettings:
    host: str = "127.0.0.1"
    """One address, or several separated by commas (e.g. ``127.0.0.1,::1``)."""
    port: int = 2775


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppSettings(SessionConfig):
    """The core's session limits and timers, plus what only a listener has."""

    max_pdus_per_read: int = 256
    """PDUs processed per connection per loop turn; the rest wait (reading paused)."""
    max_connections: int = 4096
    """Open ESME connections at most; more are closed at once (memory stays bounded)."""
    max_connections_per_ip: int = 64
    """Open connections per source address (IPv6: per /64) at most; 0 = no cap."""
    connection_rate_per_ip: float = 20.0
    """New connections per second per source address, sustained; 0 = no limit."""
    connection_burst_per_ip: int = 64
    """New connections per source address accepted at once before the rate applies."""
    write_buffer_limit: int = 65536
    """Bytes of answers waiting for the peer to read them before we stop reading from it
    (resumed below a quarter of it)."""

    @property
    def gate(self) -> GateLimits:
        return GateLimits(self.max_connections, self.max_connections_per_ip,
                          self.connection_rate_per_ip, self.connection_burst_per_ip)
