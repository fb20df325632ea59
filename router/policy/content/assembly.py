"""Reassembly of concatenated messages for the content filter (requirements §3, issue 13
item 1): a long message is judged on its **joined** text, so a forbidden phrase split
across two parts is caught.

Parts (UDH with an 8- or 16-bit reference, or the SAR TLVs) are kept by (account,
source, destination, kind, reference) until every part of the message is there; the
buffer is bounded in bytes (the oldest message is judged early on what came) and in time
(``expired``: a message whose parts never all arrive is judged on what came).  The
parts themselves are journalled and answered by the intake (``Holds.hold_part``); this
buffer only keeps their payloads and which are in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.model.holds import Part
from router.smpp.segments import Concat as Concat
from router.smpp.segments import concat_of as concat_of
from router.smpp.text import decode_text

Key = tuple[str, str, str, str, int]
"""account, source, destination, kind (udh or sar), reference."""


@dataclass(slots=True, eq=False)
class Assembling:
    """One long message whose parts are coming in."""

    key: Key
    total: int
    data_coding: int
    started: float
    group: str
    """Shared by its journal rows (an operator decides a quarantined message whole)."""
    parts: dict[int, Part] = field(default_factory=dict)
    size: int = 0

    @property
    def account(self) -> str:
        return self.key[0]

    @property
    def source(self) -> str:
        return self.key[1]

    @property
    def complete(self) -> bool:
        return len(self.parts) >= self.total

    def text(self) -> str:
        """The joined text of the parts that came, in order (payloads joined before
        decoding: a character split between two parts survives)."""
        payload = b"".join(self.parts[seq].payload for seq in sorted(self.parts))
        return decode_text(payload, self.data_coding)


class Assembly:
    def __init__(self, timeout: float, max_bytes: int) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.size = 0
        self._open: dict[Key, Assembling] = {}
        """In arrival order of each message's first part: the oldest first."""

    def __len__(self) -> int:
        return len(self._open)

    def add(self, key: Key, concat: Concat, data_coding: int, part: Part, now: float,
            group: str = "") -> tuple[Assembling, list[Assembling]]:
        """File one part: its message (complete or not: a complete one leaves the buffer)
        and the messages pushed out by the byte bound, to be judged on what came."""
        pushed: list[Assembling] = []
        message = self._open.get(key)
        if message is not None and message.total != concat.total:
            pushed.append(self._pop(key))  # same reference, another message: judge the old
            message = None
        if message is None:
            group = group or f"{key[0]}:{key[1]}:{key[2]}:{key[3]}{key[4]}:{int(now * 1000)}"
            message = self._open[key] = Assembling(key, concat.total, data_coding, now, group)
        old = message.parts.get(concat.seq)
        if old is not None:  # sent again (its first commit failed, or a duplicate)
            message.size -= len(old.payload)
            self.size -= len(old.payload)
        message.parts[concat.seq] = part
        message.size += len(part.payload)
        self.size += len(part.payload)
        if message.complete:
            self._pop(key)
        while self.size > self.max_bytes and self._open:
            oldest = next(iter(self._open))
            if oldest == key:
                break
            pushed.append(self._pop(oldest))
        return message, pushed

    def _pop(self, key: Key) -> Assembling:
        message = self._open.pop(key)
        self.size -= message.size
        return message

    def expired(self, now: float) -> list[Assembling]:
        """Messages whose first part came ``timeout`` seconds ago or more."""
        out: list[Assembling] = []
        for key, message in list(self._open.items()):
            if now - message.started < self.timeout:
                break
            out.append(self._pop(key))
        return out
