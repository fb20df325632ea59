"""The hash chain of a month's records (and of its events): each row's hash covers the
row and the hash before it, so an edited row breaks its own link and a removed one the
link after it; the month's head (row count, last hash) catches removal from the end."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

GENESIS = b"\0" * 32


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


def chain_records(previous: bytes, rows: Iterable[tuple[Sequence[Any], Sequence[Any]]]
                  ) -> tuple[list[tuple[Any, ...]], bytes]:
    """``chain`` of (record, state) rows, each stored as (*record, *state, hash) in the
    same pass (the record alone is chained: the state changes later); the last hash."""
    sha = hashlib.sha256
    dumps = orjson.dumps
    out: list[tuple[Any, ...]] = []
    append = out.append
    for record, state in rows:
        fixed = tuple(record)  # orjson writes no NamedTuple
        previous = sha(previous + dumps(fixed)).digest()
        append((*fixed, *state, previous))
    return out, previous
