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
    tls_port: int = 0
    """A second port on the same addresses that speaks SMPP over TLS 1.2/1.3 (8775 by
    convention); 0 = none.  Needs ``tls_cert`` and ``tls_key``, reloaded on SIGHUP."""
    tls_cert: str = ""
    tls_key: str = ""
    tls_handshake_timeout: float = 10.0
    """A client that has not finished the TLS handshake by then is closed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppSettings(SessionConfig):
    """The core's session limits and timers, plus what only a listener has.

    Connections: ``max_connections`` open at most in all, ``max_connections_per_ip`` per
    source address (IPv6: per /64; 0 = no cap), and new ones per address by a token
    bucket, ``connection_rate_per_ip`` a second (0 = no limit) after a burst of
    ``connection_burst_per_ip``; more are closed at once (memory stays bounded).
    ``write_buffer_limit``: bytes of answers waiting for the peer to read them before we
    stop reading it (resumed below a quarter of it).  ``max_pdus_per_read``: PDUs
    processed per connection per loop turn; the rest wait (reading paused).
    """

    max_connections: int = 4096
    max_connections_per_ip: int = 64
    connection_rate_per_ip: float = 20.0
    connection_burst_per_ip: int = 64

    @property
    def gate(self) -> GateLimits:
        return GateLimits(self.max_connections, self.max_connections_per_ip,
                          self.connection_rate_per_ip, self.connection_burst_per_ip)

    window: int = 256
    """deliver_sm outstanding per ESME session.  Above the usual ESME submit window (64)
    on purpose: with a receipt per message, receipts at a window of 64 flow at exactly
    the rate of that session's submits (both 64 per round trip), so any hiccup left them
    behind for good (0.4 s behind after 8 s at 77 k msg/s), and a receipt that waits
    past ``receipt_write_delay`` is journalled (~1 µs a receipt)."""
    write_buffer_limit: int = 65536
    max_pdus_per_read: int = 256
    congestion_state: bool = True
    """SMPP 5.0 sessions get congestion_state on submit_sm_resp and data_sm_resp.  Off
    for fleets of aiosmpplib clients bound at 0x50: it reads everything after the
    header as the message id, TLVs included, and then cannot match its receipts."""
