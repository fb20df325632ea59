"""dispatch/handoff.py against a real redis-server (pytest-redis): two routers' receipt
queues (Inbound over InboxRows, the store-neutral part of the durable queue), one with
the account's receiving session.  issue 12: the router that got a receipt keeps it until
the ESME took it, wherever that ESME is bound; issue 16 item 2."""

from __future__ import annotations

import asyncio

from router.dispatch.handoff import Handoff
from router.dispatch.inbound import Inbound, Outgoing
from router.store.inbox import InboxRows
from router.store.settings import RedisSettings
from router.store.shared import RedisState
from tests.conftest import SharedRedis


class Session:
    """A receiving session that keeps what it is given (answers when told)."""

    account = "acc"

    def __init__(self) -> None:
        self.got: list[Outgoing] = []

    def receipt_window(self) -> int:
        return 100 - len(self.got)

    def deliver(self, items: list[Outgoing]) -> None:
        self.got += items


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class Router:
    def __init__(self, shared: SharedRedis, name: str) -> None:
        self.rows = InboxRows()
        self.inbound = Inbound(100, 3, lambda delay, call: None, self.rows)
        self.clock = Clock()
        state = RedisState(RedisSettings(url=shared.url, prefix=shared.prefix), name)
        self.handoff = Handoff(state, self.inbound, timeout=30.0, clock=self.clock)


def test_offered_taken_answered_and_closed_at_the_origin(shared_redis: SharedRedis) -> None:
    async def run() -> None:
        origin, taker = Router(shared_redis, "a"), Router(shared_redis, "b")
        session = Session()
        taker.inbound.attach(session)
        origin.inbound.enqueue("acc", [b"r1", b"r2", b"r3"])
        assert origin.rows.open_batches == 1
        for step in (taker, origin, taker):  # says it receives; offers; takes
            await step.handoff.tick()
        assert [item.body for item in session.got] == [b"r1", b"r2", b"r3"]
        assert origin.inbound.queued("acc") == 0 and origin.rows.open_batches == 1
        taker.inbound.on_answers([(item, 0) for item in session.got])  # ESME_ROK
        await taker.handoff.tick()  # tells the origin
        await origin.handoff.tick()
        assert origin.rows.open_batches == 0, "the origin's record still holds them"
        assert (origin.handoff.offered, taker.handoff.taken,
                origin.handoff.settled_here) == (3, 3, 3)

    asyncio.run(run())


def test_an_offer_nobody_settles_goes_back_to_its_origin(shared_redis: SharedRedis) -> None:
    """The taker died with the items (never answered): after ``timeout`` the origin
    queues them again, and delivers them itself once a session binds there."""
    async def run() -> None:
        origin, taker = Router(shared_redis, "a"), Router(shared_redis, "b")
        taker.inbound.attach(Session())
        origin.inbound.enqueue("acc", [b"r1", b"r2"])
        for step in (taker, origin, taker):
            await step.handoff.tick()
        assert origin.inbound.queued("acc") == 0
        origin.clock.now += 31.0
        await origin.handoff.tick()
        assert origin.inbound.queued("acc") == 2
        mine = Session()
        origin.inbound.attach(mine)
        assert [item.body for item in mine.got] == [b"r1", b"r2"]

    asyncio.run(run())


def test_nothing_is_offered_while_nobody_receives_elsewhere(shared_redis: SharedRedis
                                                             ) -> None:
    async def run() -> None:
        origin = Router(shared_redis, "a")
        origin.inbound.enqueue("acc", [b"r1"])
        await origin.handoff.tick()
        assert origin.inbound.queued("acc") == 1 and origin.handoff.offered == 0

    asyncio.run(run())


def test_an_offer_redis_did_not_take_stays_queued_at_its_origin(
        shared_redis: SharedRedis) -> None:
    """Redis fails between taking the items off the queue and offering them: they go
    back to the front of the origin's queue at once, not after the timeout."""
    async def run() -> None:
        origin, taker = Router(shared_redis, "a"), Router(shared_redis, "b")
        taker.inbound.attach(Session())
        origin.inbound.enqueue("acc", [b"r1", b"r2"])
        await taker.handoff.tick()

        async def fails(account: str, items: list[tuple[int, int, bytes]]) -> None:
            raise ConnectionError("redis gone")

        origin.handoff._state.offer = fails  # type: ignore[method-assign]
        await origin.handoff.tick()
        assert origin.inbound.queued("acc") == 2 and origin.handoff.offered == 0

    asyncio.run(run())
