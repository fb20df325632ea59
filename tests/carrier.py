"""A small fake carrier SMSC for the tests: a raw asyncio server on 127.0.0.1 that speaks
SMPP through Chapar's own codec (router.smpp), in a thread of its own so that plain
synchronous tests can drive it.

Unlike the built-in simulator it decides nothing by itself beyond answering: the test
chooses the message id each submit_sm_resp carries (hex, decimal, anything) and sends
the receipts and MOs it wants, byte for byte.  Everything it receives is recorded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from router.smpp import codec
from router.smpp.framing import FrameReader
from router.smpp.pdu import DataSm, DeliverSm, SubmitSm, Tag

BIND_IDS = {0x00000001, 0x00000002, 0x00000009}


@dataclass
class Connection:
    transport: asyncio.Transport
    reader: FrameReader = field(default_factory=FrameReader)
    next_seq: int = 1


class FakeCarrier:
    """``message_id(n)`` gives the id of the n-th accepted submit_sm (n from 1)."""

    def __init__(self, message_id: Callable[[int], str] = lambda n: f"{n:x}") -> None:
        self.message_id = message_id
        self.port = 0
        self.connections_made = 0
        self.binds = 0
        self.submits: list[tuple[SubmitSm, str]] = []  # (PDU, id we answered with)
        self.deliver_resps: dict[int, int] = {}  # our deliver_sm sequence -> status
        self.data_resps: dict[int, int] = {}  # our data_sm sequence -> status
        self.other: list[tuple[int, int]] = []  # (command_id, sequence) of anything else
        self._conns: list[Connection] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    # --- life ---------------------------------------------------------------------

    def start(self) -> FakeCarrier:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> int:
        self._server = await self._loop.create_server(self._protocol, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def stop(self) -> None:
        async def close() -> None:
            for conn in self._conns:
                conn.transport.abort()
            if self._server is not None:
                self._server.close()
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # --- the SMPP side ------------------------------------------------------------

    def _protocol(self) -> asyncio.Protocol:
        carrier = self

        class Protocol(asyncio.Protocol):
            conn: Connection

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                self.conn = Connection(transport)
                with carrier._lock:
                    carrier._conns.append(self.conn)
                    carrier.connections_made += 1

            def data_received(self, data: bytes) -> None:
                out = [carrier._answer(self.conn, frame) for frame in self.conn.reader.feed(data)]
                self.conn.transport.write(b"".join(out))

            def connection_lost(self, exc: Exception | None) -> None:
                with carrier._lock:
                    if self.conn in carrier._conns:
                        carrier._conns.remove(self.conn)

        return Protocol()

    def _answer(self, conn: Connection, frame: tuple[int, int, int, bytes]) -> bytes:
        command_id, status, seq, body = frame
        with self._lock:
            if command_id in BIND_IDS:
                self.binds += 1
                return codec.encode_frame(command_id | 0x80000000, 0, seq, b"FAKE\0")
            if command_id == 0x00000004:
                pdu = codec.decode(command_id, status, seq, body)
                assert isinstance(pdu, SubmitSm)
                message_id = self.message_id(len(self.submits) + 1)
                self.submits.append((pdu, message_id))
                return codec.encode_frame(0x80000004, 0, seq, message_id.encode() + b"\0")
            if command_id == 0x80000005:
                self.deliver_resps[seq] = status
                return b""
            if command_id == 0x80000103:
                self.data_resps[seq] = status
                return b""
            if command_id == 0x00000015:
                return codec.encode_frame(0x80000015, 0, seq, b"")
            if command_id == 0x00000006:
                return codec.encode_frame(0x80000006, 0, seq, b"")
            self.other.append((command_id, seq))
            return b""

    # --- what a test does ---------------------------------------------------------

    def deliver(self, pdu: DeliverSm | DataSm) -> int:
        """Send ``pdu`` on the newest open connection; returns the sequence used."""
        def send() -> int:
            conn = self._conns[-1]
            seq = conn.next_seq = conn.next_seq + 1
            pdu.sequence = seq
            conn.transport.write(codec.encode(pdu))
            return seq
        return asyncio.run_coroutine_threadsafe(_call(send), self._loop).result(10)

    def wait(self, done: Callable[[FakeCarrier], bool], timeout: float = 15.0) -> None:
        """Poll until ``done(self)``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if done(self):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"fake carrier: timed out ({self.binds} binds, {len(self.submits)} "
                    f"submits, deliver_sm answers {self.deliver_resps})")
            time.sleep(0.02)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)


async def _call(fn: Callable[[], int]) -> int:
    return fn()


def receipt(message_id: str, source: str, destination: str, stat: str = "DELIVRD",
            tlv_id: bool = True) -> DeliverSm:
    """A receipt as a carrier would send it: the id in the text and, with ``tlv_id``, in
    receipted_message_id; message_state 2 (delivered)."""
    text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2611221200 "
            f"done date:2611221201 stat:{stat} err:000 text:hello")
    tlvs = [(Tag.MESSAGE_STATE, b"\x02")]
    if tlv_id:
        tlvs.insert(0, (Tag.RECEIPTED_MESSAGE_ID, message_id.encode("latin-1") + b"\0"))
    return DeliverSm(source_addr_ton=1, source_addr_npi=1, source_addr=source,
                     dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination,
                     esm_class=0x04, short_message=text.encode("latin-1"), tlvs=tlvs)


def mo(source: str, destination: str, text: bytes, data_coding: int = 0) -> DeliverSm:
    """A subscriber's message to a line (esm_class 0)."""
    return DeliverSm(source_addr_ton=1, source_addr_npi=1, source_addr=source,
                     dest_addr_ton=0, dest_addr_npi=0, destination_addr=destination,
                     data_coding=data_coding, short_message=text)
