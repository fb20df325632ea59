"""Receipts and MO on their way to ESMEs: a queue per account, served round-robin over
the account's RX/TRX sessions as their windows allow.

A queue waits while no receiver is bound (bounded; overflow is logged and counted,
never silent).  A deliver_sm an ESME refuses for now (throttled, busy) is offered again
later with backoff; one it never answered goes back to the front of its queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from router.dispatch.ports import Receiver
from router.logs import sampled
from router.model.status import ESME_RETRY_STATUSES
from router.smpp.pdu import DeliverSm

log = structlog.get_logger("chapar.dlr")


@dataclass(slots=True)
class Outgoing:
    account: str
    pdu: DeliverSm
    attempts: int = 0


class Inbound:
    def __init__(self, queue_limit: int, max_attempts: int,
                 call_later: Callable[[float, Callable[[], None]], object]) -> None:
        self._queues: dict[str, deque[Outgoing]] = {}
        self._receivers: dict[str, list[Receiver]] = {}
        self._turn: dict[str, int] = {}
        self._queue_limit = queue_limit
        self._max_attempts = max_attempts
        self._call_later = call_later
        self.dropped = 0
        self.delivered = 0
        """Receipts and MO handed to ESME sessions (counted per hand-over)."""

    def enqueue(self, account: str, pdu: DeliverSm) -> None:
        queue = self._queues.setdefault(account, deque())
        if len(queue) >= self._queue_limit:
            queue.popleft()
            self.dropped += 1
            if sampled(self.dropped):
                log.error("receipt_queue_full", account=account, limit=self._queue_limit,
                          dropped_total=self.dropped)
        queue.append(Outgoing(account, pdu))
        self.pump(account)

    def attach(self, receiver: Receiver) -> None:
        self._receivers.setdefault(receiver.account, []).append(receiver)
        self.pump(receiver.account)

    def detach(self, receiver: Receiver, unanswered: list[Outgoing]) -> None:
        receivers = self._receivers.get(receiver.account, [])
        if receiver in receivers:
            receivers.remove(receiver)
        queue = self._queues.setdefault(receiver.account, deque())
        queue.extendleft(reversed(unanswered))
        self.pump(receiver.account)

    def pump(self, account: str) -> None:
        queue = self._queues.get(account)
        receivers = self._receivers.get(account)
        if not queue or not receivers:
            return
        turn = self._turn.get(account, 0)
        for i in range(len(receivers)):
            receiver = receivers[(turn + i) % len(receivers)]
            free = receiver.receipt_window()
            if free > 0:
                n = min(free, len(queue))
                receiver.deliver([queue.popleft() for _ in range(n)])
                self.delivered += n
                if not queue:
                    break
        self._turn[account] = turn + 1

    def on_answer(self, item: Outgoing, status: int) -> None:
        """The ESME answered a deliver_sm; offer it again later on a temporary refusal."""
        if status == 0:
            return
        if status in ESME_RETRY_STATUSES and item.attempts + 1 < self._max_attempts:
            item.attempts += 1
            self._call_later(min(2.0 ** item.attempts, 60.0), lambda: self._requeue(item))
            return
        log.warning("receipt_refused_by_esme", account=item.account, status=status,
                    attempts=item.attempts + 1)

    def _requeue(self, item: Outgoing) -> None:
        self._queues.setdefault(item.account, deque()).appendleft(item)
        self.pump(item.account)

    def queued(self, account: str) -> int:
        return len(self._queues.get(account, ()))

    def total_queued(self) -> int:
        return sum(len(queue) for queue in self._queues.values())
