"""Receipts and MO on their way to ESMEs: a queue per account of deliver_sm bodies,
ready-encoded, served round-robin over the account's RX/TRX sessions as their windows
allow, each session getting what it can take as one batch.

A queue waits while no receiver is bound (bounded; overflow is logged and counted,
never silent).  A deliver_sm an ESME refuses for now (throttled, busy) is offered again
later with backoff; one it never answered goes back to the front of its queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import structlog

from router.dispatch.ports import Receiver
from router.model.status import ESME_RETRY_STATUSES

log = structlog.get_logger("chapar.dlr")


@dataclass(slots=True)
class Outgoing:
    """A deliver_sm for an ESME: its encoded body (the session gives the sequence)."""

    account: str
    body: bytes
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

    def enqueue(self, account: str, bodies: list[bytes]) -> None:
        """deliver_sm bodies for the account (a carrier read's receipts, an MO, a
        REJECTD receipt), handed on at once as far as its sessions' windows allow."""
        queue = self._queues.get(account)
        if queue is None:
            queue = self._queues[account] = deque()
        queue.extend([Outgoing(account, body) for body in bodies])
        over = len(queue) - self._queue_limit
        if over > 0:  # the oldest go first
            popleft = queue.popleft
            for _ in range(over):
                popleft()
            before = self.dropped
            self.dropped = after = before + over
            if after.bit_length() > before.bit_length():  # passed 1, 2, 4, 8…: sampled
                log.error("receipt_queue_full", account=account, limit=self._queue_limit,
                          dropped_total=after)
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
        count = len(receivers)
        for i in range(count):
            receiver = receivers[(turn + i) % count]
            free = receiver.receipt_window()
            if free <= 0:
                continue
            n = min(free, len(queue))
            popleft = queue.popleft
            receiver.deliver([popleft() for _ in range(n)])
            self.delivered += n
            if not queue:
                break
        self._turn[account] = turn + 1

    def on_answers(self, answers: Iterable[tuple[Outgoing, int]]) -> None:
        """An ESME read's refusals of our deliver_sm (and nacks, timeouts): a temporary
        one is offered again later, with backoff; the others are logged."""
        for item, status in answers:
            if not status:
                continue
            if status in ESME_RETRY_STATUSES and item.attempts + 1 < self._max_attempts:
                item.attempts += 1
                self._call_later(min(2.0 ** item.attempts, 60.0), partial(self._requeue, item))
                continue
            log.warning("receipt_refused_by_esme", account=item.account, status=status,
                        attempts=item.attempts + 1)

    def _requeue(self, item: Outgoing) -> None:
        self._queues.setdefault(item.account, deque()).appendleft(item)
        self.pump(item.account)

    def queued(self, account: str) -> int:
        return len(self._queues.get(account, ()))

    def total_queued(self) -> int:
        return sum(len(queue) for queue in self._queues.values())
