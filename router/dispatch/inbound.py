"""Receipts and MO on their way to ESMEs: a queue per account of deliver_sm bodies,
ready-encoded, served round-robin over the account's RX/TRX sessions as their windows
allow, each session getting what it can take as one batch.

The queue is durable when given an ``InboxLog`` (the app gives the journal's): each
hand-over is recorded with the next group commit and each item leaves the record when
the ESME answers ESME_ROK, or it is given up (refused for good, past ``ttl``, or pushed
out of a full queue: logged and counted, never silent); a restart replays the rest
(``restore``).  A queue waits while no receiver is bound (bounded per account).  A
deliver_sm an ESME refuses for now (0x58, 0x14, 0x64, 0x08) is offered again later with
backoff; one it never answered goes back to the front of its queue.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import structlog

from router.dispatch.ports import InboxLog, Receiver
from router.model.status import ESME_RETRY_STATUSES

log = structlog.get_logger("chapar.dlr")


class Outgoing(NamedTuple):
    """A deliver_sm for an ESME: its encoded body (the session gives the sequence), its
    key in the store (-1: not kept) and when it was queued (wall clock).  A tuple, built
    in C per receipt (``_new``: a third of a slotted dataclass's ``__init__``); a refused
    one is offered again as a new tuple with ``attempts`` + 1."""

    account: str
    body: bytes
    attempts: int = 0
    key: int = -1
    at: float = 0.0
    remote: int = 0
    """Not 0: another router queued it and offered it here (``Handoff``'s number for
    it): when it leaves this queue, that router is told, not this one's store."""


_new = tuple.__new__


@dataclass(slots=True)
class _Waiter:
    batches: set[int]
    """The hand-overs it still waits for."""
    answer: Callable[[], None]


WEBHOOK = "\x1fwebhook"


def webhook_queue(account: str) -> str:
    """The queue of an account's receipts and MO for its webhook: a name no system_id
    has (they are printable, the config checks)."""
    return account + WEBHOOK


class Inbound:
    def __init__(self, queue_limit: int, max_attempts: int,
                 call_later: Callable[[float, Callable[[], None]], object],
                 store: InboxLog | None = None, ttl: float = 0.0,
                 limits: dict[str, int] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._queues: dict[str, deque[Outgoing]] = {}
        self._receivers: dict[str, list[Receiver]] = {}
        self._turn: dict[str, int] = {}
        self._queue_limit = queue_limit
        self._limits = limits or {}
        """Per account overrides of ``queue_limit``."""
        self._max_attempts = max_attempts
        self._call_later = call_later
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self.wake: Callable[[], None] = _nothing
        """Set by the app: the store's rows changed, a commit is wanted."""
        self.dropped = 0
        self.expired = 0
        self.refused = 0
        """Given up after the ESME refused them (for good, or too many times)."""
        self.delivered = 0
        """Receipts and MO handed to ESME sessions (counted per hand-over)."""
        self.acknowledged = 0
        """Receipts and MO the ESMEs answered ESME_ROK."""
        self._remote = False
        """Items offered by other routers were queued here (``accept_remote``)."""
        self._waiting: dict[int, list[_Waiter]] = {}
        """Hand-overs not safe yet -> the answers waiting for them (``when_safe``)."""
        self.remote_done: Callable[[list[Outgoing]], None] = _ignore
        """Set by the handoff: items other routers offered here that left the queue
        (answered ESME_ROK, or given up)."""
        self.routes: dict[str, tuple[str, ...]] = {}
        """Accounts whose receipts and MO go elsewhere than (or beside) their ESME
        sessions: account -> the queues they go to (``webhook_queue(account)``)."""

    def enqueue(self, account: str, bodies: list[bytes]) -> list[int]:
        """deliver_sm bodies for the account (a carrier read's receipts, an MO, a
        receipt of our own), recorded and handed on at once as far as its sessions'
        windows allow; into each of its queues when it has several (``routes``).  The
        store's hand-overs made (their first keys; none without a store), for
        ``when_safe``."""
        firsts = [self._enqueue(queue, bodies) for queue in self.routes.get(account, (account,))]
        return firsts if self._store is not None else []

    def _enqueue(self, account: str, bodies: list[bytes]) -> int:
        at = self._clock()
        first = -1
        if self._store is not None:
            first = self._store.add(account, at, bodies,
                                    waits=bool(self._receivers.get(account)))
            items = [_new(Outgoing, (account, body, 0, first + i, at, 0))
                     for i, body in enumerate(bodies)]
            self.wake()
        else:
            items = [_new(Outgoing, (account, body, 0, -1, at, 0)) for body in bodies]
        self._queue(account).extend(items)
        self._bound(account)
        self.pump(account)
        return first

    def when_safe(self, batches: list[int], answer: Callable[[], None]) -> None:
        """``answer()`` once none of ``batches`` (hand-overs, by their first keys) could
        be lost by a crash: each stored by a commit or gone from the queue (taken by an
        ESME, given up).  A carrier's deliver_sm is answered so: usually when the ESME
        took the receipt, else after the commit ``receipt_write_delay`` later."""
        unsafe = self._store.unsafe(batches) if self._store is not None and batches else []
        if not unsafe:
            answer()
            return
        waiter = _Waiter(set(unsafe), answer)
        for batch in unsafe:
            self._waiting.setdefault(batch, []).append(waiter)

    def on_committed(self) -> None:
        """A commit succeeded: the hand-overs it stored are safe now."""
        if self._waiting and self._store is not None:
            waiting = list(self._waiting)
            unsafe = set(self._store.unsafe(waiting))
            self._settle([batch for batch in waiting if batch not in unsafe])

    def _settle(self, batches: Iterable[int]) -> None:
        for batch in batches:
            for waiter in self._waiting.pop(batch, ()):
                waiter.batches.discard(batch)
                if not waiter.batches:
                    waiter.answer()

    def restore(self, items: Iterable[tuple[int, str, float, bytes]]) -> int:
        """(key, account, queued at, body) the last run left, in key order: queued again
        (not recorded again).  The count restored."""
        count = 0
        for key, account, at, body in items:
            self._queue(account).append(Outgoing(account, body, 0, key, at))
            count += 1
        for account in list(self._queues):
            self._bound(account)
        return count

    def _queue(self, account: str) -> deque[Outgoing]:
        queue = self._queues.get(account)
        if queue is None:
            queue = self._queues[account] = deque()
        return queue

    def _bound(self, account: str) -> None:
        queue = self._queues[account]
        limit = self._limits.get(account, self._queue_limit)
        over = len(queue) - limit
        if over <= 0:
            return
        popleft = queue.popleft  # the oldest go first
        gone = [popleft() for _ in range(over)]
        self._forget(gone)
        before = self.dropped
        self.dropped = after = before + over
        if after.bit_length() > before.bit_length():  # passed 1, 2, 4, 8…: sampled
            log.error("receipt_queue_full", account=account, limit=limit,
                      dropped_total=after)

    def _forget(self, items: list[Outgoing]) -> None:
        """Items given up or answered: out of the store's record (or, offered by
        another router, that router told)."""
        if self._store is not None:
            self.forget_keys([item.key for item in items if item.key >= 0])
        if self._remote:
            remote = [item for item in items if item.remote]
            if remote:
                self.remote_done(remote)

    def forget_keys(self, keys: list[int]) -> None:
        """Items that left the queue for good, by their keys in the store (also those
        another router delivered for this one)."""
        if self._store is not None and keys:
            closed = self._store.done(keys)
            if self._waiting and closed:
                self._settle(closed)
            self.wake()

    # --- queues no session here takes (``Handoff``) ---------------------------------

    def receiving(self) -> list[str]:
        """Accounts with a receiving session on this router."""
        return [account for account, receivers in self._receivers.items()
                if receivers and WEBHOOK not in account]

    def unreceived(self) -> list[str]:
        """Accounts with queued items and no receiving session here."""
        return [account for account, queue in self._queues.items()
                if queue and not self._receivers.get(account) and WEBHOOK not in account]

    def take(self, account: str, count: int) -> list[Outgoing]:
        """Up to ``count`` items from the front of the account's queue, for another
        router (they stay in the store until it says they are done)."""
        queue = self._queues.get(account)
        if not queue:
            return []
        popleft = queue.popleft
        return [popleft() for _ in range(min(count, len(queue)))]

    def give_back(self, items: list[Outgoing]) -> None:
        """Items taken for another router that did not deliver them: queued again."""
        for account in {item.account for item in items}:
            self._queue(account).extendleft(
                reversed([item for item in items if item.account == account]))
            self.pump(account)

    def accept_remote(self, items: list[Outgoing]) -> None:
        """Items another router offered, for this router's sessions."""
        self._remote = True
        for account in {item.account for item in items}:
            self._queue(account).extend(item for item in items if item.account == account)
            self._bound(account)
            self.pump(account)

    def attach(self, receiver: Receiver) -> None:
        self._receivers.setdefault(receiver.account, []).append(receiver)
        self.pump(receiver.account)

    def detach(self, receiver: Receiver, unanswered: list[Outgoing]) -> None:
        receivers = self._receivers.get(receiver.account, [])
        if receiver in receivers:
            receivers.remove(receiver)
        queue = self._queue(receiver.account)
        queue.extendleft(reversed(unanswered))
        self.pump(receiver.account)

    def _expire(self, queue: deque[Outgoing]) -> None:
        """Items at the head of the queue older than the TTL are given up."""
        oldest = self._clock() - self._ttl
        if queue[0].at >= oldest:
            return
        gone: list[Outgoing] = []
        while queue and queue[0].at < oldest:
            gone.append(queue.popleft())
        self._forget(gone)
        before = self.expired
        self.expired = after = before + len(gone)
        if after.bit_length() > before.bit_length():
            log.error("receipt_expired", account=gone[0].account, ttl=self._ttl,
                      expired_total=after)

    def pump(self, account: str) -> None:
        queue = self._queues.get(account)
        receivers = self._receivers.get(account)
        if not queue or not receivers:
            return
        if self._ttl > 0:
            self._expire(queue)
        turn = self._turn.get(account, 0)
        count = len(receivers)
        for i in range(count):
            if not queue:
                break
            receiver = receivers[(turn + i) % count]
            free = receiver.receipt_window()
            if free <= 0:
                continue
            n = min(free, len(queue))
            popleft = queue.popleft
            receiver.deliver([popleft() for _ in range(n)])
            self.delivered += n
        self._turn[account] = turn + 1

    def on_answers(self, answers: list[tuple[Outgoing, int]]) -> None:
        """An ESME read's answers to our deliver_sm (nacks and timeouts as refusals):
        ESME_ROK takes the item out of the record; a temporary refusal is offered again
        later, with backoff, within ``max_attempts`` and the TTL; others are given up
        and logged."""
        done = [item for item, status in answers if not status]  # the usual: all taken
        self.acknowledged += len(done)
        if len(done) < len(answers):
            self._refusals(answers, done)
        if done:
            self._forget(done)

    def _refusals(self, answers: list[tuple[Outgoing, int]], done: list[Outgoing]) -> None:
        """Refused ones offered again later, or given up (added to ``done``)."""
        for item, status in answers:
            if not status:
                continue
            if (status in ESME_RETRY_STATUSES and item.attempts + 1 < self._max_attempts
                    and not self._too_old(item)):
                again = item._replace(attempts=item.attempts + 1)
                self._call_later(min(2.0 ** again.attempts, 60.0), partial(self._requeue, again))
                continue
            done.append(item)
            self.refused += 1
            log.warning("receipt_refused_by_esme", account=item.account, status=status,
                        attempts=item.attempts + 1)

    def _too_old(self, item: Outgoing) -> bool:
        return self._ttl > 0 and item.at < self._clock() - self._ttl

    def _requeue(self, item: Outgoing) -> None:
        self._queue(item.account).appendleft(item)
        self.pump(item.account)

    def queued(self, account: str) -> int:
        return len(self._queues.get(account, ()))

    def total_queued(self) -> int:
        return sum(len(queue) for queue in self._queues.values())


def _ignore(items: list[Outgoing]) -> None:
    """No handoff: no item comes from another router."""


def _nothing() -> None:
    """No commit to ask for (a queue without a store)."""
