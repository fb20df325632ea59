"""Mutated SMPP PDUs over real TCP, for tests/faults/test_fuzz.py and benchmarks/fuzz.py.

Seeds are valid PDUs of every kind an ESME can send (and several it must not), written
here by hand from SMPP 3.4 rather than with Chapar's codec, so the codec is not used to
test itself.  Each seed keeps its fields apart, so a mutation can replace a whole string
field with non-ASCII and non-digit characters ('²' passes ``str.isdigit()`` but not
``int()``), besides flipping, truncating and extending bytes.  The RNG is seeded: a
failure reproduces with the same seed.

The driver keeps a few connections busy: each binds (a few do not), writes PDUs in
batches, and after every batch sends an enquire_link marker and waits for its answer,
so the router must have read and answered the whole batch before the next one is sent.
A connection the router closes (unbind, repeated garbage, a bind refused) is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import time
from dataclasses import dataclass, field

HEADER = struct.Struct(">IIII")
ENQUIRE_LINK, ENQUIRE_LINK_RESP = 0x00000015, 0x80000015
MARKER_BASE = 0x7F000000  # sequence numbers of our markers; fuzzed ones stay below

# Characters that look like digits (or almost) to one parser and not to another.
ODD = ["\u00b2", "\u00b3", "\u00b9", "\u00bd", "\u06f1", "\u0661", "\uff11", "\u2070",
       "\u00a0", "x", "+", "-", "_", " ", "#", "*", "\u00ff", "\u200c", "\u0640",
       "\u00e9", "\u4e00", "0x1F"]


def cstr(text: str | bytes) -> bytes:
    return (text if isinstance(text, bytes) else text.encode()) + b"\0"


# A seed: command_id and its body as parts; ("c", b) is a C-octet string (without its NUL),
# ("o", b) fixed octets, ("sm", b) sm_length + short_message, ("t", b) TLVs.
Part = tuple[str, bytes]


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def seeds(system_id: str, password: str, line: str, destination: str
          ) -> list[tuple[int, list[Part]]]:
    """Valid PDUs of every kind, as parts."""
    bind: list[Part] = [("c", system_id.encode()), ("c", password.encode()), ("c", b""),
                        ("o", b"\x34\x01\x01"), ("c", b"")]
    addr_src: list[Part] = [("o", b"\x01\x01"), ("c", line.encode())]
    addr_dst: list[Part] = [("o", b"\x01\x01"), ("c", destination.encode())]
    sm_tail: list[Part] = [("o", b"\x00\x00\x00"), ("c", b""), ("c", b""),
                           ("o", b"\x01\x00\x00\x00")]
    submit: list[Part] = [("c", b""), *addr_src, *addr_dst, *sm_tail, ("sm", b"hello")]
    ucs2 = "\u0644\u063a\u0648".encode("utf-16-be")
    udh = b"\x05\x00\x03\x2a\x02\x01" + b"part one"
    return [
        (0x00000002, bind),  # bind_transmitter
        (0x00000009, bind),  # bind_transceiver
        (0x00000001, bind),  # bind_receiver
        (0x00000004, submit),
        (0x00000004, [("c", b"CMT"), *addr_src, ("o", b"\x00\x00"), ("c", b"09121234567"),
                      ("o", b"\x40\x00\x00"), ("c", b""), ("c", b"000001000000000R"),
                      ("o", b"\x01\x00\x08\x00"), ("sm", udh),
                      ("t", tlv(0x020C, b"\x00\x2a") + tlv(0x020E, b"\x02"))]),
        (0x00000004, [("c", b""), *addr_src, *addr_dst, ("o", b"\x00\x00\x00"),
                      ("c", b""), ("c", b""), ("o", b"\x01\x00\x08\x00"), ("sm", b""),
                      ("t", tlv(0x0424, ucs2))]),
        (0x00000021, [("c", b""), *addr_src, ("o", b"\x02\x01\x01\x01"),  # submit_multi
                      ("c", destination.encode()), ("o", b"\x02"), ("c", b"list"),
                      *sm_tail, ("sm", b"multi")]),
        (0x00000103, [("c", b""), *addr_src, *addr_dst, ("o", b"\x00\x01\x00"),  # data_sm
                      ("t", tlv(0x0424, b"data"))]),
        (0x00000003, [("c", b"17a3f0c2b8d4e01"), *addr_src]),  # query_sm
        (0x00000008, [("c", b""), ("c", b"17a3f0c2b8d4e01"), *addr_src, *addr_dst]),
        (0x00000007, [("c", b"17a3f0c2b8d4e01"), *addr_src, ("c", b""), ("c", b""),
                      ("o", b"\x01\x00"), ("sm", b"new text")]),  # replace_sm
        (0x00000005, submit),  # deliver_sm: not an ESME's to send
        (0x80000004, [("c", b"abc")]),  # submit_sm_resp nobody asked for
        (0x80000005, [("c", b"")]),  # deliver_sm_resp
        (0x80000015, []),  # enquire_link_resp
        (0x80000000, []),  # generic_nack
        (0x00000102, [*addr_src, *addr_dst, ("t", tlv(0x0422, b"\x00"))]),  # alert
        (0x0000000B, [("c", system_id.encode()), ("c", password.encode())]),  # outbind
        (0x00000015, []),  # enquire_link
        (0x00000777, [("o", b"junk")]),  # unknown command
        (0x00000006, []),  # unbind
    ]


def build(parts: list[Part]) -> bytes:
    out = []
    for kind, value in parts:
        if kind == "c":
            out.append(value + b"\0")
        elif kind == "sm":
            out.append(bytes([len(value) & 0xFF]) + value)
        else:
            out.append(value)
    return b"".join(out)


def odd_string(rng: random.Random) -> bytes:
    """Digits mixed with characters int() or the address parsers refuse, sometimes long."""
    chars = [rng.choice(ODD) if rng.random() < 0.4 else rng.choice("0123456789")
             for _ in range(rng.choice((1, 3, 8, 12, 13, 20, 21, 40)))]
    text = "".join(chars)
    encoding = rng.choice(("latin-1", "utf-8", "utf-16-be"))
    return text.encode(encoding, errors="replace")


@dataclass
class Mutator:
    seed: int
    system_id: str
    password: str
    line: str = "1000"
    destination: str = "989121234567"
    rng: random.Random = field(init=False)
    pool: list[tuple[int, list[Part]]] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.pool = seeds(self.system_id, self.password, self.line, self.destination)

    def next(self, seq: int, allow_unbind: bool = True) -> tuple[bytes, bool]:
        """One PDU (maybe mutated) and whether the stream is desynchronised after it
        (command_length lies: the connection must be given up)."""
        rng = self.rng
        command_id, parts = rng.choice(self.pool)
        if command_id == 0x00000006 and not allow_unbind:
            command_id, parts = self.pool[3]
        what = rng.random()
        if what < 0.25:
            return HEADER.pack(16 + len(build(parts)), command_id, 0, seq) + build(parts), False
        if what < 0.55:  # every string field can hold odd characters
            strings = [i for i, (kind, _) in enumerate(parts) if kind == "c"]
            if strings:
                parts = list(parts)
                for i in rng.sample(strings, rng.randint(1, len(strings))):
                    parts[i] = ("c", odd_string(rng).replace(b"\0", b"?"))
            body = build(parts)
            return HEADER.pack(16 + len(body), command_id, 0, seq) + body, False
        body = bytearray(build(parts))
        if what < 0.70 and body:  # flip bits in the body
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        elif what < 0.82:  # truncate the body
            del body[rng.randrange(len(body) + 1):]
        elif what < 0.92:  # extend the body
            body += rng.randbytes(rng.randint(1, 64))
        elif what < 0.99:  # flip header fields other than the length
            command_id ^= 1 << rng.randrange(32)
            seq = rng.randrange(MARKER_BASE)
        else:  # command_length lies: shorter, longer or absurd
            length = rng.choice((0, 8, 15, 16 + len(body) + rng.randint(1, 32),
                                 max(16, 16 + len(body) - rng.randint(1, 8)), 0x7FFFFFFF))
            return HEADER.pack(length, command_id, 0, seq) + bytes(body), True
        return HEADER.pack(16 + len(body), command_id, 0, seq) + bytes(body), False


def bind_pdu(system_id: str, password: str, seq: int, command_id: int = 0x00000002) -> bytes:
    body = cstr(system_id) + cstr(password) + cstr("") + b"\x34\x00\x00" + cstr("")
    return HEADER.pack(16 + len(body), command_id, 0, seq) + body


@dataclass
class Stats:
    sent: int = 0
    answers: int = 0
    connections: int = 0
    closed_by_router: int = 0
    processed: int = 0
    """PDUs of batches whose marker was answered: the router read (and answered) them."""
    stalls: int = 0
    """A marker not answered in time while the connection stayed open."""
    bind_failures: int = 0


class Connection:
    """One fuzzing connection: the reader counts PDUs and notices markers and EOF."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 stats: Stats) -> None:
        self.reader, self.writer, self.stats = reader, writer, stats
        self.markers: dict[int, asyncio.Future[None]] = {}
        self.closed = asyncio.get_running_loop().create_future()
        self.bind_status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(16)
                length, command_id, status, seq = HEADER.unpack(head)
                if length > 16:
                    await self.reader.readexactly(length - 16)
                self.stats.answers += 1
                if command_id & 0x80000000 and command_id & 0xFF in (1, 2, 9) \
                        and not self.bind_status.done():
                    self.bind_status.set_result(status)
                if command_id == ENQUIRE_LINK_RESP and seq in self.markers:
                    self.markers.pop(seq).set_result(None)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(None)
            for future in self.markers.values():
                if not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        await self.task


