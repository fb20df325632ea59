"""The lawful export's lines streamed out of PostgreSQL by ``COPY (SELECT …) TO STDOUT``.

A server-side cursor read by FETCH left the server idle while Python handled a chunk and
Python idle while the server made the next one, and made a Python object of every line.
COPY streams: the server makes lines while the export hashes and writes the ones before
(two cores), and they arrive as bytes in big blocks that are hashed and written whole:
nothing is done in Python a row.  A bounded queue between the link's loop and the export
keeps memory flat when the disk is slower than the server.

One backend making every line was the export's limit (~257 k rows per server CPU-second:
the line's expression, ~3.5 µs a row, is most of it), so the COPY's query runs in
parallel for JSON lines (``PARALLEL``): workers each scan a share of the id index's pages
and make their rows' lines, and the backend merges their ordered streams by id (Gather
Merge) and sends them.  One query, so one snapshot and the same bytes in the same order
as a serial plan; the export's side is unchanged.  CSV lines stay serial: cheaper to
make, they met the target on one backend, and the merge cost them ~14 % more server
time and, on a busy machine, wall time in two of three side-by-side runs.
"""

from __future__ import annotations

import asyncio
import calendar
import queue
import re
import threading
import time
from collections.abc import Iterator

import asyncpg

from router.store.postgres.link import PgLink
from router.store.postgres.text import unescape_lines
from router.store.records.export import Block

BLOCK = 1 << 20
"""Bytes handed from the link's loop to the export at a time."""
DEPTH = 8
"""Blocks in flight at most (memory: DEPTH x BLOCK)."""
TRICKLE = 1 << 16
"""A read smaller than this waits 2 ms before the next: with the server slower than the
export, reads of a few kB each cost more Python than the rest of the export (the server
keeps writing meanwhile: the socket's buffers hold more than 2 ms of lines)."""
PARALLEL = {"max_parallel_workers_per_gather": 2, "parallel_setup_cost": 0,
            "parallel_tuple_cost": 0, "min_parallel_index_scan_size": 0, "jit": "off"}
"""Settings of the COPY's transaction: a parallel plan whatever the table's size (the
planner's costs would keep a merge of 10 M rows serial), two workers beside the backend
(the backend merges and sends, and makes lines when the workers are ahead); no JIT (its
compiling in every worker cost more than it saved)."""
PARALLEL_FORMATS = ("jsonl",)
"""The formats whose COPY runs in parallel (see above)."""
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_COPY_CODES = {b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b",
               b"f": b"\f", b"v": b"\v"}
_ISO = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z")


def _copy_text(data: bytes) -> bytes:
    """COPY's text format undone (a backslash escapes a backslash or a control
    character; the lines hold no tab, the only delimiter)."""
    if b"\\" not in data:
        return data
    return _COPY_ESCAPE.sub(lambda m: _COPY_CODES.get(m[1], m[1]), data)


def _at(line: bytes) -> float:
    """The line's received_at: its first ISO time (the id before it is hex or empty)."""
    match = _ISO.search(line)
    if match is None:
        return 0.0
    return (calendar.timegm(time.strptime(match[1].decode(), "%Y-%m-%dT%H:%M:%S"))
            + int(match[2]) / 1000)


def block_of(raw: bytes, fmt: str) -> Block:
    """Whole COPY lines as a Block of export lines."""
    first_end = raw.index(b"\n")
    last_start = raw.rfind(b"\n", 0, len(raw) - 1) + 1
    data = unescape_lines(_copy_text(raw), fmt)
    return Block(data, raw.count(b"\n"), _at(raw[:first_end]), _at(raw[last_start:]))


class Copied:
    """The lines of one query, as Blocks, from a COPY on ``link``'s connection."""

    def __init__(self, link: PgLink, sql: str, args: tuple[object, ...], fmt: str) -> None:
        self._link, self.sql, self.args, self._fmt = link, sql, args, fmt

    def blocks(self) -> Iterator[Block]:
        """Blocks of whole lines as the COPY brings them; what it raised, at its end.
        Left early, the COPY is cancelled."""
        pending: queue.Queue[bytes] = queue.Queue(DEPTH)
        stop = threading.Event()
        parallel = self._fmt in PARALLEL_FORMATS
        future = self._link.stream(lambda conn: _copy(conn, self.sql, self.args,
                                                      pending, stop, parallel))
        try:
            while True:
                try:
                    raw = pending.get(timeout=0.05)
                except queue.Empty:
                    if future.done() and pending.empty():
                        future.result()  # raises what the COPY raised
                        break
                    continue
                yield block_of(raw, self._fmt)
        finally:
            stop.set()
            future.cancel()


async def _copy(conn: asyncpg.Connection, sql: str, args: tuple[object, ...],
                pending: queue.Queue[bytes], stop: threading.Event,
                parallel: bool) -> None:
    """COPY's data gathered into blocks of whole lines, BLOCK bytes or more, and queued
    for the export (a worker thread waits while the queue is full, the loop does not).
    A block is cut after the last line end of the read that fills it: one copy of the
    data (the join), not three (joining a line's start to its end after the queue)."""
    parts: list[bytes] = []
    size = 0

    def put(data: bytes) -> None:
        while not stop.is_set():
            try:
                pending.put(data, timeout=0.05)
                return
            except queue.Full:
                continue

    async def output(data: bytes) -> None:
        nonlocal size
        parts.append(data)
        size += len(data)
        if len(data) < TRICKLE:  # let the socket fill: a read costs ~30 µs of Python
            await asyncio.sleep(0.002)
        if size >= BLOCK and (cut := data.rfind(b"\n") + 1):
            rest = data[cut:]
            block = b"".join(parts) if not rest else b"".join([*parts[:-1], data[:cut]])
            parts[:] = [rest] if rest else []
            size = len(rest)
            await asyncio.to_thread(put, block)

    async with conn.transaction(readonly=True):
        if parallel:
            await in_parallel(conn)
        await conn.copy_from_query(sql, *args, output=output)
    if parts:
        await asyncio.to_thread(put, b"".join(parts))


async def in_parallel(conn: asyncpg.Connection) -> None:
    """``PARALLEL`` for the rest of the transaction under way (SET LOCAL: the link's
    connection serves the other calls as before once it ends)."""
    await conn.execute("".join(f"SET LOCAL {name} = {value};"
                               for name, value in PARALLEL.items()))
