"""Time limits on the event loop: one asyncio timer for a sans-IO session's deadline (as
aioquic's protocol does), and ``within`` for a stop that must not wait on a server.

Deadlines only move later with activity, so the timer is re-armed only when a new
deadline is earlier than the armed one; when it fires early, the session finds nothing
due and the next ``arm`` sets the real deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _retrieved(task: asyncio.Future[T]) -> None:
    if not task.cancelled():
        task.exception()  # seen: no "exception was never retrieved" at exit


async def within(work: Awaitable[T], seconds: float) -> T:
    """``work``'s result if it ends within ``seconds``; else it is cancelled, left to end
    on its own, and TimeoutError raised at once.  ``asyncio.wait_for`` (3.11) waits for
    the cancelled work to finish: a client that swallows the cancel (redis-py had such
    races, redis/redis-py#2028, #2579) would hold a stop for ever."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieved)
        raise TimeoutError(f"not done within {seconds} s")
    return task.result()


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
