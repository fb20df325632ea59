"""Carrier id -> (our id, account): the receipt correlation map.

Carriers write one id in several forms (case, leading zeros, hex in submit_sm_resp and
decimal in the receipt, or the reverse).  Ids are normalised once when remembered; a
lookup normalises once and tries the other base only on a miss, building no list.

Only ASCII digits and hex letters are converted, and only up to ``MAX_CONVERTED``
characters: ``str.isdigit()`` is true for '²', ``int(s, 16)`` takes '_', blanks and '0x',
and ``int()`` refuses more than 4300 digits.  A receipt can never raise here.
"""

from __future__ import annotations

import re

MAX_CONVERTED = 64  # no carrier id is longer; bounds int()
_HEX = re.compile(r"[0-9A-F]+", re.ASCII)


def normalise(carrier_id: str) -> str:
    """Strip blanks and leading zeros, fold case: '00ab ' and 'AB' are one id."""
    return carrier_id.strip().lstrip("0").upper() or "0"


def as_hex(norm: str) -> str | None:
    """A normalised all-decimal id written in hex, else None."""
    if len(norm) <= MAX_CONVERTED and norm.isascii() and norm.isdigit():
        return f"{int(norm):X}"
    return None


def as_decimal(norm: str) -> str | None:
    """A normalised hex id (all-digit ids are hex too) written in decimal, else None."""
    if len(norm) <= MAX_CONVERTED and _HEX.fullmatch(norm) is not None:
        return str(int(norm, 16))
    return None


def forms(carrier_id: str) -> list[str]:
    """Every form a receipt may carry for an id, normalised first (tests and tools; a
    lookup tries them without building this list)."""
    norm = normalise(carrier_id)
    return [norm, *(f for f in (as_hex(norm), as_decimal(norm)) if f is not None)]


class IdMap:
    """Two generations of plain dicts (a full GC walked a 740k-entry OrderedDict in
    46 ms; untracked dicts of tuples cost ~1 ms): when the young one reaches half the
    limit it becomes the old one and the previous old one is dropped."""

    __slots__ = ("_generation", "_ids", "_old")

    def __init__(self, limit: int = 2_000_000) -> None:
        self._ids: dict[str, tuple[int, str]] = {}
        self._old: dict[str, tuple[int, str]] = {}
        self._generation = max(1, limit // 2)

    def remember(self, carrier_id: str, message_id: int, account: str) -> None:
        self.remember_many([(carrier_id, message_id, account)])

    def remember_many(self, entries: list[tuple[str, int, str]]) -> None:
        """(carrier id, our id, account) of a read's submit_sm_resp, in one call."""
        ids = self._ids
        ids.update({carrier_id.strip().lstrip("0").upper() or "0": (message_id, account)
                    for carrier_id, message_id, account in entries})
        if len(ids) >= self._generation:  # a read's worth past half the limit at most
            self._old, self._ids = ids, {}

    def lookup(self, carrier_id: str) -> tuple[int, str] | None:
        """(our message id, account) for a carrier id in any of its forms."""
        norm = carrier_id.strip().lstrip("0").upper() or "0"
        found = self._ids.get(norm) or self._old.get(norm)
        if found is not None or len(norm) > MAX_CONVERTED:
            return found
        if norm.isascii() and norm.isdigit():  # decimal written for a hex id?
            other = f"{int(norm):X}"
            found = self._ids.get(other) or self._old.get(other)
            if found is not None:
                return found
        if _HEX.fullmatch(norm) is None:
            return None
        other = str(int(norm, 16))  # or hex written for a decimal id
        return self._ids.get(other) or self._old.get(other)

    def __len__(self) -> int:
        return len(self._ids) + len(self._old)


class IdSet:
    """Our ids of messages whose final receipt was queued: two generations of sets, like
    ``IdMap`` (a repeat of a final receipt is a duplicate, dropped)."""

    __slots__ = ("_generation", "_ids", "_old")

    def __init__(self, limit: int = 2_000_000) -> None:
        self._ids: set[int] = set()
        self._old: set[int] = set()
        self._generation = max(1, limit // 2)

    def add(self, message_id: int) -> None:
        self._ids.add(message_id)
        self.rotate()

    def add_many(self, message_ids: list[int]) -> None:
        self._ids.update(message_ids)
        self.rotate()

    def generations(self) -> tuple[set[int], set[int]]:
        """The young and the old set, for a loop that checks and adds many (it calls
        ``rotate`` when done)."""
        return self._ids, self._old

    def rotate(self) -> None:
        if len(self._ids) >= self._generation:
            self._old, self._ids = self._ids, set()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids or message_id in self._old

    def __len__(self) -> int:
        return len(self._ids) + len(self._old)
