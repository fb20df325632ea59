"""Brute-force lockout: N failures of one key within a window lock it for a period.

Keys are ``ip:<address>`` and ``sid:<system_id>``.  Pure state with an explicit
``now``; the caller persists locks (so operators see and clear them) and logs them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class LockoutPolicy:
    max_failures: int = 5
    window: float = 300.0
    lock_for: float = 900.0


def ip_key(ip: str) -> str:
    return f"ip:{ip}"


def system_id_key(system_id: str) -> str:
    return f"sid:{system_id}"


class Lockout:
    def __init__(self, policy: LockoutPolicy) -> None:
        self.policy = policy
        self._failures: dict[str, deque[float]] = {}
        self._locked: dict[str, float] = {}

    def locked_until(self, key: str, now: float) -> float | None:
        until = self._locked.get(key)
        if until is None:
            return None
        if until <= now:
            del self._locked[key]
            return None
        return until

    def fail(self, key: str, now: float) -> float | None:
        """Count a failure; returns the lock expiry when this failure locks the key."""
        policy = self.policy
        failures = self._failures.setdefault(key, deque())
        failures.append(now)
        while failures and failures[0] <= now - policy.window:
            failures.popleft()
        if len(failures) >= policy.max_failures:
            failures.clear()
            until = now + policy.lock_for
            self._locked[key] = until
            return until
        return None

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)

    def lock(self, key: str, until: float) -> None:
        self._locked[key] = until

    def unlock(self, key: str) -> None:
        self._locked.pop(key, None)
        self._failures.pop(key, None)

    def sweep(self, now: float) -> None:
        """Forget stale counters so an address scan cannot grow memory without bound."""
        window = self.policy.window
        for key in [k for k, f in self._failures.items() if not f or f[-1] <= now - window]:
            del self._failures[key]
        for key in [k for k, until in self._locked.items() if until <= now]:
            del self._locked[key]

    def locks(self) -> dict[str, float]:
        return dict(self._locked)
