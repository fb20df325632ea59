"""The lines and lists decisions read, held in one place and swapped whole.

The registry watcher replaces ``lines`` (a new LineBook) or publishes new list
snapshots in ``lists``; the pipeline and the MO handler read them per batch or per MO.
"""

from __future__ import annotations

from router.model.limits import LimitBook
from router.model.lines import LineBook
from router.policy.lists import ListRegistry


class Rules:
    __slots__ = ("limits", "lines", "lists")

    def __init__(self, lines: LineBook, lists: ListRegistry,
                 limits: LimitBook | None = None) -> None:
        self.lines = lines
        self.lists = lists
        self.limits = limits or LimitBook()
