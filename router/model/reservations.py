"""Open reservations by message id (requirements §5: a message's cost is reserved at
accept until the carrier's answer or its receipt commits or refunds it).

A read batch at one price, charged on acceptance (the usual batch), is kept as one run:
its first id, size, account and price, and a byte per id saying whether it is settled.
The batch opens it in one step and a carrier read that answers consecutive ids of it
closes them in a few C-level calls.  As a dict entry per id the same cost ~2,000 CPU
instructions a message (the ids are 57-bit ints: each one allocated, hashed, inserted
and popped), a third of what the throttle and billing stages cost together.  Any other
reservation (prices that differ, accounts charged on delivery, those restored at start)
is an entry of its own.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

Entry = tuple[str, int, bool]
"""(account, reserved cost, settled by its receipt)."""
_OPEN, _SETTLED = 0, 1
_ONE_SETTLED = bytes((_SETTLED,))


class _Run:
    __slots__ = ("end", "entry", "first", "left", "settled")

    def __init__(self, first: int, count: int, entry: Entry) -> None:
        self.first = first
        self.end = first + count
        self.entry = entry
        self.settled = bytearray(count)
        self.left = count


class Reservations:
    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}
        self._runs: dict[int, _Run] = {}
        """By first id; ``_firsts`` holds the same keys in order."""
        self._firsts: list[int] = []

    # --- opening ------------------------------------------------------------------------

    def open_run(self, first: int, count: int, account: str, cost: int) -> None:
        """``count`` consecutive ids from ``first`` at ``cost`` each (never charged on
        delivery: those are entries)."""
        run = _Run(first, count, (account, cost, False))
        self._runs[first] = run
        firsts = self._firsts
        if not firsts or firsts[-1] < first:
            firsts.append(first)
        else:  # ids grow; a run out of order is kept sorted all the same
            firsts.insert(bisect_right(firsts, first), first)

    def update(self, entries: Iterable[tuple[int, Entry]]) -> None:
        self._entries.update(entries)

    def __setitem__(self, message_id: int, entry: Entry) -> None:
        self._entries[message_id] = entry

    # --- finding and closing ---------------------------------------------------------

    def _run_of(self, message_id: int) -> _Run | None:
        firsts = self._firsts
        index = bisect_right(firsts, message_id) - 1
        if index < 0:
            return None
        run = self._runs[firsts[index]]
        return run if message_id < run.end else None

    def get(self, message_id: int) -> Entry | None:
        entry = self._entries.get(message_id)
        if entry is None and self._runs:
            run = self._run_of(message_id)
            if run is not None and run.settled[message_id - run.first] == _OPEN:
                return run.entry
        return entry

    def pop(self, message_id: int) -> Entry | None:
        """Close one reservation: its entry, or None when none is open for the id."""
        entry = self._entries.pop(message_id, None)
        if entry is None and self._runs:
            run = self._run_of(message_id)
            if run is not None:
                offset = message_id - run.first
                if run.settled[offset] == _OPEN:
                    run.settled[offset] = _SETTLED
                    self._closed(run, 1)
                    return run.entry
        return entry

    def close_runs(self, ids: list[int]) -> tuple[list[tuple[str, int, int]], list[int]]:
        """Close at once each run's share of ``ids`` that is consecutive and open (a
        carrier read answers the batches it was sent in order; ids jump at each new
        millisecond, so a read covers a few runs): (account, first id, count) of what
        was closed, and the ids left for one-by-one (not in a run, or a share with a
        gap, a repeat or an id already settled).  A step a run, not a message."""
        if not self._runs or not ids:
            return [], ids
        ids = sorted(ids)
        firsts, runs = self._firsts, self._runs
        closed: list[tuple[str, int, int]] = []
        left: list[int] = []
        at, count = 0, len(ids)
        while at < count:
            index = bisect_right(firsts, ids[at]) - 1
            run = runs[firsts[index]] if index >= 0 else None
            if run is None or ids[at] >= run.end:  # between runs
                following = firsts[index + 1] if index + 1 < len(firsts) else None
                end = count if following is None else bisect_left(ids, following, at)
                left += ids[at:end]
                at = end
                continue
            end = bisect_left(ids, run.end, at)
            first, size = ids[at], end - at
            start = first - run.first
            if (ids[end - 1] - first + 1 == size and len(set(ids[at:end])) == size
                    and run.settled.find(_SETTLED, start, start + size) < 0):
                run.settled[start:start + size] = _ONE_SETTLED * size
                closed.append((run.entry[0], first, size))
                self._closed(run, size, index)
            else:
                left += ids[at:end]
            at = end
        return closed, left

    def _closed(self, run: _Run, count: int, index: int | None = None) -> None:
        """``count`` more of the run's ids settled; ``index``: its place in
        ``_firsts`` when known."""
        run.left -= count
        if run.left == 0:
            del self._runs[run.first]
            firsts = self._firsts
            del firsts[bisect_right(firsts, run.first) - 1 if index is None else index]

    # --- as a whole --------------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self._entries) or bool(self._runs)

    def __iter__(self) -> Iterator[int]:
        """Every open id (tests and diagnostics: not the hot path)."""
        yield from self._entries
        for first in self._firsts:
            run = self._runs[first]
            yield from (first + offset for offset, state in enumerate(run.settled)
                        if state == _OPEN)
