"""Number lists held in memory as compressed integer sets (design.md §3.2).

Why pyroaring: the operator blacklist has millions of numbers and is consulted for every
advertising-line message.  A Python ``set`` of 10 M ints costs ~0.8 GB; a 64-bit
roaring bitmap of the same E.164 ints (``989121234567``) costs ~25 MB and answers a
membership query in a few hundred nanoseconds.

The sets are immutable: every change builds a new one (policy/lists.py publishes them).
"""

from __future__ import annotations

import array
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Final

from pyroaring import BitMap64, FrozenBitMap64

__all__ = [
    "ExpiringNumberSet",
    "ListSnapshot",
    "NumberSet",
    "end_of_day",
    "signature_key",
]

_EMPTY_BITMAP: Final = FrozenBitMap64()
_EXPIRING_MAGIC: Final = b"CXS1"
_HEADER: Final = struct.Struct("<4sQ")


def _to_bitmap(numbers: Iterable[int]) -> FrozenBitMap64:
    if isinstance(numbers, FrozenBitMap64):
        return numbers
    if isinstance(numbers, BitMap64):
        return FrozenBitMap64(numbers)
    if not isinstance(numbers, list | tuple | array.array | set | frozenset | range):
        numbers = list(numbers)
    return FrozenBitMap64(numbers)


class NumberSet:
    """Immutable set of E.164 numbers (ints).  Operations return new sets."""

    __slots__ = ("_bitmap",)

    def __init__(self, numbers: Iterable[int] | None = None) -> None:
        self._bitmap: FrozenBitMap64 = _EMPTY_BITMAP if numbers is None else _to_bitmap(numbers)

    @classmethod
    def from_bitmap(cls, bitmap: BitMap64 | FrozenBitMap64) -> NumberSet:
        """Adopt a bitmap built elsewhere (e.g. by an import); a mutable one is copied."""
        result = cls.__new__(cls)
        result._bitmap = bitmap if isinstance(bitmap, FrozenBitMap64) else FrozenBitMap64(bitmap)
        return result

    @classmethod
    def from_bytes(cls, data: bytes) -> NumberSet:
        """Inverse of :meth:`to_bytes` (pyroaring's portable 64-bit format)."""
        if not data:
            return cls()
        try:
            bitmap = FrozenBitMap64.deserialize(data)
        except (ValueError, IndexError) as exc:
            raise ValueError(f"not a serialised number set: {exc}") from exc
        return cls.from_bitmap(bitmap)

    def to_bytes(self) -> bytes:
        return self._bitmap.serialize() if self._bitmap else b""

    @property
    def bitmap(self) -> FrozenBitMap64:
        """The underlying bitmap: for hot loops (``bm.__contains__``) and set algebra."""
        return self._bitmap

    def __contains__(self, number: int) -> bool:
        return number in self._bitmap

    def __len__(self) -> int:
        return len(self._bitmap)

    def __iter__(self) -> Iterator[int]:
        return iter(self._bitmap)

    def __bool__(self) -> bool:
        return bool(self._bitmap)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberSet):
            return NotImplemented
        return self._bitmap == other._bitmap

    def __hash__(self) -> int:
        return hash(self._bitmap)

    def __repr__(self) -> str:
        return f"NumberSet({len(self._bitmap)} numbers)"

    def with_numbers(self, numbers: Iterable[int]) -> NumberSet:
        """A new set with ``numbers`` added (append-mode imports, one opt-out)."""
        grown = BitMap64(self._bitmap)
        grown.update(numbers if isinstance(numbers, list | tuple | array.array) else list(numbers))
        return NumberSet.from_bitmap(grown)

    def without(self, numbers: Iterable[int]) -> NumberSet:
        """A new set with ``numbers`` removed."""
        return NumberSet.from_bitmap(self._bitmap - _to_bitmap(numbers))

    def union(self, other: NumberSet) -> NumberSet:
        return NumberSet.from_bitmap(self._bitmap | other._bitmap)


EMPTY: Final = NumberSet()


