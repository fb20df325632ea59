"""Receipts and MO for an account whose receiving session is bound to another router
(issue 16 item 2: workers, nodes), through Redis streams.

A carrier's receipt arrives at the router whose carrier connection sent the message;
the account's RX session may be bound to another worker or node.  Each router says in
Redis which accounts it has a receiving session of (``rx:ACCOUNT``, kept alive); a
router with queued items for an account it has no session of, that another router has,
offers them on the account's stream (``out:ACCOUNT``).  Whichever router has a session
takes them (a consumer group: each offer goes to one router), delivers them as its own,
and when the ESME answered ESME_ROK (or they were given up) tells the origin
(``done:ROUTER``), which closes them in its durable queue (the source of truth).

At least once: an offer not settled within ``timeout`` (the taker died, Redis lost it)
is queued again at its origin; a restart of the origin replays what its store still
holds.  Redis unreachable: nothing is offered, offers taken stay delivered locally,
logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable

import structlog

from router.dispatch.inbound import Inbound, Outgoing
from router.store.shared import Offer, RedisError, RedisState
from router.timer import within

log = structlog.get_logger("chapar.dlr")

PRESENCE_TTL = 3.0
"""Seconds a router's word that it has an account's session holds."""
BATCH = 1000
"""Items offered or taken per account a tick at most."""
STOP_WAIT = 2.0
"""Seconds a stop gives the last tick, and then the last report, at most."""


class Handoff:
    def __init__(self, state: RedisState, inbound: Inbound, interval: float = 0.1,
                 timeout: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._state = state
        self._inbound = inbound
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        inbound.remote_done = self._delivered
        self._advertised: set[str] = set()
        self._next_presence = 0.0
        self._offered: dict[int, tuple[float, Outgoing]] = {}
        """This router's items offered to others, by key: (when, the item)."""
        self._taken: dict[int, Offer] = {}
        """Offers taken from others, by the number their queued item carries."""
        self._numbers = itertools.count(1)
        self._settle: list[Offer] = []
        self._after = "0-0"
        self._unreachable = False
        self._stopping = False
        self.offered = self.taken = self.settled_here = 0

    async def run(self) -> None:
        """Ticks until ``close``; it is never cancelled inside a Redis call (a redis-py
        connection cancelled mid-command can leave the next call waiting)."""
        while not self._stopping:
            await self.tick()
            await asyncio.sleep(self._interval)

    async def close(self, running: asyncio.Task[None] | None = None) -> None:
        """Stopping: ``running`` (the ``run`` task) ends after its tick; what this
        router's sessions took is reported to its origins (else they would queue it
        again after ``timeout``); Redis is told it receives nothing.  Bounded: a Redis
        that does not answer cannot hold the stop."""
        self._stopping = True
        if running is not None:  # past STOP_WAIT it is cancelled
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await within(running, STOP_WAIT)
        try:
            await within(self._last_words(), STOP_WAIT)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("receipt_handoff_unreachable", error=str(exc), stopping=True)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await within(self._state.close(), STOP_WAIT)

    async def _last_words(self) -> None:
        await self._report()
        await self._state.advertise([], sorted(self._advertised), PRESENCE_TTL)

    async def tick(self) -> None:
        now = self._clock()
        try:
            await self._presence(now)
            await self._offer(now)
            await self._take()
            await self._report()
        except (RedisError, OSError) as exc:
            if not self._unreachable:
                self._unreachable = True
                log.warning("receipt_handoff_unreachable", error=str(exc))
            return
        if self._unreachable:
            self._unreachable = False
            log.info("receipt_handoff_reconnected")
        self._expire(now)

    async def _presence(self, now: float) -> None:
        receiving = set(self._inbound.receiving())
        stopped = self._advertised - receiving
        if receiving != self._advertised or now >= self._next_presence:
            await self._state.advertise(sorted(receiving), sorted(stopped), PRESENCE_TTL)
            self._advertised = receiving
            self._next_presence = now + PRESENCE_TTL / 3

    async def _offer(self, now: float) -> None:
        idle = self._inbound.unreceived()
        if not idle:
            return
        for account in await self._state.received_elsewhere(idle):
            items = self._inbound.take(account, BATCH)
            mine = [item for item in items if not item.remote and item.key >= 0]
            for item in items:
                if item.remote:  # its session here went away: its origin offers it again
                    self._taken.pop(item.remote, None)
            if not mine:
                continue
            try:
                await self._state.offer(account, [(i.key, i.attempts, i.body) for i in mine])
            except BaseException:  # not offered: back to the front of the queue here
                self._inbound.give_back(mine)
                raise
            self._offered.update((item.key, (now, item)) for item in mine)
            self.offered += len(mine)

    async def _take(self) -> None:
        receiving = self._inbound.receiving()
        if not receiving:
            return
        offers = await self._state.take_offers(receiving, BATCH)
        if not offers:
            return
        items = []
        at = time.time()
        for offer in offers:
            number = next(self._numbers)
            self._taken[number] = offer
            items.append(Outgoing(offer.account, offer.body, offer.attempts, -1, at, number))
        self.taken += len(items)
        self._inbound.accept_remote(items)

    def _delivered(self, items: list[Outgoing]) -> None:
        for item in items:
            offer = self._taken.pop(item.remote, None)
            if offer is not None:
                self._settle.append(offer)

    async def _report(self) -> None:
        if self._settle:
            settle, self._settle = self._settle, []
            try:
                await self._state.settle_offers(settle)
            except BaseException:
                self._settle[:0] = settle
                raise
        keys, self._after = await self._state.settled(self._after, 10 * BATCH)
        if keys:
            known = [key for key in keys if self._offered.pop(key, None) is not None]
            self.settled_here += len(known)
            self._inbound.forget_keys(known)

    def _expire(self, now: float) -> None:
        """Offers nobody settled within ``timeout``: queued here again."""
        late = [key for key, (at, _) in self._offered.items() if now - at > self._timeout]
        if late:
            items = [self._offered.pop(key)[1] for key in late]
            log.warning("receipt_handoff_expired", items=len(items), timeout=self._timeout)
            self._inbound.give_back(items)
