"""``records verify``: a month's chains recomputed from its first row, its head compared,
and every record's state compared with its events folded again.  The first bad row is
named; a month that passes had nothing altered or removed since it was written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from router.store.records import fold, months
from router.store.records.chain import GENESIS, link, matches
from router.store.records.columns import CHAINED, COLUMNS, TABLES, Table
from router.store.records.sqlite import Head, Verdict

_ID = COLUMNS.index("message_id")
_DECISION = COLUMNS.index("decision")
_STATE = slice(len(CHAINED), len(COLUMNS))


class Verifiable(Protocol):
    def months(self) -> list[str]: ...

    def head(self, month: str) -> Head | None: ...

    def chained_rows(self, month: str, table: Table) -> Iterator[tuple[object, ...]]: ...

    def events(self, month: str) -> Iterator[tuple[int, float, str, str, bytes]]: ...


def _rows(store: Verifiable, month: str, table: Table, head: Head) -> tuple[int, str]:
    """One chain, in key order: the first row whose hash does not follow names itself."""
    previous = GENESIS
    count = 0
    label = table[:-1]
    for row in store.chained_rows(month, table):
        count += 1
        digest = link(previous, row[:len(CHAINED)])
        if not matches(row[-1], digest):
            return count, (f"{label} {count} (message {_show_id(table, row[_ID])}) does not "
                           "match its hash: it was altered, or a row before it was removed")
        previous = digest
    expected, last = getattr(head, table), getattr(head, f"{table}_hash")
    if count != expected or previous != last:
        return count, (f"the month's head says {expected} {table}, the table holds {count}: "
                       f"{table} after {label} {count} were removed")
    return count, ""


def _events(store: Verifiable, month: str, head: Head) -> tuple[int, str]:
    previous = GENESIS
    count = 0
    for seq, at, kind, payload, digest in store.events(month):
        count += 1
        if seq != count:
            return count, f"event {count} is missing (removed): the chain goes on at {seq}"
        previous = link(previous, (seq, at, kind, payload))
        if previous != bytes(digest):
            return count, f"event {seq} ({kind}) was altered: its hash does not match"
    if count != head.events or previous != head.events_hash:
        return count, (f"the month's head says {head.events} events, the table ends at "
                       f"{count}: events were removed")
    return count, ""


def _states(store: Verifiable, month: str) -> str:
    """Each record's status, upstream, times and charge as its events make them.  The
    events of this month and those after it are folded (a message's events never come
    before its month)."""
    first = int(months.month_start(month) * 1000) << 16
    last = int(months.month_start(months.shift(month, 1)) * 1000) << 16
    states: dict[int, fold.State] = {}
    for later in (m for m in store.months() if m >= month):
        for _, at, kind, payload, _ in store.events(later):
            fold.apply(states, kind, at, payload.encode())
        for other in [i for i in states if not first <= i < last]:
            del states[other]
    for position, row in enumerate(store.chained_rows(month, "records"), 1):
        message_id = row[_ID]
        assert isinstance(message_id, int)
        expected = fold.initial(str(row[_DECISION]))
        change = states.get(message_id)
        if change is not None:
            expected = fold.merge(expected, change)
        if list(row[_STATE]) != expected:
            return (f"record {position} (message {message_id:x}) was altered: its "
                    f"state {list(row[_STATE])} is not what its events make "
                    f"({expected})")
    return ""


def _show_id(table: Table, message_id: object) -> str:
    if table == "refusals":
        return "refused"
    return f"{message_id:x}" if isinstance(message_id, int) else str(message_id)


def verify(store: Verifiable, month: str) -> Verdict:
    months.parse_month(month)
    head = store.head(month)
    if head is None:
        return Verdict(month, 0, 0, f"no records partition for {month}")
    rows = 0
    for table in TABLES:
        count, problem = _rows(store, month, table, head)
        rows += count
        if problem:
            return Verdict(month, rows, 0, problem)
    events, problem = _events(store, month, head)
    if problem:
        return Verdict(month, rows, events, problem)
    return Verdict(month, rows, events, _states(store, month))
