"""Accepted (journalled) messages waiting for a carrier session with a free window.

Waiting messages are kept in lanes (dispatch/lanes.py): a priority lane first, then
one queue per account served round-robin.  Bounded: above ``queue_limit`` the ESME
side stops reading until the queue falls below half (design §3.4: backpressure, not
buffering).  Messages sent again wait here too, delayed ones aside until their time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from router.dispatch.lanes import Lanes
from router.dispatch.ports import Carriers, Readers
from router.dispatch.settings import DispatchSettings
from router.model.messages import Message

log = structlog.get_logger("chapar.dispatch")


class Outbound:
    def __init__(self, settings: DispatchSettings, readers: Readers,
                 call_later: Callable[[float, Callable[[], None]], object]) -> None:
        self._settings = settings
        self._readers = readers
        self._call_later = call_later
        self._queue = Lanes()
        self._delayed: dict[int, Message] = {}
        self._carriers: Carriers | None = None
        self._pressed = False
        self.empty = asyncio.Event()
        """Set while nothing waits (queued or delayed): the drain at stop waits on it."""
        self.empty.set()

    def attach(self, carriers: Carriers) -> None:
        self._carriers = carriers

    @property
    def queued(self) -> int:
        return len(self._queue)

    def put(self, messages: list[Message], front: bool = False) -> None:
        self._queue.add(messages, front)
        self.empty.clear()
        if self._carriers is not None:
            self._carriers.pump()
        if not self._pressed and len(self._queue) > self._settings.queue_limit:
            self._pressed = True
            log.warning("dispatch_paused", queued=len(self._queue),
                        queue_limit=self._settings.queue_limit)
            self._readers.set_paused(True)

    def take(self, count: int) -> list[Message]:
        queue = self._queue
        taken = queue.take(count)
        if self._pressed and len(queue) <= self._settings.queue_limit // 2:
            self._pressed = False
            log.info("dispatch_resumed", queued=len(queue))
            self._readers.set_paused(False)
        if not queue and not self._delayed:
            self.empty.set()
        return taken

    def again(self, messages: list[Message], at_once: bool = False) -> list[Message]:
        """Send again later (at once: at the front of the queue); returns the messages
        that used up ``max_attempts`` instead, for a final refusal."""
        again: list[Message] = []
        given_up: list[Message] = []
        limit = self._settings.max_attempts
        for message in messages:
            message.attempts += 1
            (given_up if message.attempts >= limit else again).append(message)
        if again:
            wait = 0.0 if at_once else self._settings.retry_delay
            if wait <= 0:
                self.put(again, front=True)
            else:
                for message in again:
                    self._delayed[message.id] = message
                self.empty.clear()
                self._call_later(wait, lambda: self._due(again))
        return given_up

    def _due(self, messages: list[Message]) -> None:
        due = [m for m in messages if self._delayed.pop(m.id, None) is not None]
        if due:  # (some may have been cancelled meanwhile)
            self.put(due)
        elif not self._queue and not self._delayed:
            self.empty.set()

    def waiting(self, account: str) -> list[Message]:
        """The account's messages not yet sent (queued or waiting to be sent again)."""
        found = [m for m in self._queue if m.account == account]
        found += [m for m in self._delayed.values() if m.account == account]
        return found

    def find(self, message_id: int) -> Message | None:
        """A message not yet sent (queued or waiting to be sent again), by id."""
        delayed = self._delayed.get(message_id)
        if delayed is not None:
            return delayed
        return next((m for m in self._queue if m.id == message_id), None)

    def withdraw(self, message: Message) -> bool:
        """Take a message not yet sent out for good (cancel_sm); False if it has left."""
        if self._delayed.pop(message.id, None) is None and not self._queue.remove(message):
            return False
        if not self._queue and not self._delayed:
            self.empty.set()
        return True

    def low_water(self, next_id: int) -> int:
        """The smallest id still waiting for a final carrier answer (``next_id`` when
        none is): queued, in flight on a connection, or waiting to be sent again."""
        candidates = [next_id]
        lowest = self._queue.lowest()
        if lowest is not None:
            candidates.append(lowest)
        if self._delayed:
            candidates.append(min(self._delayed))
        if self._carriers is not None:
            in_flight = self._carriers.lowest_in_flight()
            if in_flight is not None:
                candidates.append(in_flight)
        return min(candidates)
