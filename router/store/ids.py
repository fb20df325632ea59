"""Message ids we issue: time-ordered 64-bit integers shown as hex.

id = (milliseconds since the epoch << 16) + counter.  The counter may run ahead of the
clock under load (65,536 ids per millisecond before it does), and on start it resumes
above the largest id in the journal, so ids stay unique across restarts and clock
steps backwards.  Hex keeps them at 15 characters, below the 16 many clients accept.
"""

from __future__ import annotations

import time


class MessageIds:
    __slots__ = ("_next",)

    def __init__(self, last_issued: int = 0) -> None:
        self._next = max(last_issued + 1, int(time.time() * 1000) << 16)

    def peek(self) -> int:
        """The next id ``take`` would give (or a larger one, as time passes)."""
        return self._next

    def take(self, count: int) -> int:
        """Reserve ``count`` consecutive ids; returns the first."""
        now_floor = int(time.time() * 1000) << 16
        first = self._next if self._next > now_floor else now_floor
        self._next = first + count
        return first

