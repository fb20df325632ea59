"""Domestic IP ranges from RIR delegated-statistics files, and a fast lookup.

Format (APNIC "RIR statistics exchange format", the same under every RIR):
``registry|cc|type|start|value|date|status[|extensions]``; for ipv4 ``value`` is an
address count (not always a power of two), for ipv6 it is a prefix length.  Ranges are
kept as merged, sorted integer intervals per family and searched with bisect, so
thousands of prefixes cost a few hundred nanoseconds per bind.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from router.model.ranges import ParsedFile

IN_USE = frozenset({"allocated", "assigned"})


class RangesError(Exception):
    """A file that is not RIR delegated statistics; the message says where."""


def parse_delegated(text: str, countries: Iterable[str], source: str = "file") -> ParsedFile:
    """The in-use ipv4/ipv6 ranges of ``countries`` as inclusive integer intervals."""
    wanted = {c.upper() for c in countries}
    registry = serial = end_date = ""
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    header_seen = False
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("|")
        if not header_seen:
            if len(parts) < 7 or not parts[0].replace(".", "").isdigit():
                raise RangesError(f"{source}:{lineno}: not an RIR delegated-statistics header")
            registry, serial, end_date = parts[1], parts[2], parts[5]
            header_seen = True
            continue
        if len(parts) < 7 or parts[1] == "*" or parts[5] == "summary":
            continue  # summary lines
        cc, kind, start, value, status = parts[1].upper(), parts[2], parts[3], parts[4], parts[6]
        if cc not in wanted or status not in IN_USE or kind not in ("ipv4", "ipv6"):
            continue
        try:
            if kind == "ipv4":
                first = int(ipaddress.IPv4Address(start))
                count = int(value)
                if count < 1 or first + count - 1 > 0xFFFFFFFF:
                    raise ValueError("address count out of range")
                v4.append((first, first + count - 1))
            else:
                net = ipaddress.IPv6Network(f"{start}/{int(value)}", strict=False)
                v6.append((int(net.network_address), int(net.broadcast_address)))
        except ValueError as exc:
            raise RangesError(f"{source}:{lineno}: bad {kind} record: {exc}") from None
    if not header_seen:
        raise RangesError(f"{source}: empty file")
    return ParsedFile(source, registry, serial, end_date, v4, v6)


def load_files(paths: list[Path], countries: Iterable[str]) -> list[ParsedFile]:
    out = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise RangesError(f"{path}: cannot read: {exc.strerror}") from exc
        out.append(parse_delegated(text, countries, str(path)))
    return out
