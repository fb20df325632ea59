"""``chapar sim``: a carrier SMSC on the same sans-IO core.

Accepts binds (any credentials unless some are set), answers submit_sm with unique
ids, and sends delivery receipts after ``receipt_delay`` seconds, a ``failure_ratio``
of them UNDELIV.  Due receipts go out in batches from one timer per connection, not a
timer per message.  ``record`` appends one JSON line per accepted message.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from pathlib import Path
from typing import IO, cast

import orjson
import structlog

from router.dlr import receipt
from router.smpp import codec
from router.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandId,
    CommandStatus,
    DeliverSm,
    MessageState,
    Pdu,
    SubmitSm,
    Tag,
)
from router.smpp.session import (
    MustClose,
    Role,
    Session,
    SessionConfig,
    State,
    Submit,
    Unbound,
)
from router.timer import DeadlineTimer
from router.upstream.settings import SimulatorSettings

log = structlog.get_logger("chapar.sim")


class Simulator:
    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self._server: asyncio.Server | None = None
        self._next_id = int(time.time()) << 24
        self._record: IO[bytes] | None = None
        self.connections: set[SimConnection] = set()
        self.submitted = 0
        self.receipts_sent = 0

    async def start(self) -> int:
        s = self.settings
        if s.record:
            record = Path(s.record)
            record.parent.mkdir(parents=True, exist_ok=True)
            self._record = record.open("ab")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SimConnection(self), s.host, s.port)
        port: int = self._server.sockets[0].getsockname()[1]
        log.info("simulator_listening", host=s.host, port=port)
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
        if self._record is not None:
            self._record.close()

    def take_ids(self, count: int) -> int:
        first = self._next_id
        self._next_id += count
        return first

    def record(self, entries: list[dict[str, object]]) -> None:
        if self._record is not None:
            self._record.write(b"".join(orjson.dumps(e) + b"\n" for e in entries))
            self._record.flush()

    def receiver_for(self, system_id: str, origin: SimConnection) -> SimConnection | None:
        if origin.can_receive:
            return origin
        for conn in self.connections:
            if conn.system_id == system_id and conn.can_receive:
                return conn
        return None


class SimConnection(asyncio.Protocol):
    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._loop = asyncio.get_running_loop()
        self.session = Session(Role.SMSC, SessionConfig(window=1024, inactivity_timeout=0,
                                                        enquire_link_interval=0),
                               now=self._loop.time())
        self._transport: asyncio.Transport | None = None
        self._due: deque[tuple[float, DeliverSm]] = deque()
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self.system_id = ""

    @property
    def can_receive(self) -> bool:
        return self.session.state in (State.BOUND_RX, State.BOUND_TRX)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._sim.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._sim.connections.discard(self)
        self._timer.cancel()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        events = self.session.receive_data(data, now)
        submits: list[SubmitSm] = []
        for event in events:
            if type(event) is Submit:
                submits.append(event.decode())
            elif isinstance(event, BindTransmitter | BindReceiver | BindTransceiver):
                self._bind(event, now)
            elif isinstance(event, Unbound | MustClose):
                self._write()
                self.close()
                return
            elif isinstance(event, Pdu) and not isinstance(event, DeliverSm):
                self.session.respond_frames(codec.response_frames(
                    event.command_id, [(event.sequence, CommandStatus.ESME_RINVCMDID)]))
        if submits:
            self._accept(submits, now)
        self._write()

    def _bind(self, bind: BindTransmitter | BindReceiver | BindTransceiver, now: float) -> None:
        s = self._sim.settings
        if s.system_id and bind.system_id != s.system_id:
            self.session.reject_bind(bind, CommandStatus.ESME_RINVSYSID)
        elif s.password and bind.password != s.password:
            self.session.reject_bind(bind, CommandStatus.ESME_RINVPASWD)
        else:
            self.system_id = bind.system_id
            for event in self.session.accept_bind(bind, "CHAPARSIM", now):
                if type(event) is Submit:
                    self._accept([event.decode()], now)
            return
        self._write()
        self.close()

    def _accept(self, submits: list[SubmitSm], now: float) -> None:
        sim = self._sim
        first = sim.take_ids(len(submits))
        frames = []
        records: list[dict[str, object]] = []
        for i, sm in enumerate(submits):
            message_id = f"{first + i:016x}"
            body = message_id.encode() + b"\0"
            frames.append(codec.encode_frame(CommandId.SUBMIT_SM_RESP, 0, sm.sequence, body))
            if sim.settings.record:
                records.append({"message_id": message_id, "system_id": self.system_id,
                                "source_addr": sm.source_addr,
                                "destination_addr": sm.destination_addr,
                                "data_coding": sm.data_coding,
                                "short_message": sm.short_message.hex(),
                                "registered_delivery": sm.registered_delivery})
            if sm.registered_delivery & 0x03:
                self._due.append((now + sim.settings.receipt_delay,
                                  self._receipt(sm, message_id)))
        sim.submitted += len(submits)
        sim.record(records)
        self.session.respond_frames(frames)

    def _receipt(self, sm: SubmitSm, message_id: str) -> DeliverSm:
        failed = random.random() < self._sim.settings.failure_ratio
        now = time.time()
        stat, state = ("UNDELIV", MessageState.UNDELIVERABLE) if failed else (
            "DELIVRD", MessageState.DELIVERED)
        text = receipt.compose_text(message_id, stat, "001" if failed else "000", now, now,
                                    receipt.excerpt(sm.short_message))
        return DeliverSm(0, 0, "", sm.dest_addr_ton, sm.dest_addr_npi, sm.destination_addr,
                         sm.source_addr_ton, sm.source_addr_npi, sm.source_addr, 0x04, 0, 0,
                         "", "", 0, 0, 0, 0, text.encode("latin-1"),
                         [(Tag.RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                          (Tag.MESSAGE_STATE, bytes([state]))])

    def _on_timer(self) -> None:
        """The session's own deadlines (timeouts, enquire_link), then the receipts due."""
        now = self._loop.time()
        if any(isinstance(e, MustClose) for e in self.session.handle_timer(now)):
            self._write()
            self.close()
            return
        due = self._due
        while due and due[0][0] <= now:
            _, pdu = due.popleft()
            target = self._sim.receiver_for(self.system_id, self)
            if target is None:
                log.warning("sim_receipt_undeliverable", system_id=self.system_id)
                continue
            target.session.send_request(pdu, now, None)
            target._write()
            self._sim.receipts_sent += 1
        self._write()

    def _write(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            data = self.session.data_to_send()
            if data:
                self._transport.write(data)
        self._timer.arm(self.session.next_deadline())
        if self._due:
            self._timer.arm(self._due[0][0])
