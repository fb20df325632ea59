"""The dispatch queue and the connectors that drain it.

Accepted (journalled) messages wait here for a carrier session with a free window.
The queue is bounded: above ``queue_limit`` the ESME side is told to stop reading
(``on_pressure(True)``) until it falls below half.  Carrier answers come back as
outcomes for the journal; temporary refusals are retried after a delay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import structlog

from router.dispatch.settings import DispatchSettings
from router.dlr import receipt
from router.dlr.relay import ReceiptRelay
from router.logs import sampled
from router.model.messages import Message, Outcome
from router.smpp.pdu import CommandStatus, DeliverSm
from router.upstream.connector import Connector
from router.upstream.settings import UpstreamSettings

log = structlog.get_logger("chapar.dispatch")

# Carrier statuses that mean "not now": the message is sent again later.
TEMPORARY = frozenset({
    CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL, CommandStatus.ESME_RSYSERR,
    CommandStatus.ESME_RX_T_APPN, CommandStatus.ESME_RUNKNOWNERR,
})



class Pool:
    def __init__(self, config: DispatchSettings, relay: ReceiptRelay,
                 record_outcomes: Callable[[list[Outcome]], None],
                 on_pressure: Callable[[bool], None],
                 call_later: Callable[[float, Callable[[], None]], object],
                 on_mo: Callable[[DeliverSm], object]) -> None:
        self._config = config
        self._relay = relay
        self._record = record_outcomes
        self._on_pressure = on_pressure
        self._call_later = call_later
        self._on_mo = on_mo
        self._queue: deque[Message] = deque()
        self._delayed: dict[int, Message] = {}
        self.connectors: list[Connector] = []
        self._turn = 0
        self._pressed = False
        self.accepted = 0
        self.refused = 0

    def add_upstream(self, config: UpstreamSettings) -> None:
        for i in range(config.connections):
            self.connectors.append(Connector(f"{config.name}#{i}", config, self))

    def start(self) -> None:
        for connector in self.connectors:
            connector.start()

    async def stop(self) -> None:
        """Give queued messages up to shutdown_timeout to leave, then unbind."""
        for connector in self.connectors:
            await connector.stop(self._config.shutdown_timeout)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def enqueue(self, messages: list[Message]) -> None:
        self._queue.extend(messages)
        self.pump()
        if not self._pressed and len(self._queue) > self._config.queue_limit:
            self._pressed = True
            self._on_pressure(True)

    def pump(self) -> None:
        queue = self._queue
        connectors = self.connectors
        if queue:
            n_conn = len(connectors)
            for i in range(n_conn):
                connector = connectors[(self._turn + i) % n_conn]
                session = connector.session
                if session is None or not connector.ready:
                    continue
                free = session.window_free
                if free > 0:
                    take = free if free < len(queue) else len(queue)
                    popleft = queue.popleft
                    connector.send([popleft() for _ in range(take)])
                    if not queue:
                        break
            self._turn += 1
        if self._pressed and len(queue) <= self._config.queue_limit // 2:
            self._pressed = False
            self._on_pressure(False)

    def retry(self, messages: list[Message], reason: str, delay: float | None = None) -> None:
        """Send again later; a message over max_attempts is finally refused."""
        again: list[Message] = []
        for message in messages:
            message.attempts += 1
            if message.attempts >= self._config.max_attempts:
                self._refuse(message, CommandStatus.ESME_RDELIVERYFAILURE, reason)
            else:
                again.append(message)
        if not again:
            return
        wait = self._config.retry_delay if delay is None else delay
        if wait <= 0:
            self._queue.extendleft(reversed(again))
            self.pump()
        else:
            for message in again:
                self._delayed[message.id] = message
            self._call_later(wait, lambda: self._retry_now(again))

    def _retry_now(self, messages: list[Message]) -> None:
        for message in messages:
            self._delayed.pop(message.id, None)
        self.enqueue(messages)

    def low_water(self, next_id: int) -> int:
        """The smallest id still waiting for a final carrier answer (``next_id`` when
        none is): queued, in flight on a connection, or waiting to be retried."""
        candidates = [next_id]
        if self._queue:
            candidates.append(min(m.id for m in self._queue))
        if self._delayed:
            candidates.append(min(self._delayed))
        for connector in self.connectors:
            in_flight = connector.in_flight()
            if in_flight:
                candidates.append(min(m.id for m in in_flight))
        return min(candidates)

    def _refuse(self, message: Message, status: int, reason: str) -> None:
        self.refused += 1
        if sampled(self.refused):  # each one is in the journal and gets a REJECTD receipt
            log.warning("message_refused_upstream", id=message.id, account=message.account,
                        status=f"0x{status:08x}", reason=reason, attempts=message.attempts,
                        total=self.refused)
        self._record([(message.id, status, "", message.receipt)])
        self._relay.on_refused(message, status)

    def on_results(self, results: list[tuple[Message, int, str]]) -> None:
        """submit_sm_resp from a carrier, a read batch at a time."""
        outcomes: list[Outcome] = []
        remember = self._relay.remember
        retry: list[Message] = []
        for message, status, carrier_id in results:
            if status == 0:
                outcomes.append((message.id, 0, carrier_id, message.receipt))
                if message.receipt:
                    remember(carrier_id, message.id, message.account)
            elif status in TEMPORARY:
                retry.append(message)
            else:
                self._refuse(message, status, "refused by carrier")
        self.accepted += len(outcomes)
        if outcomes:
            self._record(outcomes)
        if retry:
            self.retry(retry, "temporary carrier refusal")

    def on_carrier_deliver(self, pdu: DeliverSm) -> None:
        if receipt.is_receipt(pdu.esm_class):
            self._relay.on_carrier_receipt(pdu)
        else:
            self._on_mo(pdu)
