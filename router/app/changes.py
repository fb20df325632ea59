"""Operator changes reach the running router through the registry.

The CLI commits a row to ``changes`` with every write; this watcher polls the registry's
``data_version`` (SQLite's ``PRAGMA data_version`` moves only when another connection
commits and costs no table read; PostgreSQL's is a one-row counter, router/store/rows.py),
reads the new change rows and applies them: reload an account and cut off
its sessions when it is no longer active, reload the domestic ranges, clear a lock,
reload a line, swap in new number lists (loaded off the event loop).  With a 0.2 s poll a
suspension closes live sessions well within the 1 s requirement.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from router.app.build import Policy
from router.model.lines import LineBook
from router.model.numbersets import ListSnapshot, NumberSet
from router.policy.api_keys import ApiKeys
from router.policy.lists import ListRegistry
from router.server.state import ServerState
from router.store.lines import LineStore
from router.store.rows import DB_ERRORS
from router.store.settings import Place

log = structlog.get_logger("chapar.changes")

PURGE_EVERY = 86400.0  # expired whitelist entries stop counting at once; memory is purged daily


def _load_snapshot(path: Place) -> ListSnapshot:
    """In a worker thread, on a connection of its own."""
    with LineStore(path) as store:
        return store.load_snapshot()


def _load_optouts(path: Place, line: str) -> NumberSet:
    with LineStore(path) as store:
        return store.optouts(line)


class RegistryWatcher:
    def __init__(self, policy: Policy, state: ServerState, interval: float = 0.2) -> None:
        self._policy = policy
        self._state = state
        self._interval = interval
        registry = self._registry = policy.registry
        self._version = registry.data_version()
        self._seq = registry.last_change()
        self._lists_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lists_again = False
        self.api_keys: ApiKeys | None = None
        """The HTTP API's keys, when it runs: reloaded on an ``api_key`` change."""

    async def run(self) -> None:
        ticks = 0
        last_purge = time.time()
        while True:
            await asyncio.sleep(self._interval)
            ticks += 1
            try:
                self.poll()
                self._policy.pipeline.tick()
                if ticks % 25 == 0:
                    self._policy.pipeline.flush()
                if ticks % 50 == 0:
                    self._policy.auth.sweep()
                if time.time() - last_purge > PURGE_EVERY:
                    last_purge = time.time()
                    purged = self._policy.rules.lists.purge_expired(last_purge)
                    log.info("whitelists_purged", entries=purged)
            except DB_ERRORS as exc:  # a locked or unreachable registry: again next tick
                log.warning("registry_watch_failed", error=str(exc))

    def poll(self) -> None:
        """The changes since the last applied one.  The version is taken as seen, and a
        change as applied, only once done: a registry that stops answering half-way
        (PostgreSQL away, SQLite locked) leaves the rest, that change included, to the
        next poll (they are reloads: applying one again is harmless)."""
        version = self._registry.data_version()
        if version == self._version:
            return
        for seq, kind, key in self._registry.changes_since(self._seq):
            self.apply(kind, key)
            self._seq = seq
        self._version = version

    def apply(self, kind: str, key: str) -> None:
        if kind == "account":
            account = self._policy.auth.reload_account(key)
            status = account.status if account else "deleted"
            log.info("account_changed", system_id=key, status=status)
            if status != "active":
                for conn in list(self._state.bound.get(key, ())):
                    conn.cut_off(f"account {status}")
        elif kind == "ranges":
            self._policy.auth.reload_ranges()
        elif kind == "unlock":
            self._policy.auth.lockout.unlock(key)
            log.info("lockout_cleared", key=key)
        elif kind == "line":
            line = self._policy.lines.get_line(key)
            self._policy.rules.lines = self._policy.rules.lines.replaced(line, key)
            log.info("line_changed", line=key, status=line.status if line else "deleted",
                     kind=line.effective_kind if line else None)
        elif kind == "optout":  # one line's opt-outs: no need to reload the blacklist
            task = asyncio.get_running_loop().create_task(self._reload_optouts(key))
            self._tasks.add(task)  # held until done: the loop keeps only a weak reference
            task.add_done_callback(self._tasks.discard)
        elif kind == "list":
            self._reload_lists()
        elif kind == "limits":  # a few rows: the whole book is read and swapped
            self._policy.rules.limits = self._policy.limits.book()
            log.info("limits_changed", key=key)
        elif kind == "api_key" and self.api_keys is not None:
            self.api_keys.reload()

    def reload(self) -> dict[str, int]:
        """Everything from the registry again (the admin API's reload): accounts (cutting
        off sessions of those no longer active), ranges, lines; lists load in a thread."""
        accounts = self._registry.accounts()
        for account in accounts:
            self.apply("account", account.system_id)
        self._policy.auth.reload_ranges()
        self._policy.rules.lines = LineBook(self._policy.lines.lines())
        self._reload_lists()
        log.info("reloaded", accounts=len(accounts), lines=len(self._policy.rules.lines.by_number))
        return {"accounts": len(accounts), "lines": len(self._policy.rules.lines.by_number)}

    async def _reload_optouts(self, line: str) -> None:
        loop = asyncio.get_running_loop()
        optouts = await loop.run_in_executor(None, _load_optouts, self._policy.lines.path, line)
        self._policy.rules.lists.replace_optouts(line, optouts)
        log.info("optouts_loaded", line=line, count=len(optouts))

    def _reload_lists(self) -> None:
        """Load every list in a thread and swap them in whole; coalesce bursts."""
        if self._lists_task is not None and not self._lists_task.done():
            self._lists_again = True
            return
        self._lists_task = asyncio.get_running_loop().create_task(self._load_lists())

    async def _load_lists(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._lists_again = False
            started = time.monotonic()
            snapshot = await loop.run_in_executor(None, _load_snapshot, self._policy.lines.path)
            self._policy.rules.lists = ListRegistry(snapshot)
            log.info("lists_loaded", blacklist=len(snapshot.blacklist),
                     whitelists=len(snapshot.whitelists),
                     seconds=round(time.monotonic() - started, 3))
            if not self._lists_again:
                return
