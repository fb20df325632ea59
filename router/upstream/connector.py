"""One client session to a carrier SMSC: connect, bind, keep the window full, reconnect.

Reconnects with exponential backoff and full jitter.  Messages outstanding when a
connection drops go back to the front of the pool's queue: a carrier may then see a
message twice, never zero times.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING, cast

import structlog

from router.config import UpstreamConfig
from router.logs import sampled
from router.smpp.pdu import (
    BindTransceiver,
    BindTransmitter,
    CommandId,
    CommandStatus,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    Pdu,
)
from router.smpp.session import (
    Answered,
    MustClose,
    Role,
    Session,
    SessionConfig,
    Submitted,
    TimedOut,
    Unbound,
)
from router.store.journal import Message
from router.timer import DeadlineTimer

if TYPE_CHECKING:
    from router.upstream.pool import Pool

log = structlog.get_logger("chapar.upstream")


class Connector(asyncio.Protocol):
    def __init__(self, name: str, config: UpstreamConfig, pool: Pool) -> None:
        self.name = name
        self.config = config
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self.session: Session | None = None
        self._transport: asyncio.Transport | None = None
        self._bound: asyncio.Future[bool] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.failed_delivers = 0

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
                await self._connect_once()
                delay = cfg.reconnect_min
                assert self._lost is not None
                await self._lost
            except (OSError, TimeoutError) as exc:
                log.warning("upstream_connect_failed", upstream=self.name,
                            error=str(exc) or type(exc).__name__)
            if self._stopping:
                break
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, cfg.reconnect_max)

    async def _connect_once(self) -> None:
        cfg = self.config
        self._bound = self._loop.create_future()
        self._lost = self._loop.create_future()
        await self._loop.create_connection(lambda: self, cfg.host, cfg.port)
        try:
            bound = await asyncio.wait_for(asyncio.shield(self._bound), cfg.response_timeout + 1)
        except TimeoutError:  # (the session's own bind timer normally closes first)
            self._close("no bind response")
            await self._lost
            raise
        if not bound:
            await self._lost  # refused: wait for the close, then back off

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        cfg = self.config
        now = self._loop.time()
        self.session = Session(Role.ESME, SessionConfig(
            window=cfg.window, enquire_link_interval=cfg.enquire_link_interval,
            response_timeout=cfg.response_timeout, inactivity_timeout=0), now=now)
        bind_cls = BindTransceiver if cfg.bind == "trx" else BindTransmitter
        self.session.bind(bind_cls(0, 0, cfg.system_id, cfg.password, cfg.system_type),
                          now, "bind")
        self._flush()

    def data_received(self, data: bytes) -> None:
        session = self.session
        assert session is not None
        now = self._loop.time()
        results: list[tuple[Message, int, str]] = []
        add = results.append
        for event in session.receive_data(data, now):
            if type(event) is Submitted:
                add(event)  # type: ignore[arg-type]  # (Message, status, carrier id)
            elif type(event) is Answered:
                context = event.context
                if type(context) is Message:  # generic_nack: no id, so try again later
                    add((context, event.response.status or CommandStatus.ESME_RSYSERR, ""))
                else:
                    self._on_bind(event.response)
            elif type(event) is DeliverSm:
                if results:  # its submit_sm_resp may be in this same read: map the id first
                    self._pool.on_results(results)
                    results = []
                    add = results.append
                self._on_deliver(event)
            elif type(event) is TimedOut:
                if type(event.context) is Message:
                    self._pool.retry([event.context], "response timeout")
            elif isinstance(event, Unbound | MustClose):
                self._close(str(event))
            elif isinstance(event, Pdu):
                self._answer_other(event)
        if results:
            self._pool.on_results(results)
        self._flush()
        self._pool.pump()

    def _on_bind(self, resp: Pdu) -> None:
        ok = resp.status == 0
        if ok:
            log.info("upstream_bound", upstream=self.name, bind=self.config.bind)
        else:
            log.error("upstream_bind_refused", upstream=self.name, status=f"0x{resp.status:08x}")
            self._close("bind refused")
        if self._bound is not None and not self._bound.done():
            self._bound.set_result(ok)
        if ok:
            self._pool.pump()

    def _on_deliver(self, pdu: DeliverSm) -> None:
        """A receipt or MO.  One that cannot be handled is counted, logged (sampled) and
        still answered ESME_ROK: it would fail the same way every time the carrier sent
        it again, and raising here would drop the connection and everything in flight."""
        assert self.session is not None
        try:
            self._pool.on_carrier_deliver(pdu)
        except Exception:
            self.failed_delivers += 1
            if sampled(self.failed_delivers):
                log.exception("carrier_deliver_failed", upstream=self.name,
                              source=pdu.source_addr, esm_class=pdu.esm_class,
                              total=self.failed_delivers)
        self.session.respond(DeliverSmResp(pdu.sequence, 0, ""))

    def _answer_other(self, pdu: Pdu) -> None:
        """data_sm / alert_notification from a carrier: not relayed yet, answered cleanly."""
        assert self.session is not None
        if pdu.command_id == CommandId.DATA_SM:
            self.session.respond(DataSmResp(pdu.sequence, CommandStatus.ESME_RINVCMDID))

    def connection_lost(self, exc: Exception | None) -> None:
        session = self.session
        self._transport = None
        self.session = None
        self._timer.cancel()
        if session is not None:
            orphans = [c for c in session.abandon() if type(c) is Message]
            if orphans:
                self._pool.retry(orphans, "connection lost", delay=0.0)
        log.info("upstream_disconnected", upstream=self.name, error=str(exc) if exc else None)
        if self._bound is not None and not self._bound.done():
            self._bound.set_result(False)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # --- output and timers ----------------------------------------------------------

    def in_flight(self) -> list[Message]:
        session = self.session
        if session is None:
            return []
        return [c for c in session.outstanding_contexts() if type(c) is Message]

    def send(self, messages: list[Message]) -> None:
        session = self.session
        assert session is not None
        session.send_frames(0x00000004, [m.body for m in messages], messages,
                            self._loop.time())
        self._flush()

    def _flush(self) -> None:
        session = self.session
        if session is None or self._transport is None:
            return
        data = session.data_to_send()
        if data:
            self._transport.write(data)
        self._timer.arm(session.next_deadline())

    def _on_timer(self) -> None:
        session = self.session
        if session is None:
            return
        for event in session.handle_timer(self._loop.time()):
            if type(event) is TimedOut and type(event.context) is Message:
                self._pool.retry([event.context], "response timeout")
            elif isinstance(event, MustClose):
                self._close(event.reason)
        self._flush()

    def _close(self, reason: str) -> None:
        if self._transport is not None:
            log.info("upstream_closing", upstream=self.name, reason=reason)
            self._flush()
            self._transport.close()

    async def stop(self, timeout: float = 5.0) -> None:
        """Unbind cleanly (waiting for outstanding answers), then stop reconnecting."""
        self._stopping = True
        session = self.session
        if session is not None and session.bound and self._transport is not None:
            deadline = self._loop.time() + timeout
            while session.outstanding and self._loop.time() < deadline:
                await asyncio.sleep(0.01)
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
