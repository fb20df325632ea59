"""Flow control of one ESME connection and the connection gate, in memory (issue 9: D2,
D3): reading stops while the peer's answers are unread and while PDUs past
``max_pdus_per_read`` wait for a later loop turn; new connections are admitted per
address under a cap and a rate."""

from __future__ import annotations

import asyncio
import struct
from typing import Any, cast

from router.server.esme import EsmeConnection
from router.server.gate import GLOBAL, PER_IP, RATE, ConnectionGate, GateLimits, address_key
from router.server.settings import SmppSettings
from router.server.state import ServerState

HEADER = struct.Struct(">IIII")


class Transport:
    """Records writes and whether it is being read."""

    def __init__(self, peer: str = "127.0.0.1") -> None:
        self.written = b""
        self.reading = True
        self.pauses = 0
        self.limits: tuple[int | None, int | None] = (None, None)
        self.closing = False
        self.peer = peer

    def write(self, data: bytes) -> None:
        self.written += data

    def get_extra_info(self, name: str) -> Any:
        return (self.peer, 5000) if name == "peername" else None

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        assert self.reading, "paused twice"
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        assert not self.reading, "resumed twice"
        self.reading = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.limits = (high, low)

    def close(self) -> None:
        self.closing = True

    abort = close

    def sequences(self) -> list[int]:
        out, data = [], self.written
        while data:
            length, _, _, seq = HEADER.unpack(data[:16])
            out.append(seq)
            data = data[length:]
        return out


def enquire_links(first: int, count: int) -> bytes:
    return b"".join(HEADER.pack(16, 0x15, 0, seq) for seq in range(first, first + count))


def connection(state: ServerState, smpp: SmppSettings, transport: Transport
               ) -> EsmeConnection:
    conn = EsmeConnection(state, smpp, cast(Any, None), cast(Any, None), cast(Any, None),
                          cast(Any, None))
    conn.connection_made(cast(Any, transport))
    return conn


def test_a_peer_not_reading_its_answers_is_not_read() -> None:
    async def run() -> None:
        transport = Transport()
        conn = connection(ServerState(), SmppSettings(write_buffer_limit=4096), transport)
        assert transport.limits == (4096, 1024)
        conn.data_received(enquire_links(1, 10))
        conn.pause_writing()  # what the transport calls past the high-water mark
        assert not transport.reading
        conn.resume_writing()
        assert transport.reading

    asyncio.run(run())


def test_at_most_max_pdus_per_read_per_loop_turn() -> None:
    """1,000 PDUs in one read: 100 answered at once, reading paused, the rest 100 a
    turn on later turns (call_soon), then reading resumes."""
    async def run() -> None:
        transport = Transport()
        conn = connection(ServerState(), SmppSettings(max_pdus_per_read=100), transport)
        conn.data_received(enquire_links(1, 1000))
        assert transport.sequences() == list(range(1, 101))
        assert not transport.reading
        await asyncio.sleep(0)  # one loop turn: one more batch
        assert transport.sequences() == list(range(1, 201))
        for _ in range(20):
            await asyncio.sleep(0)
        assert transport.sequences() == list(range(1, 1001))
        assert transport.reading
        assert transport.pauses == 1

    asyncio.run(run())


def test_a_backlog_waits_while_answers_are_unread() -> None:
    async def run() -> None:
        transport = Transport()
        conn = connection(ServerState(), SmppSettings(max_pdus_per_read=10), transport)
        conn.data_received(enquire_links(1, 50))
        conn.pause_writing()
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(transport.sequences()) <= 20  # at most the turn already scheduled
        before = len(transport.sequences())
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(transport.sequences()) == before
        assert not transport.reading
        conn.resume_writing()
        for _ in range(10):
            await asyncio.sleep(0)
        assert transport.sequences() == list(range(1, 51))
        assert transport.reading

    asyncio.run(run())


def test_dispatch_backpressure_and_write_pause_combine() -> None:
    """Reading resumes only when no reason to pause is left."""
    async def run() -> None:
        state = ServerState()
        transport = Transport()
        conn = connection(state, SmppSettings(), transport)
        state.set_paused(True)
        conn.pause_writing()
        assert not transport.reading
        state.set_paused(False)
        assert not transport.reading
        conn.resume_writing()
        assert transport.reading

    asyncio.run(run())


def test_refused_connections_are_closed_and_not_counted() -> None:
    async def run() -> None:
        state = ServerState()
        smpp = SmppSettings(max_connections_per_ip=2)
        conns = [connection(state, smpp, Transport()) for _ in range(2)]
        extra = Transport()
        connection(state, smpp, extra)
        assert extra.closing
        assert state.refused_connections == 1
        other = Transport("127.0.0.2")
        connection(state, smpp, other)
        assert not other.closing
        conns[0].connection_lost(None)
        assert state.gate.open == {"127.0.0.1": 1, "127.0.0.2": 1}
        assert not [c for c in conns[1:] if c not in state.connections]

    asyncio.run(run())


# --- the gate ----------------------------------------------------------------------------


def test_gate_caps_per_address_and_in_total() -> None:
    gate = ConnectionGate()
    limits = GateLimits(max_connections=5, max_per_ip=2, rate_per_ip=0, burst_per_ip=0)
    assert [gate.admit("a", 0.0, limits) for _ in range(3)] == [None, None, PER_IP]
    assert [gate.admit(k, 0.0, limits) for k in "bbc"] == [None, None, None]
    assert gate.admit("d", 0.0, limits) == GLOBAL
    gate.release("a")
    assert gate.admit("a", 0.0, limits) is None
    assert gate.total == 5


def test_gate_rate_is_a_token_bucket_per_address() -> None:
    gate = ConnectionGate()
    limits = GateLimits(max_connections=100, max_per_ip=0, rate_per_ip=2, burst_per_ip=3)
    admitted = [gate.admit("a", 0.0, limits) for _ in range(5)]
    assert admitted == [None, None, None, RATE, RATE]
    assert gate.admit("b", 0.0, limits) is None  # another address has its own bucket
    assert gate.admit("a", 0.4, limits) == RATE  # 0.8 of a token
    assert gate.admit("a", 0.5, limits) is None  # 1.0
    assert gate.admit("a", 0.5, limits) == RATE
    assert [gate.admit("a", 10.0, limits) for _ in range(4)] == [None, None, None, RATE]


def test_gate_buckets_stay_bounded() -> None:
    gate = ConnectionGate()
    limits = GateLimits(max_connections=10, max_per_ip=0, rate_per_ip=1, burst_per_ip=1)
    for n in range(1000):
        gate.admit(f"10.0.{n // 256}.{n % 256}", n * 0.01, limits)
        gate.release(f"10.0.{n // 256}.{n % 256}")
    assert len(gate._buckets) <= 4 * limits.max_connections


def test_address_keys() -> None:
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key("not an address") == "not an address"
