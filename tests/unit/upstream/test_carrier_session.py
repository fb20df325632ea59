"""The carrier connection driven in memory (no sockets): a congestion answer slows it
and costs no attempt; a response timeout sends nothing again; a late answer counts."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any, cast

from router.dispatch.settings import DispatchSettings
from router.model.messages import Message
from router.upstream.connector import Connector
from router.upstream.pool import Pool
from router.upstream.settings import UpstreamSettings

HEADER = struct.Struct(">IIII")


class Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def take(self) -> list[tuple[int, int]]:
        """(command_id, sequence) of everything written since the last take."""
        out, data = [], self.written
        while data:
            length, command_id, _, seq = HEADER.unpack(data[:16])
            out.append((command_id, seq))
            data = data[length:]
        self.written = b""
        return out


class Reports:
    def __init__(self) -> None:
        self.results: list[tuple[Message, int, str]] = []
        self.no_answer: list[Message] = []
        self.outbound: Any = None

    def on_results(self, results: list[tuple[Message, int, str]], upstream: str = "") -> None:
        self.results.extend(results)
        back = [m for m, status, _ in results if status == 0x58]
        if back:
            self.outbound.put(back, front=True)

    def on_deliver(self, pdus: list[Any], answer: Callable[[], None]) -> None:
        answer()

    def on_no_answer(self, messages: list[Message], reason: str, cause: object) -> None:
        self.no_answer.extend(messages)


class Readers:
    def set_paused(self, paused: bool) -> None: ...


def resp(seq: int, status: int = 0, message_id: bytes = b"c") -> bytes:
    body = b"" if status else message_id + b"\0"
    return HEADER.pack(16 + len(body), 0x80000004, status, seq) + body


async def bound(**settings: Any) -> tuple[Connector, Transport, Reports, Any]:
    from router.dispatch.outbound import Outbound

    loop = asyncio.get_running_loop()
    reports = Reports()
    outbound = Outbound(DispatchSettings(), Readers(), loop.call_later)
    reports.outbound = outbound
    pool = Pool(outbound, cast(Any, reports))
    pool.add_upstream(UpstreamSettings(name="c", **settings))
    connector = pool.connectors[0]
    transport = Transport()
    connector.connection_made(cast(Any, transport))
    connector.data_received(HEADER.pack(21, 0x80000009, 0, 1) + b"FAKE\0")
    transport.take()
    return connector, transport, reports, outbound


def messages(n: int) -> list[Message]:
    return [Message(id=i, account="a", body=b"\0" * 17, receipt=False) for i in range(n)]


def test_throttled_answers_slow_the_connection_and_go_back() -> None:
    async def run() -> None:
        connector, transport, reports, outbound = await bound(window=10)
        outbound.put(messages(10))
        sent = transport.take()
        assert len(sent) == 10
        # the carrier takes 2, throttles 8: they go back and wait for the pace
        connector.data_received(b"".join(resp(seq, 0x58 if i >= 2 else 0)
                                         for i, (_, seq) in enumerate(sent)))
        assert transport.take() == [] and outbound.queued == 8
        assert all(m.attempts == 0 for m, _, _ in reports.results)
        assert connector.sendable() == 0  # a wake-up is set for the next token
        for _ in range(100):
            await asyncio.sleep(0.02)
            if outbound.queued == 0:
                break
        assert outbound.queued == 0, "the paced connection never sent again"

    asyncio.run(run())


def test_timeout_resends_nothing_and_the_late_answer_counts() -> None:
    async def run() -> None:
        connector, transport, reports, outbound = await bound(window=4, response_timeout=0.2)
        outbound.put(messages(1))
        [(_, seq)] = transport.take()
        for _ in range(100):  # timed out: an enquire_link probe, no second submit
            await asyncio.sleep(0.01)
            if transport.written:
                break
        [(command_id, probe)] = transport.take()
        assert command_id == 0x00000015
        assert reports.no_answer == [] and outbound.queued == 0
        connector.data_received(HEADER.pack(16, 0x80000015, 0, probe) + resp(seq, 0, b"late"))
        assert not transport.closed
        assert [(m.id, s, c) for m, s, c in reports.results] == [(0, 0, "late")]

    asyncio.run(run())