def end_of_day(day: date, tz: tzinfo) -> float:
    """Expiry instant for "valid until ``day``": the start of the next day in ``tz``
    (epoch seconds).  A bank test number listed until 2026-12-31 still counts all that
    day in Tehran and stops at 2027-01-01 00:00 Tehran time."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()


class ExpiringNumberSet:
    """Whitelist whose entries may carry an expiry instant (epoch seconds).

    Why two parts: almost every customer number is permanent and lives in the bitmap;
    the few with an expiry (bank test numbers) live in a small dict and are checked
    against the clock on every lookup, so an expired entry stops counting at the exact
    instant without waiting for :meth:`purge`, and the bitmap never needs rebuilding for
    them.  A number is a member while ``now < expires_at``.
    """

    __slots__ = ("_expiring", "_permanent")

    def __init__(
        self, permanent: Iterable[int] | None = None, expiring: Mapping[int, float] | None = None
    ) -> None:
        perm = permanent if isinstance(permanent, NumberSet) else NumberSet(permanent)
        exp = dict(expiring or {})
        if exp and perm:
            # a permanent entry wins over an expiring duplicate of the same number
            for number in [n for n in exp if n in perm]:
                del exp[number]
        self._permanent: NumberSet = perm
        self._expiring: Mapping[int, float] = MappingProxyType(exp)

    @classmethod
    def build(
        cls,
        numbers: Iterable[int],
        expiries: Mapping[int, float] | None = None,
    ) -> ExpiringNumberSet:
        """From an import: ``numbers`` are all entries, ``expiries`` the ones that end."""
        expiries = expiries or {}
        if not expiries:
            return cls(numbers)
        permanent = [n for n in numbers if n not in expiries]
        return cls(permanent, expiries)

    # --- lookups --------------------------------------------------------------------

    def contains(self, number: int, now: float) -> bool:
        """Membership at ``now`` (epoch seconds); one call per message, ``now`` per batch."""
        if number in self._permanent._bitmap:
            return True
        expires_at = self._expiring.get(number)
        return expires_at is not None and now < expires_at

    def __contains__(self, number: int) -> bool:
        return self.contains(number, time.time())

    def expiry_of(self, number: int) -> float | None:
        return self._expiring.get(number)

    @property
    def permanent(self) -> NumberSet:
        return self._permanent

    @property
    def expiring(self) -> Mapping[int, float]:
        return self._expiring

    def __len__(self) -> int:
        """All entries, including expired ones not yet purged."""
        return len(self._permanent) + len(self._expiring)

    def active_count(self, now: float) -> int:
        return len(self._permanent) + sum(1 for t in self._expiring.values() if now < t)

    def __repr__(self) -> str:
        permanent, expiring = len(self._permanent), len(self._expiring)
        return f"ExpiringNumberSet({permanent} permanent, {expiring} expiring)"

    # --- new snapshots --------------------------------------------------------------

    def purge(self, now: float) -> ExpiringNumberSet:
        """A new set without the entries expired at ``now`` (the daily job)."""
        kept = {n: t for n, t in self._expiring.items() if now < t}
        if len(kept) == len(self._expiring):
            return self
        return ExpiringNumberSet(self._permanent, kept)

    def with_numbers(
        self, numbers: Iterable[int], expiries: Mapping[int, float] | None = None
    ) -> ExpiringNumberSet:
        """Append mode: add entries; an expiry given here replaces an older one."""
        expiries = expiries or {}
        permanent = [n for n in numbers if n not in expiries]
        added = set(permanent)
        expiring = {n: t for n, t in self._expiring.items() if n not in added}
        expiring.update(expiries)
        return ExpiringNumberSet(self._permanent.with_numbers(permanent), expiring)

    def without(self, numbers: Iterable[int]) -> ExpiringNumberSet:
        gone = NumberSet(numbers)
        expiring = {n: t for n, t in self._expiring.items() if n not in gone}
        return ExpiringNumberSet(self._permanent.without(gone.bitmap), expiring)

    # --- persistence ----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """``CXS1`` + count + (number u64, expires_at f64) pairs + the bitmap bytes."""
        numbers = array.array("Q", self._expiring.keys())
        instants = array.array("d", self._expiring.values())
        return b"".join(
            (
                _HEADER.pack(_EXPIRING_MAGIC, len(numbers)),
                numbers.tobytes(),
                instants.tobytes(),
                self._permanent.to_bytes(),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ExpiringNumberSet:
        if len(data) < _HEADER.size:
            raise ValueError("not a serialised expiring set: too short")
        magic, count = _HEADER.unpack_from(data)
        if magic != _EXPIRING_MAGIC:
            raise ValueError("not a serialised expiring set: bad magic")
        start = _HEADER.size
        end = start + 16 * count
        if len(data) < end:
            raise ValueError("not a serialised expiring set: truncated")
        numbers = array.array("Q")
        numbers.frombytes(data[start : start + 8 * count])
        instants = array.array("d")
        instants.frombytes(data[start + 8 * count : end])
        result = cls.__new__(cls)
        result._permanent = NumberSet.from_bytes(data[end:])
        result._expiring = MappingProxyType(dict(zip(numbers, instants, strict=True)))
        return result


EMPTY_WHITELIST: Final = ExpiringNumberSet()


def signature_key(signature: str) -> str:
    """Key for per-signature opt-outs: ``【Acme】``, ``[Acme]`` and `` Acme `` are one
    signature (Chinese traffic: 回T退订 blocks the user per signature)."""
    return signature.strip().strip("【】[]").strip().casefold()


@dataclass(frozen=True, slots=True)
class ListSnapshot:
    """Every list at one instant.  A batch of decisions takes one snapshot and uses it
    throughout, so a swap in the middle of a batch cannot split the batch."""

    blacklist: NumberSet = EMPTY
    whitelists: Mapping[str, ExpiringNumberSet] = field(default_factory=dict)
    optouts: Mapping[str, NumberSet] = field(default_factory=dict)
    signature_optouts: Mapping[tuple[str, str], NumberSet] = field(default_factory=dict)

    def is_blacklisted(self, number: int) -> bool:
        return number in self.blacklist._bitmap

    def in_whitelist(self, line: str, number: int, now: float) -> bool:
        whitelist = self.whitelists.get(line)
        return whitelist is not None and whitelist.contains(number, now)

    def is_opted_out(self, line: str, number: int, signature: str | None = None) -> bool:
        optouts = self.optouts.get(line)
        if optouts is not None and number in optouts._bitmap:
            return True
        if signature is not None and self.signature_optouts:
            by_sig = self.signature_optouts.get((line, signature_key(signature)))
            return by_sig is not None and number in by_sig._bitmap
        return False
