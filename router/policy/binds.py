"""An account's max_binds counted over every router process that shares Redis (issue 16
item 2: workers, nodes), not per process.

Each bind of an account with a max_binds takes a slot in Redis (one round trip a bind,
never a message) and gives it back when its connection ends.  A process that dies
cannot give its slots back: they lapse ``redis.bind_ttl`` seconds after its last
keep-alive (the limits' tick keeps them every third of that).  Redis unreachable: this process alone
decides, allowing ``local_share`` of the limit (at least one), logged once.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import structlog

from router.store.shared import RedisError, RedisState

log = structlog.get_logger("chapar.shared")

class SharedBinds:
    def __init__(self, state: RedisState, local_share: float, ttl: float) -> None:
        self._state = state
        self._local_share = local_share
        self.ttl = ttl
        self._held: dict[str, set[str]] = {}
        """account -> tokens of this process's live binds."""
        self._numbers = itertools.count(1)
        self._unreachable = False
        self._next_keep = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def take(self, account: str, limit: int, local: int) -> str | None:
        """A slot among the account's ``limit`` binds: its token, or None when every
        slot is taken (``local``: this process's binds of the account now)."""
        token = f"{self._state.store_id}#{next(self._numbers)}"
        try:
            taken = await self._state.take_bind(account, token, limit, self.ttl)
        except (RedisError, OSError) as exc:
            self._lost(exc)
            taken = local < max(1, math.floor(limit * self._local_share))
        else:
            self._back()
        if not taken:
            return None
        self._held.setdefault(account, set()).add(token)
        return token

    def drop(self, account: str, token: str) -> None:
        """The bind ended: its slot is given back (in the background; if that fails, it
        lapses with the keep-alives)."""
        held = self._held.get(account)
        if held is not None:
            held.discard(token)
            if not held:
                del self._held[account]
        task = asyncio.get_running_loop().create_task(self._drop(account, token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop(self, account: str, token: str) -> None:
        try:
            await self._state.drop_bind(account, token)
        except (RedisError, OSError) as exc:
            self._lost(exc)

    async def keep(self, now: float | None = None) -> None:
        """Called every tick: every ``ttl / 3`` the live binds are kept."""
        now = time.monotonic() if now is None else now
        if now < self._next_keep or not self._held:
            return
        self._next_keep = now + self.ttl / 3
        try:
            await self._state.keep_binds({a: sorted(t) for a, t in self._held.items()},
                                         self.ttl)
        except (RedisError, OSError) as exc:
            self._lost(exc)
        else:
            self._back()

    def _lost(self, exc: BaseException) -> None:
        if not self._unreachable:
            self._unreachable = True
            log.warning("binds_not_shared", error=str(exc), local_share=self._local_share)

    def _back(self) -> None:
        if self._unreachable:
            self._unreachable = False
            log.info("binds_shared_again")
