"""Lawful export: the records of a number, an account or a line over a time range, as
CSV or JSON lines, streamed (memory does not grow with the row count), with a manifest
beside the file: row count, time range, query, SHA-256 of the file."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Protocol, runtime_checkable

import orjson

from router.store.records import months
from router.store.records.columns import COLUMNS, TABLES, Table

Format = Literal["csv", "jsonl"]
CHUNK = 4096
"""Lines a fetch (16,384 were ~10 % slower a row: the chunk left the caches)."""
ID_MARGIN = 60.0


class Lines(Protocol):
    def fetchmany(self, size: int) -> list[tuple[str, float]]: ...


class Block(NamedTuple):
    """Whole export lines (each ending in a newline), how many, and the received_at of
    the first and the last."""

    data: bytes
    rows: int
    first: float
    last: float


@runtime_checkable
class Streamed(Protocol):
    """Lines that come as Blocks already (PostgreSQL's COPY)."""

    def blocks(self) -> Iterator[Block]: ...


def blocks(rows: Lines | Streamed) -> Iterator[Block]:
    if isinstance(rows, Streamed):
        yield from rows.blocks()
        return
    while chunk := rows.fetchmany(CHUNK):
        data = "\n".join([line for line, _ in chunk]).encode() + b"\n"
        yield Block(data, len(chunk), chunk[0][1], chunk[-1][1])


class Readable(Protocol):
    """What the export reads (the SQLite and PostgreSQL record stores both)."""

    def months(self) -> list[str]: ...

    def lines(self, month: str, where: str, args: tuple[object, ...], table: Table,
              fmt: str, redact: bool) -> Lines | Streamed: ...

    def count(self, month: str, where: str, args: tuple[object, ...],
              table: Table = ...) -> int: ...


class _Chained:
    """The lines of several stores' month, one after the other."""

    def __init__(self, parts: list[Lines | Streamed]) -> None:
        self._parts = parts

    def blocks(self) -> Iterator[Block]:
        for part in self._parts:
            yield from blocks(part)


class Combined:
    """Several records stores read as one (the files of ``--workers``)."""

    def __init__(self, stores: list[Readable]) -> None:
        self._stores = stores

    def months(self) -> list[str]:
        return sorted({m for store in self._stores for m in store.months()})

    def lines(self, month: str, where: str, args: tuple[object, ...], table: Table,
              fmt: str, redact: bool) -> _Chained:
        return _Chained([store.lines(month, where, args, table, fmt, redact)
                         for store in self._stores if month in store.months()])

    def count(self, month: str, where: str, args: tuple[object, ...],
              table: Table = "records") -> int:
        return sum(store.count(month, where, args, table) for store in self._stores
                   if month in store.months())


@dataclass(frozen=True, slots=True)
class Query:
    msisdn: str | None = None
    account: str | None = None
    line: str | None = None
    since: float = 0.0
    until: float = float("inf")

    def where(self, table: Table = "refusals") -> tuple[str, tuple[object, ...]]:
        """SQL condition on fixed column names, the values as parameters.  On accepted
        records a time range is also a key range (ids carry their time; a minute of
        margin for ids taken ahead of the clock), so it reads only what it names."""
        terms = ["received_at >= ?"]
        args: list[object] = [self.since]
        if table == "records" and self.since > ID_MARGIN:
            terms.append("message_id >= ?")
            args.append(int((self.since - ID_MARGIN) * 1000) << 16)
        if self.until != float("inf"):
            terms.append("received_at < ?")
            args.append(self.until)
            if table == "records":
                terms.append("message_id < ?")
                args.append(int((self.until + ID_MARGIN) * 1000) << 16)
        if self.msisdn is not None:
            bare = self.msisdn.lstrip("+")
            terms.append("destination IN (?, ?)")
            args += [bare, "+" + bare]
        if self.account is not None:
            terms.append("account = ?")
            args.append(self.account)
        if self.line is not None:
            terms.append("line = ?")
            args.append(self.line)
        return " AND ".join(terms), tuple(args)

    def months_in(self, held: list[str]) -> list[str]:
        """The partitions the range can touch (a month early: ids and clocks may cross
        a month's first instant by a little)."""
        first = months.shift(months.month_of(self.since), -1) if self.since > 0 else ""
        last = months.month_of(min(self.until, time.time() + 86400 * 31))
        return [m for m in held if first <= m <= last]


@dataclass(frozen=True, slots=True)
class Manifest:
    file: str
    format: str
    rows: int
    sha256: str
    query: dict[str, object]
    first_record_at: str | None
    last_record_at: str | None
    redacted: bool
    created_at: str


def _iso(at: float | None) -> str | None:
    if at is None or at in (0.0, float("inf")):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class _Span:
    """First and last received_at seen, without a second pass."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def blocks(self, store: Readable, query: Query, fmt: Format, redact: bool,
               selected: list[str]) -> Iterator[Block]:
        for month, table in ((m, t) for m in selected for t in TABLES):
            where, args = query.where(table)
            for block in blocks(store.lines(month, where, args, table, fmt, redact)):
                yield self._seen(block)

    def _seen(self, block: Block) -> Block:
        self.first = block.first if self.first is None else min(self.first, block.first)
        self.last = block.last if self.last is None else max(self.last, block.last)
        return block


def _quiet(n: int) -> None:
    pass


def export(store: Readable, query: Query, path: Path, fmt: Format, redact: bool,
           progress: Callable[[int], Callable[[int], None]] | None = None) -> Manifest:
    """Write the file and its manifest (``FILE.manifest.json``).  ``progress(total)``
    gives the callback told how many rows each chunk wrote; without it the rows are not
    counted first (a scan of its own)."""
    selected = query.months_in(store.months())
    tick = _quiet if progress is None else progress(
        sum(store.count(m, *query.where(t), t) for m in selected for t in TABLES))
    rows = 0

    def counted(n: int) -> None:
        nonlocal rows
        rows += n
        tick(n)

    span = _Span()
    digest = hashlib.sha256()
    with path.open("wb") as out:
        if fmt == "csv":
            header = ",".join(COLUMNS).encode() + b"\n"
            digest.update(header)
            out.write(header)
        for block in span.blocks(store, query, fmt, redact, selected):
            digest.update(block.data)  # hashed as written: the file is not read again
            out.write(block.data)
            counted(block.rows)
    manifest = Manifest(path.name, fmt, rows, digest.hexdigest(),
                        {k: v for k, v in asdict(query).items()
                         if v is not None and k not in ("since", "until")}
                        | {"from": _iso(query.since), "to": _iso(query.until)},
                        _iso(span.first), _iso(span.last), redact, _iso(time.time()) or "")
    manifest_path(path).write_bytes(orjson.dumps(asdict(manifest), option=orjson.OPT_INDENT_2))
    return manifest


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")
