"""Settings of the ESME-facing listener and its sessions (validated by router.config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenSettings:
    host: str = "127.0.0.1"
    """One address, or several separated by commas (e.g. ``127.0.0.1,::1``)."""
    port: int = 2775


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppSettings:
    """Limits and timers of ESME-facing sessions (seconds; 0 turns a timer off)."""

    max_pdu_length: int = 65536
    max_connections: int = 4096
    """Open ESME connections at most; more are closed at once (memory stays bounded)."""
    window: int = 64
    inbound_window: int = 1024
    session_init_timeout: float = 30.0
    enquire_link_interval: float = 30.0
    inactivity_timeout: float = 300.0
    response_timeout: float = 60.0
