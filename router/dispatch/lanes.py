"""The messages waiting for a carrier, in lanes (issue 11 item 2, fairness): a priority
lane served first (submit_sm ``priority_flag`` >= 2: OTPs), then one queue per account,
served round-robin, so one account's backlog cannot starve another's.

Cheap on the hot path: one account with nothing urgent is one deque, as before; the
priority comes with the message (``Message.urgent``, from the submit's scan; messages
released from quarantine: ``priority_of`` their body; those a restart sends again go in
the account queues).  An
account's share of a ``take`` is ``count / accounts``, so a take of 64 with two busy
accounts is 32 + 32.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from itertools import groupby
from operator import attrgetter

from router.model.messages import Message

URGENT = 2
"""priority_flag from which a message takes the priority lane."""
_account = attrgetter("account")
_urgent = attrgetter("urgent")


def priority_of(body: bytes) -> int:
    """submit_sm's priority_flag, read from the journalled body: it follows the three
    C-strings service_type, source_addr and destination_addr (each address preceded
    by its ton and npi), then esm_class and protocol_id."""
    try:
        end = body.index(0, body.index(0, body.index(0) + 3) + 3)
        return body[end + 3]
    except (ValueError, IndexError):
        return 0


def source_of(body: bytes) -> str:
    """submit_sm's source_addr, read from the journalled body (after service_type and
    the source's ton and npi); "" when the body ends early."""
    try:
        start = body.index(0) + 3
        return body[start:body.index(0, start)].decode("latin-1")
    except ValueError:
        return ""


class Lanes:
    def __init__(self) -> None:
        self.urgent: deque[Message] = deque()
        self.accounts: dict[str, deque[Message]] = {}
        """Accounts with something waiting, in the order they are served next."""
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Message]:
        yield from self.urgent
        for queue in self.accounts.values():
            yield from queue

    def add(self, messages: list[Message], front: bool = False) -> None:
        """``front``: sent again at once, ahead of the account's other messages."""
        self.count += len(messages)
        for account, run in groupby(messages, _account):
            batch = list(run)
            if not front and any(map(_urgent, batch)):
                self.urgent.extend([m for m in batch if m.urgent])
                batch = [m for m in batch if not m.urgent]
                if not batch:
                    continue
            queue = self.accounts.get(account)
            if queue is None:
                queue = self.accounts[account] = deque()
            if front:
                queue.extendleft(reversed(batch))
            else:
                queue.extend(batch)

    def take(self, count: int) -> list[Message]:
        taken: list[Message] = []
        if self.urgent:
            taken = _popleft(self.urgent, count)
        rest = count - len(taken)
        accounts = self.accounts
        while rest > 0 and accounts:
            share = max(1, rest // len(accounts))
            for account in list(accounts):
                queue = accounts.pop(account)
                got = _popleft(queue, min(share, rest))
                taken += got
                rest -= len(got)
                if queue:
                    accounts[account] = queue  # its turn is over: to the back
                if rest <= 0:
                    break
        self.count -= len(taken)
        return taken

    def withdraw(self, message: Message) -> bool:
        """Take one waiting message out (cancel_sm); False when it is not waiting."""
        for queue in (self.urgent, self.accounts.get(message.account)):
            if queue is not None and message in queue:
                queue.remove(message)
                self.count -= 1
                if not queue and queue is not self.urgent:
                    del self.accounts[message.account]
                return True
        return False

    def lowest(self) -> int | None:
        return min((m.id for m in self), default=None)

    def remove(self, doomed: Callable[[Message], bool]) -> list[Message]:
        """Take out every waiting message ``doomed`` says (expired ones); order kept."""
        removed: list[Message] = []
        self.urgent = _split(self.urgent, doomed, removed)
        for account, queue in list(self.accounts.items()):
            kept = _split(queue, doomed, removed)
            if not kept:
                del self.accounts[account]
            elif kept is not queue:
                self.accounts[account] = kept
        self.count -= len(removed)
        return removed


def _split(queue: deque[Message], doomed: Callable[[Message], bool],
           removed: list[Message]) -> deque[Message]:
    """``queue`` itself when nothing in it is doomed, else what is kept."""
    gone = [m for m in queue if doomed(m)]
    if not gone:
        return queue
    removed += gone
    ids = {m.id for m in gone}
    return deque(m for m in queue if m.id not in ids)


def _popleft(queue: deque[Message], count: int) -> list[Message]:
    if count >= len(queue):
        taken = list(queue)
        queue.clear()
        return taken
    popleft = queue.popleft
    return [popleft() for _ in range(count)]
