"""Carrier connections and the built-in simulator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamSettings:
    name: str
    host: str = "127.0.0.1"
    port: int = 2776
    system_id: str = "chapar"
    password: str = ""
    system_type: str = ""
    bind: Literal["tx", "trx"] = "trx"
    connections: int = 1
    window: int = 64
    enquire_link_interval: float = 30.0
    response_timeout: float = 30.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorSettings:
    """The built-in carrier simulator, run in-process as the upstream."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    receipt_delay: float = 0.2
    failure_ratio: float = 0.0
    system_id: str = ""
    password: str = ""
    """Credentials a carrier must bind with; empty = any."""
    record: str = ""
    """A file to append one JSON line per accepted message to; empty = none."""
