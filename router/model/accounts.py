"""Accounts: who may bind, from where, and how refusals are told to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AccountStatus = Literal["active", "suspended", "terminated"]
STATUSES: tuple[AccountStatus, ...] = ("active", "suspended", "terminated")
BIND_TYPES = ("tx", "rx", "trx")


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    system_id: str
    password_hash: str = field(repr=False)
    status: AccountStatus = "active"
    bind_types: tuple[str, ...] = BIND_TYPES
    max_binds: int = 0
    """Concurrent sessions allowed; 0 = no limit."""
    allowed_ips: tuple[str, ...] = ()
    """Addresses or CIDRs the account may bind from (IPv4 and IPv6)."""
    domestic_exempt: bool = False
    status_style: Literal["vendor", "standard"] = "standard"
    demo: bool = False
    id_lockout: bool = True
    """Failed binds lock the system_id out too (not only the source address)."""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    peer: str
    system_id: str
    bind_type: str
    outcome: str
    reason: str
    status: int
    ranges_version: str
