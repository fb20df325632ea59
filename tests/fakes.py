"""In-memory stand-ins for what the unit tests cannot have without sockets or a loop's
clock: a transport that keeps what is written, timers that run when the test says, and
the ESME side's reading switch."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">IIII")


class Transport:
    """What a protocol writes, readable back as (command_id, status, sequence) frames.
    Closing counts as a failure unless the test allows it."""

    def __init__(self, may_close: bool = False) -> None:
        self.written = b""
        self._may_close = may_close

    def write(self, data: bytes) -> None:
        self.written += data

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 5000) if name == "peername" else None

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        ...

    def close(self) -> None:
        if not self._may_close:
            raise AssertionError("the connection was closed")

    abort = close

    def frames(self) -> list[tuple[int, int, int]]:
        out, data = [], self.written
        while data:
            length, command_id, status, seq = HEADER.unpack(data[:16])
            out.append((command_id, status, seq))
            data = data[length:]
        return out


class Timers:
    """``call_later`` that only records; the test runs what is due."""

    def __init__(self) -> None:
        self.due: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, fn: Callable[[], None]) -> object:
        self.due.append((delay, fn))
        return None

    def run(self) -> None:
        """Run everything due so far (what it schedules waits for the next run)."""
        due, self.due = self.due, []
        for _, fn in due:
            fn()


class Readers:
    """The ESME side's reading switch, as the outbound queue sees it."""

    def __init__(self) -> None:
        self.paused: list[bool] = []

    def set_paused(self, paused: bool) -> None:
        self.paused.append(paused)


def long_ago() -> float:
    """A clock at 1970 for queues of messages with small ids (their acceptance time is
    in the id): nothing has expired yet."""
    return 0.0
