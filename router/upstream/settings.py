"""Carrier connections and the built-in simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from router.smpp.session import SessionConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamSettings(SessionConfig):
    """One carrier: where, who we bind as, how many connections; plus the core's
    session limits and timers, with the defaults a client side wants."""

    name: str
    host: str = "127.0.0.1"
    port: int = 2776
    system_id: str = "chapar"
    password: str = field(default="", repr=False)
    system_type: str = ""
    bind: Literal["tx", "trx"] = "trx"
    connections: int = 1
    tls: bool = False
    """Connect over TLS (1.2 or 1.3), verifying the carrier's certificate."""
    tls_ca: str = ""
    """PEM file of the CA(s) that sign the carrier's certificate; empty = the system's."""
    tls_server_name: str = ""
    """The name its certificate must carry; empty = ``host``."""
    response_timeout: float = 10.0
    """After it an unanswered submit_sm is late, not lost: the session keeps it (its
    answer still counts) and checks the carrier with an enquire_link at once; only a
    session that ends sends it again."""
    enquire_link_interval: float = 15.0
    inactivity_timeout: float = 0.0
    """A carrier may stay silent while we have nothing to send: enquire_link keeps the
    session checked instead."""
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_min_rate: float = 1.0
    """Messages per second a congested connection slows down to at most (the floor)."""
    throttle_recovery: float = 10.0
    """Seconds without a congestion answer after which the pace limit is lifted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorSettings:
    """The built-in carrier simulator, run in-process as the upstream."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    receipt_delay: float = 0.2
    failure_ratio: float = 0.0
    system_id: str = ""
    password: str = field(default="", repr=False)
    """Credentials a carrier must bind with; empty = any."""
    record: str = ""
    """A file to append one JSON line per accepted message to; empty = none."""