async def _worker(port: int, mutator: Mutator, stats: Stats, budget: list[int],
                  deadline: float, batch: int, marker_timeout: float, bound: bool) -> None:
    rng = mutator.rng
    marker = MARKER_BASE + (id(mutator) & 0xFFFF) * 0x100
    while budget[0] > 0 and time.monotonic() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = Connection(reader, writer, stats)
        stats.connections += 1
        try:
            if bound:
                writer.write(bind_pdu(mutator.system_id, mutator.password, 1,
                                      rng.choice((0x00000002, 0x00000009))))
                status = await asyncio.wait_for(conn.bind_status, marker_timeout)
                if status != 0:
                    stats.bind_failures += 1
                    continue
            while budget[0] > 0 and time.monotonic() < deadline and not conn.closed.done():
                chunk = []
                desync = False
                for _ in range(min(batch, budget[0])):
                    data, desync = mutator.next(rng.randrange(2, MARKER_BASE),
                                                allow_unbind=rng.random() < 0.3)
                    chunk.append(data)
                    if desync:
                        break
                budget[0] -= len(chunk)
                stats.sent += len(chunk)
                marker = MARKER_BASE + (marker + 1) % 0xFFFFFF
                done = asyncio.get_running_loop().create_future()
                conn.markers[marker] = done
                with contextlib.suppress(ConnectionError):
                    writer.write(b"".join(chunk) + HEADER.pack(16, ENQUIRE_LINK, 0, marker))
                    await writer.drain()
                if desync:
                    break  # the router reads the rest as garbage: this stream is over
                try:
                    await asyncio.wait_for(asyncio.shield(done), marker_timeout)
                    if not conn.closed.done():
                        stats.processed += len(chunk)
                except TimeoutError:
                    if not conn.closed.done():
                        stats.stalls += 1
                    break
            if conn.closed.done():
                stats.closed_by_router += 1
        finally:
            await conn.close()


