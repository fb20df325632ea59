"""One client session to a carrier SMSC: connect, bind, keep the window full, reconnect.

Reconnects with exponential backoff and full jitter; the backoff starts over only once
a bind succeeds (a carrier refusing our bind is not hammered), and connection trouble
is logged once per change, not per attempt.  Messages outstanding when a connection
drops go back to the front of the outbound queue: a carrier may then see a message
twice, never zero times.  A response timeout sends nothing again: the session keeps the
request, a late answer still counts, and the core checks the carrier with an
enquire_link (no answer: the connection is closed and its messages go elsewhere).
Congestion answers (throttled, queue full) slow this connection down (``Pacer``).
Everything a read brings is reported as one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from functools import partial
from typing import Protocol, cast

import structlog

from router.dispatch.ports import CarrierReports
from router.logs import sampled
from router.model.messages import Message
from router.model.status import CONGESTION_CARRIER_STATUSES, NACKED, RetryClass
from router.smpp import codec, convert
from router.smpp.deliver import scan_deliver
from router.smpp.pdu import (
    BindTransceiver,
    BindTransmitter,
    CommandId,
    DataSm,
    DataSmResp,
    DecodeError,
    Pdu,
)
from router.smpp.session import (
    Answered,
    Deliver,
    MustClose,
    Role,
    Session,
    Submitted,
    TimedOut,
    Unbound,
    Unmatched,
)
from router.timer import DeadlineTimer
from router.tls import ClientTls
from router.upstream.pacing import Pacer
from router.upstream.settings import UpstreamSettings

log = structlog.get_logger("chapar.upstream")


class Pump(Protocol):
    """Whoever feeds this connection: told when its window may have opened."""

    def pump(self) -> None: ...


ANSWER_WAIT = 0.005
"""Seconds answers to a carrier's deliver_sm wait for the connection's next write."""


class Connector(asyncio.Protocol):
    def __init__(self, name: str, config: UpstreamSettings, reports: CarrierReports,
                 feeder: Pump, tls: ClientTls | None = None) -> None:
        self.name = name
        self.config = config
        self._reports = reports
        self._feeder = feeder
        self._loop = asyncio.get_running_loop()
        self.tls = tls
        """None for plain TCP; else the context each new connection opens with."""
        self.session: Session | None = None
        self._transport: asyncio.Transport | None = None
        self._bound: asyncio.Future[bool] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._stopping = False
        self._reading = False
        self._answers_soon = False
        self._pacer = Pacer(config.throttle_min_rate, config.throttle_recovery,
                            self._loop.time())
        self._pace_handle: asyncio.TimerHandle | None = None
        self._trouble: tuple[str, str] | None = None
        """The connect or bind failure last logged; the same again is only counted."""
        self._failures = 0
        self._was_bound = False
        self._silent = False
        """This connection is being closed because the carrier stopped answering."""
        self.unmatched_responses = 0
        self.timed_out = 0
        self.sent = 0
        """submit_sm sent on this connection (counted per batch)."""
        self._settled = asyncio.Event()
        """Set when stopping and nothing is outstanding."""
        self._task: asyncio.Task[None] | None = None

    @property
    def paced_rate(self) -> float:
        """Messages per second while the carrier is congested; 0.0 when not paced."""
        return self._pacer.rate

    @property
    def ready(self) -> bool:
        s = self.session
        return s is not None and s.can_submit and self._transport is not None

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name=f"upstream-{self.name}")

    async def _run(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_min
        while not self._stopping:
            try:
                if await self._connect_once():
                    delay = cfg.reconnect_min  # only a bind that succeeded resets it
                    assert self._lost is not None
                    await self._lost
            except (OSError, TimeoutError) as exc:
                self._failed("upstream_connect_failed", "error",
                             str(exc) or type(exc).__name__)
            if self._stopping:
                break
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, cfg.reconnect_max)

    def _failed(self, event: str, key: str, value: str) -> None:
        """A connect or bind failure: logged when it differs from the last one."""
        self._failures += 1
        if self._trouble != (event, value):
            self._trouble = (event, value)
            log.warning(event, upstream=self.name, failures=self._failures, **{key: value})

    async def _connect_once(self) -> bool:
        """Connect and bind; True once bound, False when the bind was refused."""
        cfg = self.config
        self._bound = self._loop.create_future()
        self._lost = self._loop.create_future()
        if self.tls is None:
            await self._loop.create_connection(lambda: self, cfg.host, cfg.port)
        else:
            await self._loop.create_connection(
                lambda: self, cfg.host, cfg.port, ssl=self.tls.context,
                server_hostname=self.tls.server_name,
                ssl_handshake_timeout=cfg.response_timeout)
        try:
            bound = await asyncio.wait_for(asyncio.shield(self._bound), cfg.response_timeout + 1)
        except TimeoutError:  # (the session's own bind timer normally closes first)
            self._close("no bind response")
            await self._lost
            raise
        if not bound:
            await self._lost  # refused: wait for the close, then back off
        return bound

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        cfg = self.config
        now = self._loop.time()
        self.session = Session(Role.ESME, cfg, now=now)
        self._reading = False  # a read that raised (a bug) must not hold later answers
        bind_cls = BindTransceiver if cfg.bind == "trx" else BindTransmitter
        self.session.bind(bind_cls(0, 0, cfg.system_id, cfg.password, cfg.system_type),
                          now, "bind")
        self._flush()

    def data_received(self, data: bytes) -> None:
        session = self.session
        assert session is not None
        self._reading = True  # answers given meanwhile go out with this read's flush
        now = self._loop.time()
        results: list[tuple[Message, int, str]] = []
        add = results.append
        delivered: list[Deliver] = []
        data_sms: list[DataSm] = []
        accepted = 0
        congested = False
        for event in session.receive_data(data, now):
            if type(event) is Submitted:
                add(event)  # type: ignore[arg-type]  # (Message, status, carrier id)
                if event[1]:
                    congested = congested or event[1] in CONGESTION_CARRIER_STATUSES
                else:
                    accepted += 1
            elif type(event) is Deliver:
                delivered.append(event)
            elif type(event) is DataSm:
                data_sms.append(event)
            else:
                self._on_event(event, results)
        if results:  # before the receipts: one may be for a submit answered in this read
            # the pace first: what the reports put back must not go out at the old one
            self._pace(accepted, congested, now)
            self._reports.on_results(results, self.name)
        if delivered:
            self._reports.on_deliver(delivered, partial(self._answer, session, (
                codec.response_frames(CommandId.DELIVER_SM,
                                      [(d.sequence, 0) for d in delivered], b"\0"))))
        if data_sms:  # after the results too: a receipt may follow its submit_sm_resp
            self._relay_data_sm(data_sms)
        self._reading = False
        self._flush()
        self._feeder.pump()

    def _on_event(self, event: object, results: list[tuple[Message, int, str]]) -> None:
        """Whatever a read or a timer brings besides submit_sm_resp and deliver_sm."""
        if type(event) is Answered:
            context = event.context
            if type(context) is Message:  # generic_nack: no id, so try again later
                results.append((context, event.response.status or NACKED, ""))
            else:
                self._on_bind(event.response)
        elif type(event) is TimedOut:
            # kept by the session: a late answer still counts, and the core is checking
            # the carrier with an enquire_link; sent again only if the session ends
            self.timed_out += 1
            if sampled(self.timed_out):
                log.warning("upstream_response_late", upstream=self.name,
                            command_id=f"0x{event.command_id:08x}", total=self.timed_out)
        elif type(event) is Unmatched:
            self.unmatched_responses += 1
            if sampled(self.unmatched_responses):
                log.warning("response_unmatched", upstream=self.name,
                            command_id=f"0x{event.command_id:08x}", sequence=event.sequence,
                            total=self.unmatched_responses)
        elif type(event) is MustClose:
            self._silent = self._silent or _unanswered(event.reason)
            self._close(event.reason)
        elif type(event) is Unbound:
            self._close("unbound by the carrier" if event.by_peer else "unbound")

    def _answer(self, session: Session, frames: list[bytes]) -> None:
        """The carrier's deliver_sm (or data_sm) answered ESME_ROK, now that what it
        brought is safe (at once, or from a later commit or ESME answer: then written
        here).  A session gone meanwhile answers nothing: the carrier sends them again."""
        if session is self.session:
            session.respond_frames(frames)
            if not self._reading and not self._answers_soon:
                # they ride the connection's next write (a read's, a send's); a write of
                # their own comes only when none came for ANSWER_WAIT.  Measured: writes
                # of their own, at moments unrelated to reading, met a carrier that had
                # just closed (EPIPE), which aborted the transport with its last
                # submit_sm_resp unread: those messages went out again
                self._answers_soon = True
                self._loop.call_later(ANSWER_WAIT, self._flush_answers)

    def _flush_answers(self) -> None:
        self._answers_soon = False
        self._flush()  # writes nothing when another write took them

    def _pace(self, accepted: int, congested: bool, now: float) -> None:
        pacer = self._pacer
        if accepted:
            pacer.accepted(accepted, now)
        if congested and pacer.congested(now):
            log.warning("upstream_throttled", upstream=self.name, rate=round(pacer.rate, 1))

    def _on_bind(self, resp: Pdu) -> None:
        ok = resp.status == 0
        if ok:
            log.info("upstream_bound", upstream=self.name, bind=self.config.bind,
                     after_failures=self._failures)
            self._trouble = None
            self._failures = 0
            self._was_bound = True
        else:
            self._failed("upstream_bind_refused", "status", f"0x{resp.status:08x}")
            self._close("bind refused")
        if self._bound is not None and not self._bound.done():
            self._bound.set_result(ok)
        if ok:
            self._feeder.pump()

    def _relay_data_sm(self, pdus: list[DataSm]) -> None:
        """A carrier's data_sm (a receipt or an MO in message_payload) is relayed as the
        deliver_sm it stands for, then answered data_sm_resp."""
        assert self.session is not None
        delivers: list[Deliver] = []
        for pdu in pdus:
            try:
                delivers.append(scan_deliver(pdu.sequence, convert.data_sm_body(pdu)))
            except DecodeError as exc:
                self.session.respond(DataSmResp(pdu.sequence, exc.status))
        if delivers:
            self._reports.on_deliver(delivers, partial(self._answer, self.session, [
                codec.encode(DataSmResp(deliver.sequence, 0)) for deliver in delivers]))

    def connection_lost(self, exc: Exception | None) -> None:
        session = self.session
        self._transport = None
        self.session = None
        self._timer.cancel()
        if self._stopping:
            self._settled.set()
        if session is not None:
            orphans = [c for c in session.abandon() if type(c) is Message]
            if orphans:
                cause = RetryClass.RESPONSE_TIMEOUT if self._silent else RetryClass.BIND_LOST
                self._reports.on_no_answer(orphans, "connection lost", cause)
        self._silent = False
        if self._was_bound:  # a refused or unanswered bind was logged once already
            log.info("upstream_disconnected", upstream=self.name,
                     error=str(exc) if exc else None)
        self._was_bound = False
        if self._bound is not None and not self._bound.done():
            self._bound.set_result(False)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # --- output and timers ----------------------------------------------------------

    def sendable(self) -> int:
        """How many messages this connection may send now: its window, and its pace
        while the carrier is congested (then a wake-up is set for when it may)."""
        session = self.session
        if session is None or self._transport is None or not session.can_submit:
            return 0
        free = session.window_free
        pacer = self._pacer
        if free <= 0 or not pacer.limited:
            return free
        now = self._loop.time()
        allowed = pacer.allowance(now)
        if allowed is None:
            log.info("upstream_unthrottled", upstream=self.name)
        elif allowed < free:
            free = allowed
            if free <= 0:
                self._wake(pacer.next_at(now))
        return free

    def _wake(self, at: float) -> None:
        if self._pace_handle is None:
            self._pace_handle = self._loop.call_at(at, self._paced)

    def _paced(self) -> None:
        self._pace_handle = None
        self._feeder.pump()

    def in_flight(self) -> list[Message]:
        session = self.session
        if session is None:
            return []
        return [c for c in session.outstanding_contexts() if type(c) is Message]

    def send(self, messages: list[Message]) -> None:
        session = self.session
        assert session is not None
        now = self._loop.time()
        session.send_frames(CommandId.SUBMIT_SM, [m.body for m in messages], messages, now)
        self.sent += len(messages)
        pacer = self._pacer
        if pacer.limited:
            pacer.spend(len(messages))
            self._wake(pacer.next_at(now))  # more may be waiting once the next token is in
        self._flush()

    def _flush(self) -> None:
        session = self.session
        if session is None or self._transport is None:
            return
        data = session.data_to_send()
        if data:
            self._transport.write(data)
        self._timer.arm(session.next_deadline())
        if self._stopping and not session.outstanding and not session.late:
            self._settled.set()

    def _on_timer(self) -> None:
        session = self.session
        if session is None:
            return
        for event in session.handle_timer(self._loop.time()):
            self._on_event(event, [])  # (a timer brings no answers)
        self._flush()

    def _close(self, reason: str) -> None:
        if self._transport is not None:
            if self._was_bound:
                log.info("upstream_closing", upstream=self.name, reason=reason)
            self._flush()
            self._transport.close()

    async def stop(self, timeout: float = 5.0) -> None:
        """Unbind cleanly (waiting for outstanding answers), then stop reconnecting."""
        self._stopping = True
        session = self.session
        if self._pace_handle is not None:
            self._pace_handle.cancel()
            self._pace_handle = None
        if session is not None and session.bound and self._transport is not None:
            if session.outstanding or session.late:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._settled.wait(), timeout)
            session.unbind(self._loop.time())
            self._flush()
        elif self._transport is not None:
            self._transport.close()  # not bound (bind pending or refused): nothing to unbind
        if self._lost is not None and self._transport is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._lost), timeout)
            except TimeoutError:
                self._transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _unanswered(reason: str) -> bool:
    """The session closes because the carrier stopped answering (the core's reasons)."""
    return reason.startswith("no answer to") or "past response_timeout" in reason
