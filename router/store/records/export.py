"""Lawful export: the records of a number, an account or a line over a time range, as
CSV or JSON lines, streamed (memory does not grow with the row count), with a manifest
beside the file: row count, time range, query, SHA-256 of the file."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

import orjson

from router.store.records import months
from router.store.records.sqlite import COLUMNS, TABLES, Table

Format = Literal["csv", "jsonl"]
_TEXT = COLUMNS.index("text")
_AT = COLUMNS.index("received_at")
CHUNK = 4096
_REFUSAL_COLUMNS = ", ".join(("NULL", *COLUMNS[1:]))  # a refusal has no message id


class Readable(Protocol):
    """What the export reads (the SQLite and PostgreSQL record stores both)."""

    def months(self) -> list[str]: ...

    def select(self, month: str, where: str, args: tuple[object, ...], table: Table = ...,
               columns: str = ...) -> Iterator[tuple[object, ...]]: ...

    def count(self, month: str, where: str, args: tuple[object, ...],
              table: Table = ...) -> int: ...


@dataclass(frozen=True, slots=True)
class Query:
    msisdn: str | None = None
    account: str | None = None
    line: str | None = None
    since: float = 0.0
    until: float = float("inf")

    def where(self) -> tuple[str, tuple[object, ...]]:
        """SQL condition on fixed column names, the values as parameters."""
        terms = ["received_at >= ?"]
        args: list[object] = [self.since]
        if self.until != float("inf"):
            terms.append("received_at < ?")
            args.append(self.until)
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


def _redacted(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    for row in rows:
        text = row[_TEXT]
        yield (*row[:_TEXT], f"[redacted: {len(str(text))} characters]", *row[_TEXT + 1:])


def _write_csv(out: io.TextIOWrapper, chunks: Iterator[list[tuple[object, ...]]],
               tick: Callable[[int], None]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for chunk in chunks:
        writer.writerows(chunk)
        tick(len(chunk))


def _write_jsonl(out: io.BufferedWriter, chunks: Iterator[list[tuple[object, ...]]],
                 tick: Callable[[int], None]) -> None:
    dumps = orjson.dumps
    for chunk in chunks:
        out.write(b"".join([dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n"
                            for row in chunk]))
        tick(len(chunk))


class _Span:
    """First and last received_at seen, without a second pass."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def chunks(self, store: Readable, query: Query, redact: bool,
               selected: list[str]) -> Iterator[list[tuple[object, ...]]]:
        where, args = query.where()
        for month, table in ((m, t) for m in selected for t in TABLES):
            rows = store.select(month, where, args, table,
                                ", ".join(COLUMNS) if table == "records" else _REFUSAL_COLUMNS)
            if redact:
                rows = _redacted(rows)
            chunk: list[tuple[object, ...]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == CHUNK:
                    yield self._seen(chunk)
                    chunk = []
            if chunk:
                yield self._seen(chunk)

    def _seen(self, chunk: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
        first, last = chunk[0][_AT], chunk[-1][_AT]
        assert isinstance(first, float) and isinstance(last, float)
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)
        return chunk


def export(store: Readable, query: Query, path: Path, fmt: Format, redact: bool,
           progress: Callable[[int], Callable[[int], None]] = lambda total: lambda n: None
           ) -> Manifest:
    """Write the file and its manifest (``FILE.manifest.json``).  ``progress(total)``
    gives the callback told how many rows each chunk wrote."""
    selected = query.months_in(store.months())
    where, args = query.where()
    tick = progress(sum(store.count(m, where, args, t) for m in selected for t in TABLES))
    rows = 0

    def counted(n: int) -> None:
        nonlocal rows
        rows += n
        tick(n)

    span = _Span()
    chunks = span.chunks(store, query, redact, selected)
    with path.open("wb") as raw:
        if fmt == "csv":
            with io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
                _write_csv(text, chunks, counted)
        else:
            _write_jsonl(raw, chunks, counted)
    manifest = Manifest(path.name, fmt, rows, _sha256(path),
                        {k: v for k, v in asdict(query).items()
                         if v is not None and k not in ("since", "until")}
                        | {"from": _iso(query.since), "to": _iso(query.until)},
                        _iso(span.first), _iso(span.last), redact, _iso(time.time()) or "")
    manifest_path(path).write_bytes(orjson.dumps(asdict(manifest), option=orjson.OPT_INDENT_2))
    return manifest


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
