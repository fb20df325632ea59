"""One ESME connection: asyncio glue around the sans-IO session.

Per read: feed the session, sort the events, hand the accepted submits to the intake
as one batch, write everything produced in one ``transport.write``.  Binds pause
reading while argon2 runs in its thread pool, so PDUs pipelined behind a bind wait in
the kernel instead of in memory.

Reading stops (``_update_reading``) for as long as any of these holds: a bind is being
decided; the peer does not read its answers (the transport's write buffer is over
``write_buffer_limit``: ``pause_writing``); the dispatch queue is full; or the session
holds PDUs past ``max_pdus_per_read``, which are processed on the next loop turn
(``call_soon``) so that one connection cannot hold the loop.

Over 400 lines on purpose: it is one ``asyncio.Protocol`` whose read, bind, answer and
delivery paths share the reading state above; split across modules, every one of them
would reach back into the others' attributes.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

import structlog

from router.dispatch.inbound import Inbound, Outgoing
from router.dispatch.intake import Intake
from router.dispatch.ports import Submitter
from router.logs import sampled
from router.model.accounts import Account
from router.model.status import (
    DECISION_FAILED,
    ESME_NACKED,
    UNSUPPORTED_OPERATIONS,
    status_for,
)
from router.policy.auth import Authenticator
from router.policy.pipeline import Pipeline
from router.policy.stage import Refused
from router.server.gate import address_key
from router.server.requests import Requests, Services
from router.server.settings import SmppSettings
from router.server.state import ServerState
from router.smpp import codec, convert
from router.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandId,
    CommandStatus,
    Pdu,
)
from router.smpp.session import (
    V50,
    Answered,
    Delivered,
    Event,
    MustClose,
    Role,
    Session,
    State,
    Submit,
    TimedOut,
    Unbound,
    Unmatched,
)
from router.timer import DeadlineTimer

log = structlog.get_logger("chapar.server")
_DELIVER_SM = int(CommandId.DELIVER_SM)
_SUBMIT_SM = int(CommandId.SUBMIT_SM)
_SUBMIT_SM_RESP = int(CommandId.SUBMIT_SM_RESP)


_RECEIPT_ANSWERS = frozenset({Answered, TimedOut})


def _answer(event: Answered | TimedOut) -> tuple[Outgoing, int] | None:
    """The ESME's nack of a deliver_sm of ours, or none at all (a ``Delivered`` answer
    is already the (item, status) pair): the queue forgets an item only after ESME_ROK."""
    context = event.context
    if type(context) is not Outgoing:
        return None
    if type(event) is Answered:  # a generic_nack: it could not take it, whatever its status
        return context, event.response.status or ESME_NACKED
    return context, ESME_NACKED  # TimedOut


class EsmeConnection(asyncio.Protocol):
    def __init__(self, state: ServerState, smpp: SmppSettings, auth: Authenticator,
                 pipeline: Pipeline, intake: Intake, inbound: Inbound,
                 services: Services | None = None) -> None:
        self._state = state
        self._smpp: SmppSettings = smpp
        self._pipeline = pipeline
        self._intake = intake
        self._inbound = inbound
        self._auth = auth
        self._loop = asyncio.get_running_loop()
        self.session = Session(Role.SMSC, smpp, now=self._loop.time())
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._peer_addr: tuple[str, int] = ("", 0)
        self._account: Account | None = None
        self._slot = ""
        """Its bind's slot among the account's max_binds over every process, if any."""
        self._receiver = False
        self._binding = False
        self._bind_task: asyncio.Task[None] | None = None
        self._address = ""  # the key this connection counts under in the gate, once admitted
        self._reading = True
        self._write_paused = False
        self._continuation: asyncio.Handle | None = None
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._flush_soon = False
        self.closed = self._loop.create_future()
        self.opened_at = time.time()
        self.submitted = 0
        """Messages decided on this connection (submit_sm, data_sm, submit_multi
        destinations; counted per read batch)."""
        self._services = services
        self._requests = Requests(self, services, pipeline) if services is not None else None

    @property
    def peer(self) -> str:
        return self._peer

    @property
    def account(self) -> str:
        return self._account.system_id if self._account else ""

    @property
    def account_record(self) -> Account:
        assert self._account is not None
        return self._account

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        if peer:
            self._peer_addr = (str(peer[0]), int(peer[1]))
        self._peer = f"{self._peer_addr[0]}:{self._peer_addr[1]}"
        state = self._state
        address = address_key(self._peer_addr[0])
        refused = state.gate.admit(address, self._loop.time(), self._smpp.gate)
        if refused is not None:
            state.refused_connections += 1
            if sampled(state.refused_connections):
                log.warning("connection_limit", peer=self._peer, limit=refused,
                            value=getattr(self._smpp, refused),
                            refused_total=state.refused_connections)
            self._transport.abort()
            return
        self._address = address
        state.connections.add(self)
        limit = self._smpp.write_buffer_limit
        self._transport.set_write_buffer_limits(high=limit, low=limit // 4)
        self.update_reading()
        self._flush()

    def data_received(self, data: bytes) -> None:
        session = self.session
        events = session.receive_data(data, self._loop.time())
        if events:
            self._handle(events)
        self._flush()
        if session.backlog:
            self._continue_later()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        if self._address:
            self._state.gate.release(self._address)
            self._address = ""
            self._state.heap.connection_closed(self._loop)
        if self._account is not None:
            self._state.bound.get(self._account.system_id, set()).discard(self)
            self._auth.unbound(self._account.system_id, self._slot)
        self._timer.cancel()
        if self._continuation is not None:
            self._continuation.cancel()
            self._continuation = None
        unanswered = [c for c in self.session.abandon() if type(c) is Outgoing]
        if self._receiver:
            self._inbound.detach(self, unanswered)
        if self._account is not None:
            log.info("unbound", system_id=self.account, peer=self._peer,
                     error=str(exc) if exc else None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        """The peer does not read its answers as fast as we make them: stop reading it."""
        self._write_paused = True
        self.update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._continue_later()

    # --- flow control ---------------------------------------------------------------

    def update_reading(self) -> None:
        """Read from the peer unless a bind is pending, its answers are not being read,
        the dispatch queue is full, or PDUs already read wait for a later turn."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        reading = not (self._binding or self._write_paused or self._state.paused
                       or self.session.backlog)
        if reading is not self._reading:
            self._reading = reading
            transport.resume_reading() if reading else transport.pause_reading()
            self.session.set_reading(reading, self._loop.time())

    def _continue_later(self) -> None:
        """Process the PDUs held back by ``max_pdus_per_read`` on a later loop turn."""
        if (self._continuation is None and self.session.backlog
                and not (self._binding or self._write_paused)):
            self._continuation = self._loop.call_soon(self._continue)
        self.update_reading()

    def _continue(self) -> None:
        self._continuation = None
        if self._transport is None or self._transport.is_closing():
            return
        events = self.session.receive_data(b"", self._loop.time())
        if events:
            self._handle(events)
        self._flush()
        self._continue_later()

    # --- events ---------------------------------------------------------------------

    def _handle(self, events: list[Event]) -> None:
        submits: list[Submit] = []
        answers: list[tuple[Outgoing, int]] = []  # to our deliver_sm
        for event in events:
            if type(event) is Submit:
                submits.append(event)
            elif type(event) is Delivered:  # (item, status): every deliver_sm is an item's
                answers.append(event)  # type: ignore[arg-type]
            elif type(event) in _RECEIPT_ANSWERS:
                answer = _answer(event)  # type: ignore[arg-type]
                if answer is not None:
                    answers.append(answer)
            else:
                self._on_event(event)
        if answers:
            self._inbound.on_answers(answers)
        if submits:
            self._decide(submits)
        if self._receiver:
            self._inbound.pump(self.account)

    def _on_event(self, event: Event) -> None:
        """Everything but submit_sm and the answers to our deliver_sm (those stay in
        ``_handle``'s loop, a read batch at a time)."""
        if isinstance(event, BindTransmitter | BindReceiver | BindTransceiver):
            self._start_bind(event)
        elif type(event) is Unmatched:
            self._state.unmatched_responses += 1
            if sampled(self._state.unmatched_responses):
                log.warning("response_unmatched", peer=self._peer, system_id=self.account,
                            command_id=f"0x{event.command_id:08x}", sequence=event.sequence,
                            total=self._state.unmatched_responses)
        elif isinstance(event, Unbound | MustClose):
            self._close(str(event))
        elif isinstance(event, Pdu) and not (self._requests is not None
                                             and self._requests.handle(event)):
            self.session.respond_frames(codec.response_frames(event.command_id, [
                (event.sequence, UNSUPPORTED_OPERATIONS.get(event.command_id,
                                                            CommandStatus.ESME_RINVCMDID))]))

    def _decide(self, submits: list[Submit]) -> None:
        self.decide(submits, self, _SUBMIT_SM)

    def decide(self, submits: list[Submit], source: Submitter, command: int) -> None:
        """A read's submits (or a data_sm as one) through the pipeline: refusals
        answered at once as ``command``'s responses, the rest to the intake."""
        account = self._account
        assert account is not None
        self.submitted += len(submits)
        try:
            accepted, refused = self._pipeline.decide(account.system_id, submits)
        except Exception:  # a bug, never the peer's fault: it must not cost the connection
            accepted, refused = self._decide_each(account.system_id, submits, command)
        if refused:
            style = account.status_style
            self.session.respond_frames(codec.response_frames(command, [
                (submit.sequence, status_for(refusal, style)) for submit, refusal in refused]))
            self.record_refusals([(s, r.reason) for s, r in refused])
        if accepted:
            self._intake.accept(source, account.system_id, accepted, self._peer_addr[0])

    def record_refusals(self, refused: list[tuple[Submit, str]]) -> None:
        self._intake.record_refusals(self.account, refused, self._peer_addr[0])

    def accept(self, submits: list[Submit], source: Submitter) -> None:
        self._intake.accept(source, self.account, submits, self._peer_addr[0])

    def decision_failed(self, submits: list[Submit]) -> None:
        """Deciding these raised (a bug): counted and logged, sampled."""
        self._state.failed_decisions += 1
        if sampled(self._state.failed_decisions):
            log.exception("decision_failed", system_id=self.account, peer=self._peer,
                          destinations=len(submits), total=self._state.failed_decisions)

    def _decide_each(self, account: str, submits: list[Submit], command: int
                     ) -> tuple[list[Submit], Refused]:
        """The batch's decision raised: decide its submits one at a time, so that only
        those that raise are lost, each answered ESME_RSYSERR (and logged, sampled)."""
        accepted: list[Submit] = []
        refused: Refused = []
        failed: list[int] = []
        for submit in submits:
            try:
                one_accepted, one_refused = self._pipeline.decide(account, [submit])
            except Exception:
                failed.append(submit.sequence)
                self._state.failed_decisions += 1
                if sampled(self._state.failed_decisions):
                    log.exception("decision_failed", system_id=account, peer=self._peer,
                                  destination=submit.destination_addr,
                                  total=self._state.failed_decisions)
                continue
            accepted += one_accepted
            refused += one_refused
        self.session.respond_frames(codec.response_frames(
            command, [(seq, DECISION_FAILED) for seq in failed]))
        return accepted, refused

    def _start_bind(self, bind: BindTransmitter | BindReceiver | BindTransceiver) -> None:
        self._binding = True
        self.update_reading()
        # the loop keeps only a weak reference to tasks: hold it until the bind is decided
        self._bind_task = self._loop.create_task(self._finish_bind(bind))

    async def _finish_bind(self, bind: BindTransmitter | BindReceiver | BindTransceiver) -> None:
        verdict = await self._auth.check(bind.command_id, bind.system_id, bind.password,
                                         self._peer_addr)
        self._binding = False
        if self._transport is None or self._transport.is_closing():
            if verdict.account is not None:
                self._auth.unbound(verdict.account.system_id, verdict.slot)
            return
        if not verdict.accepted:
            self.session.reject_bind(bind, verdict.status)
            self._close("bind refused")
            return
        self._account = verdict.account
        assert self._account is not None
        self._slot = verdict.slot
        self._state.bound.setdefault(self._account.system_id, set()).add(self)
        events = self.session.accept_bind(bind, "chapar", self._loop.time())
        if self.session.state in (State.BOUND_RX, State.BOUND_TRX):
            self._receiver = True
            self._inbound.attach(self)
        if events:
            self._handle(events)
        self._flush()
        self._continue_later()

    # --- answers from the intake ----------------------------------------------------

    def answer_accepted(self, first_id: int, submits: list[Submit]) -> None:
        if self.session.interface_version < V50:
            self.session.respond_frames(
                codec.submit_sm_resp_frames(first_id, [sm.sequence for sm in submits]))
        else:
            self.session.respond_frames(codec.submit_sm_resp_frames(
                first_id, [sm.sequence for sm in submits], _SUBMIT_SM_RESP, self.v5_tlvs()))
        self._flush()

    def answer_refused(self, submits: list[Submit], status: int,
                       command: int = CommandId.SUBMIT_SM) -> None:
        self.session.respond_frames(codec.response_frames(
            command, [(sm.sequence, status) for sm in submits]))
        self._flush()

    def v5_tlvs(self) -> bytes:
        """TLVs an SMPP 5.0 session gets on its message ids (b"" for 3.4 sessions):
        congestion_state."""
        if (self.session.interface_version < V50 or self._services is None
                or not self._smpp.congestion_state):
            return b""
        return convert.congestion_tlv(self._services.congestion.level(self.account))

    def respond(self, frame: bytes) -> None:
        """One answer, encoded, to a request of this session; written now."""
        self.session.respond_frames([frame])
        self._flush()

    def flush(self) -> None:
        self._flush()

    # --- receipts -------------------------------------------------------------------

    def receipt_window(self) -> int:
        return self.session.window_free if self.session.can_submit else 0

    def deliver(self, items: list[Outgoing]) -> None:
        """Receipts (and MO) for this ESME: encoded into the session's buffer now,
        written once per loop turn however many carrier reads fed them."""
        self.session.send_frames(_DELIVER_SM, [item.body for item in items], items,
                                 self._loop.time())
        if not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush_turn)

    def _flush_turn(self) -> None:
        self._flush_soon = False
        self._flush()

    # --- output, timers, close ------------------------------------------------------

    def _flush(self) -> None:
        data = self.session.data_to_send()  # taken even when closing: nothing piles up
        transport = self._transport
        if transport is None or transport.is_closing():
            return
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

