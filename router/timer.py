"""One asyncio timer for a sans-IO session's deadline (as aioquic's protocol does).

Deadlines only move later with activity, so the timer is re-armed only when a new
deadline is earlier than the armed one; when it fires early, the session finds nothing
due and the next ``arm`` sets the real deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class DeadlineTimer:
    __slots__ = ("_at", "_callback", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None

    def arm(self, deadline: float | None) -> None:
        if deadline is not None and (self._at is None or deadline < self._at):
            if self._handle is not None:
                self._handle.cancel()
            self._at = deadline
            self._handle = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = self._at = None
        self._callback()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._at = None
