"""Accepted (journalled) messages waiting for a carrier session with a free window.

Waiting messages are kept per upstream group (the routing table decides a batch's
groups as it arrives; "" when no table is set), each group in lanes (dispatch/lanes.py):
a priority lane first, then one queue per account served round-robin.  Bounded: above
``queue_limit`` (all groups together) the ESME side stops reading until the queue falls
below half (design §3.4: backpressure, not buffering).  Store-and-forward: messages sent
again wait here too, delayed by the retry table's row for why they came back; one whose
validity passed (its own validity_period, else its account's, else ``validity``) ends
EXPIRED instead, found when it comes back or by a sweep of what waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

import structlog

from router.dispatch.lanes import Lanes
from router.dispatch.ports import Carriers, Finals, Readers, Routes
from router.dispatch.settings import DispatchSettings
from router.model.messages import Message, accepted_at
from router.model.status import RetryClass
from router.smpp.validity import TimeFormatError, parse_time, validity_period

log = structlog.get_logger("chapar.dispatch")


class Outbound:
    def __init__(self, settings: DispatchSettings, readers: Readers,
                 call_later: Callable[[float, Callable[[], None]], object],
                 validity: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._readers = readers
        self._call_later = call_later
        self._clock = clock
        self._validity = validity or {}
        """Per account: seconds a message without its own validity_period is tried."""
        self._backoff = {row: settings.backoff(row.value) for row in RetryClass}
        self._groups: dict[str, Lanes] = {}
        self._count = 0
        self._routes: Routes | None = None
        self._finals: Finals | None = None
        self._delayed: dict[int, Message] = {}
        self._carriers: Carriers | None = None
        self._pressed = False
        self.expired = 0
        self.empty = asyncio.Event()
        """Set while nothing waits (queued or delayed): the drain at stop waits on it."""
        self.empty.set()

    def attach(self, carriers: Carriers) -> None:
        self._carriers = carriers

    def attach_finals(self, finals: Finals) -> None:
        self._finals = finals

    def set_routes(self, routes: Routes | None) -> None:
        """A new routing table (start, reload): what waits is routed again by it."""
        self._routes = routes
        waiting = [m for lanes in self._groups.values() for m in lanes]
        self._groups = {}
        self._count = 0
        if waiting:
            waiting.sort(key=_id)
            self.put(waiting)

    @property
    def queued(self) -> int:
        return self._count

    def waiting_groups(self) -> list[str]:
        """Upstream groups with messages waiting."""
        return [name for name, lanes in self._groups.items() if lanes.count]

    def queued_in(self, group: str) -> int:
        lanes = self._groups.get(group)
        return lanes.count if lanes is not None else 0

    def put(self, messages: list[Message], front: bool = False) -> None:
        routes = self._routes
        if routes is None:
            self._lanes("").add(messages, front)
        else:
            for group, batch in routes.route(messages).items():
                self._lanes(group).add(batch, front)
        self._count += len(messages)
        self.empty.clear()
        if self._carriers is not None:
            self._carriers.pump()
        if not self._pressed and self._count > self._settings.queue_limit:
            self._pressed = True
            log.warning("dispatch_paused", queued=self._count,
                        queue_limit=self._settings.queue_limit)
            self._readers.set_paused(True)

    def _lanes(self, group: str) -> Lanes:
        lanes = self._groups.get(group)
        if lanes is None:
            lanes = self._groups[group] = Lanes()
        return lanes

    def take(self, count: int, group: str = "") -> list[Message]:
        lanes = self._groups.get(group)
        if lanes is None:
            return []
        taken = lanes.take(count)
        self._count -= len(taken)
        self._taken()
        return taken

    def _taken(self) -> None:
        if self._pressed and self._count <= self._settings.queue_limit // 2:
            self._pressed = False
            log.info("dispatch_resumed", queued=self._count)
            self._readers.set_paused(False)
        if not self._count and not self._delayed:
            self.empty.set()

    # --- store-and-forward ----------------------------------------------------------

    def again(self, messages: list[Message],
              why: RetryClass | list[RetryClass]) -> list[Message]:
        """Send again by the retry table's row ``why`` (one for all, or one per message);
        returns the messages that used up ``max_attempts`` instead, for a final refusal.
        Those whose validity passed end EXPIRED (through ``Finals``)."""
        rows = [why] * len(messages) if isinstance(why, RetryClass) else why
        limit = self._settings.max_attempts
        now = self._clock()
        given_up: list[Message] = []
        expired: list[Message] = []
        later: dict[float, list[Message]] = {}
        for message, row in zip(messages, rows, strict=True):
            backoff = self._backoff[row]
            if backoff.spend:
                message.attempts += 1
                if message.attempts >= limit:
                    given_up.append(message)
                    continue
            if self.expiry(message) <= now:
                expired.append(message)
            else:
                later.setdefault(backoff.wait(message.attempts), []).append(message)
        if expired:
            self._expire(expired)
        for wait, batch in later.items():
            if wait <= 0:
                self.put(batch, front=True)
            else:
                for message in batch:
                    self._delayed[message.id] = message
                self.empty.clear()
                self._call_later(wait, partial(self._due, batch))
        return given_up

    def _due(self, messages: list[Message]) -> None:
        delayed = self._delayed
        due = [m for m in messages if delayed.pop(m.id, None) is not None]
        if due:
            self.put(due)
        elif not self._count and not delayed:
            self.empty.set()

    def expiry(self, message: Message) -> float:
        """When store-and-forward gives up on ``message`` (worked out once)."""
        if message.expires:
            return message.expires
        accepted = accepted_at(message.id)
        try:
            until = parse_time(validity_period(message.body), accepted)
        except TimeFormatError:
            until = None
        if until is None:
            until = accepted + self._validity.get(message.account, self._settings.validity)
        message.expires = until
        return until

    def start_sweeps(self) -> None:
        """Look for expired messages among those waiting every ``expiry_sweep`` s."""
        self._call_later(self._settings.expiry_sweep, self._sweep)

    def _sweep(self) -> None:
        """Waiting messages whose validity passed end EXPIRED."""
        self._call_later(self._settings.expiry_sweep, self._sweep)
        if not self._count and not self._delayed:
            return
        now = self._clock()
        expired: list[Message] = []
        for lanes in self._groups.values():
            if lanes.count:
                expired += lanes.remove(lambda m: self.expiry(m) <= now)
        self._count -= len(expired)
        for message_id, message in list(self._delayed.items()):
            if self.expiry(message) <= now:
                del self._delayed[message_id]
                expired.append(message)
        if expired:
            self._expire(expired)
            self._taken()

    def _expire(self, messages: list[Message]) -> None:
        self.expired += len(messages)
        log.warning("messages_expired", count=len(messages), total=self.expired)
        if self._finals is not None:
            self._finals.expire(messages)

    def waiting(self, account: str) -> list[Message]:
        """The account's messages not yet sent (queued or waiting to be sent again)."""
        found = [m for lanes in self._groups.values() for m in lanes if m.account == account]
        found += [m for m in self._delayed.values() if m.account == account]
        return found

    def find(self, message_id: int) -> Message | None:
        """A message not yet sent (queued or waiting to be sent again), by id."""
        delayed = self._delayed.get(message_id)
        if delayed is not None:
            return delayed
        return next((m for lanes in self._groups.values() for m in lanes
                     if m.id == message_id), None)

    def withdraw(self, message: Message) -> bool:
        """Take a message not yet sent out for good (cancel_sm); False if it has left."""
        if self._delayed.pop(message.id, None) is None:
            if not any(lanes.withdraw(message) for lanes in self._groups.values()):
                return False
            self._count -= 1
        if not self._count and not self._delayed:
            self.empty.set()
        return True

    def low_water(self, next_id: int) -> int:
        """The smallest id still waiting for a final carrier answer (``next_id`` when
        none is): queued, in flight on a connection, or waiting to be sent again."""
        candidates = [next_id]
        for lanes in self._groups.values():
            lowest = lanes.lowest() if lanes.count else None
            if lowest is not None:
                candidates.append(lowest)
        if self._delayed:
            candidates.append(min(self._delayed))
        if self._carriers is not None:
            in_flight = self._carriers.lowest_in_flight()
            if in_flight is not None:
                candidates.append(in_flight)
        return min(candidates)


def _id(message: Message) -> int:
    return message.id
