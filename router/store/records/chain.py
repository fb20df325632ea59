"""The hash chain of a month's records (and of its events): each row's hash covers the
row and the hash before it, so an edited row breaks its own link and a removed one the
link after it; the month's head (row count, last hash) catches removal from the end.

A row may keep its whole link (32 bytes) or its first 8 bytes as a signed integer
(``short``): the chain runs on whole links either way, so an edited row still breaks
every link after it, and a 64-bit mismatch names the row.  SQLite keeps the short form:
binding a blob cost ~0.35 µs a row, an integer ~0.05 (about 5 % of the follower)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

GENESIS = b"\0" * 32
_FIRST_8 = struct.Struct("<q").unpack_from


def short(digest: bytes) -> int:
    """A link's first 8 bytes as the signed 64-bit integer SQLite stores."""
    return int(_FIRST_8(digest)[0])


def matches(stored: object, digest: bytes) -> bool:
    """A row's kept link (whole or short) against the link computed for it."""
    if isinstance(stored, int):
        return stored == short(digest)
    return stored == digest


def link(previous: bytes, row: Sequence[object]) -> bytes:
    """The hash of ``row`` chained to ``previous`` (orjson: one canonical encoding)."""
    return hashlib.sha256(previous + orjson.dumps(row)).digest()


def chain(previous: bytes, rows: Sequence[Sequence[object]]) -> tuple[list[bytes], bytes]:
    """Hashes of consecutive rows, and the last one (the next row's ``previous``)."""
    sha = hashlib.sha256
    dumps = orjson.dumps
    out = []
    for row in rows:
        previous = sha(previous + dumps(row)).digest()
        out.append(previous)
    return out, previous


def chain_records(previous: bytes, rows: Iterable[tuple[Sequence[Any], Sequence[Any]]],
                  short_links: bool = False) -> tuple[list[tuple[Any, ...]], bytes]:
    """``chain`` of (record, state) rows, each stored as (*record, *state, link) in the
    same pass (the record alone is chained: the state changes later), the link whole
    or ``short``; the last link."""
    sha = hashlib.sha256
    dumps = orjson.dumps
    first_8 = _FIRST_8
    out: list[tuple[Any, ...]] = []
    append = out.append
    for record, state in rows:
        fixed = tuple(record)  # a Row as it is; a Record copied (orjson writes no NamedTuple)
        previous = sha(previous + dumps(fixed)).digest()
        append((*fixed, *state, first_8(previous)[0] if short_links else previous))
    return out, previous
