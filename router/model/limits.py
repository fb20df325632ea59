"""Sending limits (requirements §6): token buckets per account, per line and per
account x operator, and daily / monthly quotas per account counted in segments.

0 means no limit.  Limits live in the registry (``chapar accounts set``, ``chapar lines
set``; YAML seeds missing ones) and are swapped whole into the running router.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Limit(NamedTuple):
    """0 = no limit."""

    rate: float = 0.0
    """Submits per second."""
    burst: int = 0
    """The bucket's size; 0 with a rate = one second's worth (at least 1)."""
    daily: int = 0
    """Segments per local day (accounts only)."""
    monthly: int = 0
    """Segments per local month (accounts only)."""


def bucket_size(limit: Limit) -> float:
    return float(limit.burst) if limit.burst > 0 else max(1.0, limit.rate)


def is_empty(limit: Limit) -> bool:
    return not (limit.rate or limit.daily or limit.monthly)


SCOPES = ("account", "line", "operator")
"""``operator`` limits are keyed ``ACCOUNT/OPERATOR``."""


def operator_key(account: str, operator: str) -> str:
    return f"{account}/{operator}"


@dataclass(frozen=True, slots=True)
class LimitBook:
    """Every limit by scope, replaced whole when the registry changes."""

    accounts: dict[str, Limit] = field(default_factory=dict)
    lines: dict[str, Limit] = field(default_factory=dict)
    operators: dict[str, Limit] = field(default_factory=dict)
    """Keyed ``ACCOUNT/OPERATOR``."""

    def by_scope(self, scope: str) -> dict[str, Limit]:
        return {"account": self.accounts, "line": self.lines,
                "operator": self.operators}[scope]

    def with_operators(self) -> frozenset[str]:
        """Accounts that have at least one per-operator limit."""
        return frozenset(key.partition("/")[0] for key in self.operators)
