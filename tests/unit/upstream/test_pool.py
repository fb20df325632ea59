"""The pool drains the outbound queue into carrier sessions as their windows allow (no
sockets: each connector gets an in-memory transport and a bind_resp fed as bytes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from router.dispatch.outbound import Outbound
from router.dispatch.settings import DispatchSettings
from router.model.messages import Message
from router.upstream.pool import Pool
from router.upstream.settings import UpstreamSettings
from tests.fakes import HEADER, Readers, Transport


class Reports:
    def on_results(self, results: list[Any], upstream: str = "") -> None: ...

    def on_deliver(self, pdus: list[Any], answer: Callable[[], None]) -> None:
        answer()

    def on_no_answer(self, messages: list[Any], reason: str, cause: object) -> None: ...




def bound_pool(outbound: Outbound, connections: int, window: int) -> tuple[Pool, list[Transport]]:
    pool = Pool(outbound, Reports())
    pool.add_upstream(UpstreamSettings(name="c", connections=connections, window=window))
    transports = []
    for connector in pool.connectors:
        transport = Transport(may_close=True)
        connector.connection_made(cast(Any, transport))
        bind_seq = HEADER.unpack(transport.written[:16])[3]
        connector.data_received(HEADER.pack(16 + 2, 0x80000009, 0, bind_seq) + b"C\0")
        transport.written = b""
        transports.append(transport)
    return pool, transports


def test_windows_are_filled_round_robin_and_the_rest_waits() -> None:
    """Each bound connection takes what its window allows; the rest stays queued."""
    async def run() -> tuple[list[int], int, int | None]:
        outbound = Outbound(DispatchSettings(), Readers(), asyncio.get_running_loop().call_later)
        pool, transports = bound_pool(outbound, connections=2, window=3)
        outbound.put([Message(i, "acc", b"\0" * 17 + b"\0\0\0\0\0\0\0\0\0\0")
                      for i in range(10, 18)])
        submits = [sum(f[0] == 0x04 for f in t.frames()) for t in transports]
        return submits, outbound.queued, pool.lowest_in_flight()

    sent, queued, lowest = asyncio.run(run())
    assert sent == [3, 3] and queued == 2
    assert lowest == 10, "the journal's recovery mark must not pass what is in flight"
