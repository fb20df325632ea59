"""One ESME connection: asyncio glue around the sans-IO session.

Per read: feed the session, sort the events, hand the accepted submits to the intake
as one batch, write everything produced in one ``transport.write``.  Binds pause
reading while argon2 runs in its thread pool, so PDUs pipelined behind a bind wait in
the kernel instead of in memory.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import cast

import structlog

from router.config import SmppConfig
from router.dlr.relay import Outgoing, ReceiptRelay
from router.logs import sampled
from router.policy.auth import Authenticator
from router.policy.pipeline import Pipeline, Refusal, status_for
from router.server.intake import Intake
from router.smpp import codec
from router.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CancelSm,
    CommandStatus,
    DataSm,
    GenericNack,
    Pdu,
    QuerySm,
    ReplaceSm,
    SubmitMulti,
)
from router.smpp.session import (
    Answered,
    Event,
    MustClose,
    Role,
    Session,
    SessionConfig,
    State,
    Submit,
    TimedOut,
    Unbound,
)
from router.store.registry import Account
from router.timer import DeadlineTimer

log = structlog.get_logger("chapar.server")

_resp_header = struct.Struct(">IIII").pack

# Optional operations Chapar decodes but does not perform yet, and the status each gets.
UNSUPPORTED: dict[type[Pdu], int] = {
    QuerySm: CommandStatus.ESME_RQUERYFAIL,
    CancelSm: CommandStatus.ESME_RCANCELFAIL,
    ReplaceSm: CommandStatus.ESME_RREPLACEFAIL,
    SubmitMulti: CommandStatus.ESME_RINVCMDID,
    DataSm: CommandStatus.ESME_RINVCMDID,
}


@dataclass(slots=True)
class ServerState:
    """Runtime state shared by the connections of one listener (no globals)."""

    connections: set[EsmeConnection] = field(default_factory=set)
    bound: dict[str, set[EsmeConnection]] = field(default_factory=dict)
    paused: bool = False
    refused_connections: int = 0
    failed_decisions: int = 0

    def live_binds(self, system_id: str) -> int:
        return len(self.bound.get(system_id, ()))


class EsmeConnection(asyncio.Protocol):
    def __init__(self, state: ServerState, smpp: SmppConfig, auth: Authenticator,
                 pipeline: Pipeline, intake: Intake, relay: ReceiptRelay) -> None:
        self._state = state
        self._max_connections = smpp.max_connections
        self._pipeline = pipeline
        self._intake = intake
        self._relay = relay
        self._auth = auth
        self._loop = asyncio.get_running_loop()
        self.session = Session(Role.SMSC, SessionConfig(
            max_pdu_length=smpp.max_pdu_length, window=smpp.window,
            inbound_window=smpp.inbound_window,
            session_init_timeout=smpp.session_init_timeout,
            enquire_link_interval=smpp.enquire_link_interval,
            inactivity_timeout=smpp.inactivity_timeout,
            response_timeout=smpp.response_timeout), now=self._loop.time())
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._peer_addr: tuple[str, int] = ("", 0)
        self._account: Account | None = None
        self._receiver = False
        self._binding = False
        self._bind_task: asyncio.Task[None] | None = None
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self.closed = self._loop.create_future()

    @property
    def account(self) -> str:
        return self._account.system_id if self._account else ""

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        if peer:
            self._peer_addr = (str(peer[0]), int(peer[1]))
        self._peer = f"{self._peer_addr[0]}:{self._peer_addr[1]}"
        state = self._state
        if len(state.connections) >= self._max_connections:
            state.refused_connections += 1
            if sampled(state.refused_connections):
                log.warning("connection_limit", peer=self._peer, limit=self._max_connections,
                            refused_total=state.refused_connections)
            self._transport.abort()
            return
        state.connections.add(self)
        if self._state.paused:
            self._transport.pause_reading()
        self._flush()

    def data_received(self, data: bytes) -> None:
        events = self.session.receive_data(data, self._loop.time())
        if events:
            self._handle(events)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        if self._account is not None:
            self._state.bound.get(self._account.system_id, set()).discard(self)
        self._timer.cancel()
        unanswered = [c for c in self.session.abandon() if type(c) is Outgoing]
        if self._receiver:
            self._relay.detach(self, unanswered)
        if self._account is not None:
            log.info("unbound", system_id=self.account, peer=self._peer,
                     error=str(exc) if exc else None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_reading(self) -> None:
        if self._transport is not None and not self._binding:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._binding and not self._transport.is_closing():
            self._transport.resume_reading()

    # --- events ---------------------------------------------------------------------

    def _handle(self, events: list[Event]) -> None:
        submits: list[Submit] = []
        for event in events:
            if type(event) is Submit:
                submits.append(event)
            elif type(event) is Answered:
                if type(event.context) is Outgoing:
                    response = event.response
                    # a generic_nack means the ESME could not take it, whatever its status
                    status = response.status or (
                        CommandStatus.ESME_RX_T_APPN if type(response) is GenericNack else 0)
                    self._relay.on_answer(event.context, status)
            elif isinstance(event, BindTransmitter | BindReceiver | BindTransceiver):
                self._start_bind(event)
            elif type(event) is TimedOut:
                if type(event.context) is Outgoing:
                    self._relay.on_answer(event.context, CommandStatus.ESME_RX_T_APPN)
            elif isinstance(event, Unbound | MustClose):
                self._close(str(event))
            elif isinstance(event, Pdu) and type(event) in UNSUPPORTED:
                self.session.respond(codec.decode(event.command_id | 0x80000000,
                                                  UNSUPPORTED[type(event)], event.sequence, b""))
        if submits:
            self._decide(submits)
        if self._receiver:
            self._relay.pump(self.account)

    def _decide(self, submits: list[Submit]) -> None:
        account = self._account
        assert account is not None
        try:
            accepted, refused = self._pipeline.decide(account.system_id, submits)
        except Exception:  # a bug, never the peer's fault: it must not cost the connection
            accepted, refused = self._decide_each(account.system_id, submits)
        if refused:
            style = account.status_style
            self.session.respond_frames([
                _resp_header(16, 0x80000004, status_for(refusal, style), submit.sequence)
                for submit, refusal in refused])
            self._intake.record_refusals(account.system_id,
                                         [(s, r.reason) for s, r in refused])
        if accepted:
            self._intake.accept(self, account.system_id, accepted)

    def _decide_each(self, account: str, submits: list[Submit]
                     ) -> tuple[list[Submit], list[tuple[Submit, Refusal]]]:
        """The batch's decision raised: decide its submits one at a time, so that only
        those that raise are lost, each answered ESME_RSYSERR (and logged, sampled)."""
        accepted: list[Submit] = []
        refused: list[tuple[Submit, Refusal]] = []
        failed: list[Submit] = []
        for submit in submits:
            try:
                one_accepted, one_refused = self._pipeline.decide(account, [submit])
            except Exception:
                failed.append(submit)
                self._state.failed_decisions += 1
                if sampled(self._state.failed_decisions):
                    log.exception("decision_failed", system_id=account, peer=self._peer,
                                  destination=submit.destination_addr,
                                  total=self._state.failed_decisions)
                continue
            accepted += one_accepted
            refused += one_refused
        self.session.respond_frames([
            _resp_header(16, 0x80000004, CommandStatus.ESME_RSYSERR, submit.sequence)
            for submit in failed])
        return accepted, refused

    def _start_bind(self, bind: BindTransmitter | BindReceiver | BindTransceiver) -> None:
        assert self._transport is not None
        self._binding = True
        self._transport.pause_reading()
        # the loop keeps only a weak reference to tasks: hold it until the bind is decided
        self._bind_task = self._loop.create_task(self._finish_bind(bind))

    async def _finish_bind(self, bind: BindTransmitter | BindReceiver | BindTransceiver) -> None:
        verdict = await self._auth.check(bind.command_id, bind.system_id, bind.password,
                                         self._peer_addr)
        self._binding = False
        if self._transport is None or self._transport.is_closing():
            return
        if not verdict.accepted:
            self.session.reject_bind(bind, verdict.status)
            self._close("bind refused")
            return
        self._account = verdict.account
        assert self._account is not None
        self._state.bound.setdefault(self._account.system_id, set()).add(self)
        events = self.session.accept_bind(bind, "chapar", self._loop.time())
        if self.session.state in (State.BOUND_RX, State.BOUND_TRX):
            self._receiver = True
            self._relay.attach(self)
        if events:
            self._handle(events)
        self._flush()
        if not self._state.paused:
            self._transport.resume_reading()

    # --- answers from the intake ----------------------------------------------------

    def answer_accepted(self, first_id: int, submits: list[Submit]) -> None:
        frames: list[bytes] = []
        add = frames.append
        for i, sm in enumerate(submits):
            body = b"%x\0" % (first_id + i)  # format_id, as bytes
            add(_resp_header(16 + len(body), 0x80000004, 0, sm.sequence) + body)
        self.session.respond_frames(frames)
        self._flush()

    def answer_refused(self, submits: list[Submit], status: int) -> None:
        self.session.respond_frames(
            [_resp_header(16, 0x80000004, status, sm.sequence) for sm in submits])
        self._flush()

    # --- receipts -------------------------------------------------------------------

    def receipt_window(self) -> int:
        return self.session.window_free if self.session.can_submit else 0

    def deliver(self, items: list[Outgoing]) -> None:
        now = self._loop.time()
        for item in items:
            self.session.send_request(item.pdu, now, item)
        self._flush()

    # --- output, timers, close ------------------------------------------------------

    def _flush(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        data = self.session.data_to_send()
        if data:
            transport.write(data)
        self._timer.arm(self.session.next_deadline())

    def _on_timer(self) -> None:
        events = self.session.handle_timer(self._loop.time())
        if events:
            self._handle(events)
        self._flush()

    def _close(self, reason: str) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            data = self.session.data_to_send()
            if data:
                transport.write(data)
            if self._account is None:
                log.info("connection_closed", peer=self._peer, reason=reason)
            transport.close()

    def cut_off(self, reason: str, grace: float = 0.5) -> None:
        """The account may no longer send: unbind now, close after ``grace`` at the latest."""
        log.info("session_cut_off", system_id=self.account, peer=self._peer, reason=reason)
        self.start_unbind()
        self._loop.call_later(grace, self.close_now)

    def close_now(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def start_unbind(self) -> None:
        """Shutdown: ask the ESME to unbind; the close follows its unbind_resp."""
        if self.session.bound:
            self.session.unbind(self._loop.time())
            self._flush()
        else:
            self._close("shutting down")

