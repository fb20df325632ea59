"""Carrier id -> (our id, account): the receipt correlation map.

Carriers write one id in several forms (case, leading zeros, hex in submit_sm_resp and
decimal in the receipt, or the reverse).  Ids are normalised once when remembered; a
receipt's is normalised once and the other base is tried only on a miss, building no
list.

Only ASCII digits and hex letters are converted, and only up to ``MAX_CONVERTED``
characters: ``str.isdigit()`` is true for '²', ``int(s, 16)`` takes '_', blanks and '0x',
and ``int()`` refuses more than 4300 digits.  A receipt can never raise here.
"""

from __future__ import annotations

import re
from typing import Generic, TypeVar

MAX_CONVERTED = 64  # no carrier id is longer; bounds int()
_HEX = re.compile(r"[0-9A-F]+", re.ASCII)
K = TypeVar("K", int, str)


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
    """Carrier id -> (our id, account) of messages still waiting for their final receipt.

    An entry leaves when its final receipt comes (``take``), so the map holds what is
    pending, not what was delivered: at 80 k receipts/s a map of every id seen grew to a
    million entries, and inserting into and finding in it cost ~1 µs a receipt in cache
    misses, resizes and the drop of an old generation, against ~0.5 µs in a small one.
    Two generations of plain dicts bound it (a full GC walked a 740k-entry OrderedDict in
    46 ms; untracked dicts of tuples cost ~1 ms): when the young one reaches half the
    limit it becomes the old one and the previous old one, receipts that never came, is
    dropped."""

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
        self._rotate()

    def put(self, norm: str, found: tuple[int, str]) -> None:
        """Back under the normalised id a ``take`` found it by (the receipt was not
        final after all)."""
        self._ids[norm] = found
        self._rotate()

    def take(self, norm: str) -> tuple[int, str] | None:
        """Remove and return (our message id, account) for a normalised carrier id
        (``normalise``) in any of its forms."""
        found = self._ids.pop(norm, None) or self._old.pop(norm, None)
        if found is None:
            other = self._other_form(norm)
            if other is not None:
                found = self._ids.pop(other, None) or self._old.pop(other, None)
        return found

    def _other_form(self, norm: str) -> str | None:
        """The remembered form of the same number in the other base, if any: a decimal
        id written in hex, or a hex id (all-digit ids are hex too) in decimal."""
        if len(norm) > MAX_CONVERTED:
            return None
        ids, old = self._ids, self._old
        if norm.isascii() and norm.isdigit():
            other = f"{int(norm):X}"
            if other in ids or other in old:
                return other
        if _HEX.fullmatch(norm) is None:
            return None
        other = str(int(norm, 16))
        return other if other in ids or other in old else None

    def _rotate(self) -> None:
        if len(self._ids) >= self._generation:  # a read's worth past half the limit at most
            self._old, self._ids = self._ids, {}

    def __len__(self) -> int:
        return len(self._ids) + len(self._old)


class IdSet(Generic[K]):
    """Two generations of sets, like ``IdMap``: our ids of messages whose final receipt
    was queued, and the carrier ids of the final receipts that ended them (a repeat of a
    final receipt is a duplicate, dropped)."""

    __slots__ = ("_generation", "_ids", "_old")

    def __init__(self, limit: int = 2_000_000) -> None:
        self._ids: set[K] = set()
        self._old: set[K] = set()
        self._generation = max(1, limit // 2)

    def add(self, key: K) -> None:
        self._ids.add(key)
        self.rotate()

    def add_many(self, keys: list[K]) -> None:
        self._ids.update(keys)
        self.rotate()

    def generations(self) -> tuple[set[K], set[K]]:
        """The young and the old set, for a loop that checks and adds many (it calls
        ``rotate`` when done)."""
        return self._ids, self._old

    def rotate(self) -> None:
        if len(self._ids) >= self._generation:
            self._old, self._ids = self._ids, set()

    def __contains__(self, key: object) -> bool:
        return key in self._ids or key in self._old

    def __len__(self) -> int:
        return len(self._ids) + len(self._old)