async def fuzz(port: int, count: int, seed: int, system_id: str, password: str,
               duration: float = 600.0, connections: int = 4, batch: int = 8,
               marker_timeout: float = 20.0, progress: float = 0.0) -> Stats:
    """Send ``count`` PDUs (or stop after ``duration`` seconds) over ``connections``
    concurrent connections; with four or more, the first never binds first (its PDUs
    meet the unbound session, and a fuzzed bind may bind it)."""
    stats = Stats()
    budget = [count]
    deadline = time.monotonic() + duration
    workers = [_worker(port, Mutator(seed * 1000 + i, system_id, password), stats, budget,
                       deadline, batch, marker_timeout, bound=i > 0 or connections < 4)
               for i in range(max(connections, 1))]

    async def report() -> None:
        started = time.monotonic()
        while progress > 0:
            await asyncio.sleep(progress)
            elapsed = time.monotonic() - started
            print(f"  {elapsed:6.1f} s  sent {stats.sent}  answers {stats.answers}  "
                  f"connections {stats.connections}", flush=True)

    reporter = asyncio.get_running_loop().create_task(report())
    try:
        await asyncio.gather(*workers)
    finally:
        reporter.cancel()
    return stats


def rss_kib(pid: int) -> int:
    """VmRSS of a process, KiB (Linux)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
