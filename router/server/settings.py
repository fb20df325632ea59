"""Settings of the ESME-facing listener and its sessions (validated by router.config)."""

from __future__ import annotations

from dataclasses import dataclass

from router.smpp.session import SessionConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenSettings:
    host: str = "127.0.0.1"
    """One address, or several separated by commas (e.g. ``127.0.0.1,::1``)."""
    port: int = 2775


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppSettings(SessionConfig):
    """The core's session limits and timers, plus what only a listener has."""

    max_connections: int = 4096
    """Open ESME connections at most; more are closed at once (memory stays bounded)."""
