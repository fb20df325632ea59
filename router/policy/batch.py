"""What the throttle and billing stages both need of a read batch, computed once a batch:
each submit's destination operator (one prefix lookup per distinct destination, shared
by the two stages through the snapshot), the batch's lines and its segment counts (one
``len`` a submit when every body fits one segment, the usual case).

Budget (issue 11 §5): both stages together ~0.7 µs a message, so the per-message work
here runs in C: the batch is turned into columns once (``zip(*submits)``: one pass
instead of a ``map`` per field the stages read), then ``count``, ``max`` and
``dict.fromkeys`` work on those, not a Python loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from router.policy.addresses import Addresses
from router.policy.sizing import ONE_SEGMENT_BODY, segments_of
from router.smpp.session import Submit

source_of = itemgetter(2)
_BODIES, _SOURCES, _DESTINATIONS, _TONS, _NPIS = 1, 2, 3, 5, 6
"""Columns of a batch (the fields of ``Submit``)."""


def counts(keys: Sequence[str]) -> dict[str, int]:
    """How many times each key occurs; one key (the usual batch) without a Counter."""
    first = keys[0]
    if keys.count(first) == len(keys):
        return {first: len(keys)}
    return Counter(keys)


class BatchFacts:
    """Operators, lines and segments of the last list of submits asked about (the
    throttle usually passes its input on whole, so billing gets the same list and the
    answers are reused)."""

    __slots__ = ("_columns", "_for", "_operators", "_segmented", "_segments", "_sources")

    def __init__(self) -> None:
        self._for: list[Submit] | None = None
        self._columns: list[tuple[Any, ...]] = []
        self._operators: list[str] | None = None
        self._segments: list[int] | None = None
        self._segmented = False
        """Whether ``_segments`` is known."""
        self._sources: dict[str, int] | None = None

    def _of(self, submits: list[Submit]) -> list[tuple[Any, ...]]:
        """The batch's columns; a new list of submits forgets the last one's answers."""
        if submits is not self._for:
            # every Submit has the same fields: strict would only check that (~0.2 µs)
            self._for, self._columns = submits, list(zip(*submits, strict=False))
            self._operators = self._sources = self._segments = None
            self._segmented = False
        return self._columns

    def sources(self, submits: list[Submit]) -> dict[str, int]:
        """How many submits each source (line) sends."""
        columns = self._of(submits)
        if self._sources is None:
            self._sources = counts(columns[_SOURCES]) if submits else {}
        return self._sources

    def operators(self, submits: list[Submit], addresses: Addresses) -> list[str]:
        """The destination operator of each submit ("" when unknown), aligned."""
        columns = self._of(submits)
        if self._operators is None:
            self._operators = self._operators_of(columns, addresses) if submits else []
        return self._operators

    @staticmethod
    def _operators_of(columns: list[tuple[Any, ...]], addresses: Addresses) -> list[str]:
        destinations: tuple[str, ...] = columns[_DESTINATIONS]
        count = len(destinations)
        if max(columns[_TONS]) < 2:
            first = destinations[0]
            if destinations.count(first) == count:  # one number
                one = addresses.canonical_operator(first)
                found = [one] * count if one is not None else None
            else:
                found = addresses.canonical_operators(destinations)
            if found is not None:
                return found
        keys = list(zip(destinations, columns[_TONS], columns[_NPIS], strict=True))
        table = dict.fromkeys(keys, "")
        operator_of = addresses.operator_of
        for key in table:
            table[key] = operator_of(*key)
        if len(table) == 1:
            return [next(iter(table.values()))] * count
        return list(map(table.__getitem__, keys))

    def segments(self, submits: list[Submit]) -> list[int] | None:
        """Segments of each submit, or None when every submit is one segment."""
        columns = self._of(submits)
        if not self._segmented:
            self._segmented = True
            if submits and max(map(len, columns[_BODIES])) > ONE_SEGMENT_BODY:
                self._segments = list(map(segments_of, submits))
        return self._segments
