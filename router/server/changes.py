"""Operator changes reach the running router through the registry.

The CLI commits a row to ``changes`` with every write; this watcher polls SQLite's
``PRAGMA data_version`` (it moves only when another connection commits, and costs no
table read), reads the new change rows and applies them: reload an account and cut off
its sessions when it is no longer active, reload the domestic ranges, clear a lock.
With a 0.2 s poll a suspension closes live sessions well within the 1 s requirement.
"""

from __future__ import annotations

import asyncio

import structlog

from router.policy.auth import Authenticator
from router.server.esme import ServerState
from router.store.registry import Registry

log = structlog.get_logger("chapar.changes")


class RegistryWatcher:
    def __init__(self, registry: Registry, auth: Authenticator, state: ServerState,
                 interval: float = 0.2) -> None:
        self._registry = registry
        self._auth = auth
        self._state = state
        self._interval = interval
        self._version = registry.data_version()
        self._seq = registry.last_change()

    async def run(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(self._interval)
            self.poll()
            ticks += 1
            if ticks % 50 == 0:
                self._auth.sweep()

    def poll(self) -> None:
        version = self._registry.data_version()
        if version == self._version:
            return
        self._version = version
        for seq, kind, key in self._registry.changes_since(self._seq):
            self._seq = seq
            self.apply(kind, key)

    def apply(self, kind: str, key: str) -> None:
        if kind == "account":
            account = self._auth.reload_account(key)
            status = account.status if account else "deleted"
            log.info("account_changed", system_id=key, status=status)
            if status != "active":
                for conn in list(self._state.bound.get(key, ())):
                    conn.cut_off(f"account {status}")
        elif kind == "ranges":
            self._auth.reload_ranges()
        elif kind == "unlock":
            self._auth.lockout.unlock(key)
            log.info("lockout_cleared", key=key)
