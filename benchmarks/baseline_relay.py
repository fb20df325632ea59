"""Baseline: the simplest correct batch-per-read asyncio SMPP 3.4 relay (design §3).

ESME --submit_sm--> relay --submit_sm--> carrier.  The ESME gets its submit_sm_resp,
carrying the carrier's message id, only after the carrier answered.  No policy, no
journal.  Every complete PDU of a read is handled in that read, and what a read produces
leaves in one ``transport.write`` per connection, in both directions.  Independent of
``router/`` on purpose: it is the yardstick Chapar is measured against.

    python benchmarks/baseline_relay.py --port 2775 --upstream-port 2776

Any bind is accepted.  There is no window towards the carrier beyond the ESMEs' own
windows (each submit is forwarded at once).  If the carrier link is lost, outstanding and
later submits are answered ESME_RSYSERR.  Prints {"event": "listening", ...} on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import struct
import sys
from typing import cast

_HEADER = struct.Struct(">IIII")
_unpack, _pack = _HEADER.unpack_from, _HEADER.pack
RESP = 0x80000000
GENERIC_NACK = 0x80000000
BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x01, 0x02, 0x09
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x04, 0x05, 0x06, 0x15
SUBMIT_SM_RESP = SUBMIT_SM | RESP
BINDS = frozenset({BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER})
ROK, RINVCMDLEN, RINVCMDID, RINVBNDSTS, RALYBND, RSYSERR = 0x00, 0x02, 0x03, 0x04, 0x05, 0x08
MAX_LENGTH = 65536
SYSTEM_ID = b"baseline\0"

Frame = tuple[int, int, int, bytes]  # command_id, command_status, sequence_number, body


def split(buf: bytes) -> tuple[list[Frame], bytes]:
    """Every complete PDU in ``buf`` and the incomplete rest; ValueError on a bad length."""
    frames: list[Frame] = []
    pos, end = 0, len(buf)
    while end - pos >= 16:
        length, command_id, status, sequence = _unpack(buf, pos)
        if not 16 <= length <= MAX_LENGTH:
            raise ValueError(sequence)
        if end - pos < length:
            break
        frames.append((command_id, status, sequence, buf[pos + 16:pos + length]))
        pos += length
    return frames, buf[pos:]


class Esme(asyncio.Protocol):
    """One ESME connection (we are the SMSC)."""

    def __init__(self, upstream: Carrier) -> None:
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.can_submit = False
        self.bound = False
        self.outstanding = 0  # submits forwarded and not yet answered
        self.unbinding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        out: list[bytes] = []
        try:
            frames, self.buf = split(self.buf + data if self.buf else data)
        except ValueError as exc:
            self.send([_pack(16, GENERIC_NACK, RINVCMDLEN, exc.args[0])])
            self.buf = b""
            if self.transport is not None:
                self.transport.close()
            return
        forward: list[tuple[int, bytes]] = []
        for command_id, _status, sequence, body in frames:
            if command_id == SUBMIT_SM:
                if self.can_submit and not self.unbinding:
                    forward.append((sequence, body))
                else:
                    out.append(_pack(16, SUBMIT_SM_RESP, RINVBNDSTS, sequence))
            elif command_id == ENQUIRE_LINK:
                out.append(_pack(16, ENQUIRE_LINK | RESP, ROK, sequence))
            elif command_id in BINDS:
                if self.bound:
                    out.append(_pack(16, command_id | RESP, RALYBND, sequence))
                else:
                    self.bound = True
                    self.can_submit = command_id != BIND_RECEIVER
                    out.append(_pack(16 + len(SYSTEM_ID), command_id | RESP, ROK, sequence))
                    out.append(SYSTEM_ID)
            elif command_id == UNBIND:
                out.append(_pack(16, UNBIND | RESP, ROK, sequence))
                self.unbinding = True
            elif not command_id & RESP:  # unknown or unsupported request
                out.append(_pack(16, GENERIC_NACK, RINVCMDID, sequence))
            # responses from the ESME (enquire_link_resp, generic_nack, ...) need nothing
        if forward:
            self.upstream.forward(self, forward)
        self.send(out)

    def send(self, parts: list[bytes]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if parts:
            transport.write(b"".join(parts))
        if self.unbinding and self.outstanding == 0:
            transport.close()


class Carrier(asyncio.Protocol):
    """The one client session to the carrier (we are an ESME bound as transceiver)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.seq = 0
        self.pending: dict[int, tuple[Esme, int]] = {}  # our sequence -> (ESME, its sequence)
        self.bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def next_seq(self) -> int:
        self.seq = self.seq + 1 if self.seq < 0x7FFFFFFF else 1
        return self.seq

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        # system_id "baseline", password "", system_type "", interface_version 3.4,
        # addr_ton 0, addr_npi 0, address_range ""
        body = b"baseline\0\0\0\x34\x00\x00\0"
        self.transport.write(_pack(16 + len(body), BIND_TRANSCEIVER, 0, self.next_seq()) + body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        answers: dict[Esme, list[bytes]] = {}
        for esme, sequence in self.pending.values():
            esme.outstanding -= 1
            answers.setdefault(esme, []).append(_pack(16, SUBMIT_SM_RESP, RSYSERR, sequence))
        self.pending.clear()
        for esme, parts in answers.items():
            esme.send(parts)
        if not self.bound.done():
            self.bound.set_result(RSYSERR)
        if not self.lost.done():
            self.lost.set_result(None)

    def forward(self, esme: Esme, submits: list[tuple[int, bytes]]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            esme.send([_pack(16, SUBMIT_SM_RESP, RSYSERR, sequence) for sequence, _ in submits])
            return
        parts: list[bytes] = []
        pending = self.pending
        for sequence, body in submits:
            seq = self.next_seq()
            pending[seq] = (esme, sequence)
            parts.append(_pack(16 + len(body), SUBMIT_SM, 0, seq))
            parts.append(body)
        esme.outstanding += len(submits)
        transport.write(b"".join(parts))

    def data_received(self, data: bytes) -> None:
        try:
            frames, self.buf = split(self.buf + data if self.buf else data)
        except ValueError:
            if self.transport is not None:
                self.transport.close()
            return
        out: list[bytes] = []
        answers: dict[Esme, list[bytes]] = {}
        pending = self.pending
        close = False
        for command_id, status, sequence, body in frames:
            if command_id in (SUBMIT_SM_RESP, GENERIC_NACK):
                origin = pending.pop(sequence, None)
                if origin is None:
                    continue  # a nack for something else, or a late duplicate
                esme, esme_sequence = origin
                esme.outstanding -= 1
                parts = answers.get(esme)
                if parts is None:
                    parts = answers[esme] = []
                body = body if status == ROK else b""  # no body on an error response
                parts.append(_pack(16 + len(body), SUBMIT_SM_RESP, status, esme_sequence))
                parts.append(body)
            elif command_id == DELIVER_SM:  # receipts are not relayed by the baseline
                out.append(_pack(17, DELIVER_SM | RESP, ROK, sequence) + b"\0")
            elif command_id == ENQUIRE_LINK:
                out.append(_pack(16, ENQUIRE_LINK | RESP, ROK, sequence))
            elif command_id == UNBIND:
                out.append(_pack(16, UNBIND | RESP, ROK, sequence))
                close = True
            elif command_id == BIND_TRANSCEIVER | RESP:
                if not self.bound.done():
                    self.bound.set_result(status)
            elif not command_id & RESP:
                out.append(_pack(16, GENERIC_NACK, RINVCMDID, sequence))
        for esme, parts in answers.items():
            esme.send(parts)
        transport = self.transport
        if out and transport is not None:
            transport.write(b"".join(out))
            if close:
                transport.close()

    def unbind(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_pack(16, UNBIND, 0, self.next_seq()))


async def main(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    carrier = Carrier()
    await loop.create_connection(lambda: carrier, args.upstream_host, args.upstream_port)
    status = await asyncio.wait_for(carrier.bound, 10)
    if status != ROK:
        print(f"baseline_relay: carrier refused the bind: 0x{status:08x}", file=sys.stderr)
        return 1
    server = await loop.create_server(lambda: Esme(carrier), args.host, args.port,
                                      reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "port": port, "pid": os.getpid()}),
          file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    carrier.lost.add_done_callback(lambda _: stop.set())
    await stop.wait()
    server.close()
    carrier.unbind()
    await asyncio.wait([carrier.lost], timeout=2)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775, help="0 picks a free port")
    parser.add_argument("--upstream-host", default="127.0.0.1")
    parser.add_argument("--upstream-port", type=int, default=2776)
    arguments = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        sys.exit(asyncio.run(main(arguments)))
    sys.exit(uvloop.run(main(arguments)))
