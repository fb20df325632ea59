"""Domestic IP ranges from RIR delegated-statistics files, and a fast lookup.

Format (APNIC "RIR statistics exchange format", the same under every RIR):
``registry|cc|type|start|value|date|status[|extensions]``; for ipv4 ``value`` is an
address count (not always a power of two), for ipv6 it is a prefix length.  Ranges are
kept as merged, sorted integer intervals per family and searched with bisect, so
thousands of prefixes cost a few hundred nanoseconds per bind.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ParsedFile:
    source: str
    registry: str
    serial: str
    end_date: str
    v4: list[tuple[int, int]]
    v6: list[tuple[int, int]]


def parse_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer address as the checks see it: zone id dropped, IPv4-mapped IPv6 as IPv4."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True, slots=True)
class IntervalSet:
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, intervals: Iterable[tuple[int, int]]) -> IntervalSet:
        merged = _merge(intervals)
        return cls([s for s, _ in merged], [e for _, e in merged])

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self.starts, value) - 1
        return i >= 0 and value <= self.ends[i]

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True, slots=True)
class DomesticRanges:
    """One imported version of the country ranges."""

    version: str
    v4: IntervalSet
    v6: IntervalSet

    @classmethod
    def build(cls, version: str, v4: Iterable[tuple[int, int]],
              v6: Iterable[tuple[int, int]]) -> DomesticRanges:
        return cls(version, IntervalSet.of(v4), IntervalSet.of(v6))

    def __contains__(self, ip: str) -> bool:
        addr = parse_address(ip)
        if addr is None:
            return False
        table = self.v4 if addr.version == 4 else self.v6
        return int(addr) in table

    @property
    def size(self) -> int:
        return len(self.v4) + len(self.v6)
