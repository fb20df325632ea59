"""Which of the events read in a round it may fold.

Folding applies events in the order read, so a round takes only events of messages
already recorded (or recorded in the same round), and never a receipt ahead of an
outcome still unread: folded later, that outcome would turn a delivered message back
into ``sent``.  A receipts row names the last outcomes row committed with or before it
(journal.RECEIPTS), and a message's outcome is committed before or with its receipt,
so a receipt whose outcomes are folded may fold too, even when the round's outcomes
were cut.  Taking a round's outcomes and receipts with its messages (instead of a
round later) saves the UPDATE of each of those records, ~2 µs a message on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from router.model.wallets import expand

Ids = Callable[[Any], int]
"""The highest message id a journal row's entries name (-1: none)."""


def parsed(rows: list[Any], column: int) -> list[Any]:
    """``rows`` with their JSON entries (``column``) parsed and appended: parsed once
    for the order here and for the folding (twice, they were ~3 % of the follower)."""
    loads = orjson.loads
    return [(*row, loads(row[column])) for row in rows]


def _status_ids(row: Any) -> int:
    """Outcomes (seq, at, entries, upstream, parsed) and receipts (seq, at, entries,
    outcomes, parsed): each entry starts with its message id."""
    return max((entry[0] for entry in row[-1]), default=-1)


def _money_ids(row: Any) -> int:  # (seq, at, kind, entries, parsed)
    return max((message_id for message_id, _ in expand(row[-1])), default=-1)


def _leading(rows: list[Any], highest: Ids, bound: int | None) -> tuple[list[Any], bool]:
    """The rows before the first naming an id at or above ``bound`` (None: all), and
    whether that was all of them."""
    if bound is None:
        return rows, True
    for i, row in enumerate(rows):
        if highest(row) >= bound:
            return rows[:i], False
    return rows, True


def _receipts(receipts: list[Any], bound: int | None, folded: int, all_read: bool) -> list[Any]:
    """The leading receipts (seq, at, entries, outcomes) whose outcomes are folded by the
    end of the round (up to seq ``folded``); a row from before the ``outcomes`` column
    (None) only when every outcome was read (``all_read``)."""
    for i, row in enumerate(receipts):
        upto = row[3]
        if (not all_read if upto is None else upto > folded) or (
                bound is not None and _status_ids(row) >= bound):
            return receipts[:i]
    return receipts


def foldable(outcomes: list[Any], receipts: list[Any], money: list[Any], limit: int,
             bound: int | None, outcomes_done: int = 0
             ) -> tuple[list[Any], list[Any], list[Any]]:
    """The outcomes, receipts and ledger rows (each as ``parsed`` gives it) a round may
    fold.  ``bound``: the first id
    not recorded yet when journal batches remain unread (None: every message is);
    ``outcomes_done``: the outcomes cursor before the round.  A receipt waits while an
    outcome committed before it is unread; the ledger only moves charges, whatever the
    order, so it waits for nothing else."""
    outcomes, whole = _leading(outcomes, _status_ids, bound)
    folded = outcomes[-1][0] if outcomes else outcomes_done
    receipts = _receipts(receipts, bound, folded, whole and len(outcomes) < limit)
    money, _ = _leading(money, _money_ids, bound)
    return outcomes, receipts, money
