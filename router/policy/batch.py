"""What the throttle and billing stages both need of a read batch, computed once a batch:
each submit's destination operator (one prefix lookup per distinct destination, shared
by the two stages through the snapshot) and the batch's segment counts (one ``len`` a
submit when every body fits one segment, the usual case).

Budget (issue 11 §5): both stages together ~0.7 µs a message, so the per-message work
here runs in C (``map``, ``zip``, ``dict.fromkeys``), not in a Python loop.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter

from router.policy.addresses import Addresses
from router.policy.sizing import ONE_SEGMENT_BODY, segments_of
from router.smpp.session import Submit

_body = itemgetter(1)
source_of = itemgetter(2)
_destination = itemgetter(3)
_ton = itemgetter(5)
_npi = itemgetter(6)


def counts(keys: list[str]) -> dict[str, int]:
    """How many times each key occurs; one key (the usual batch) without a Counter."""
    first = keys[0]
    if keys.count(first) == len(keys):
        return {first: len(keys)}
    return Counter(keys)


class BatchFacts:
    """Operators and segments of the last list of submits asked about (the throttle
    usually passes its input on whole, so billing gets the same list and the answers
    are reused)."""

    __slots__ = ("_for_ops", "_for_segments", "_for_sources", "_operators", "_segments",
                 "_sources")

    def __init__(self) -> None:
        self._for_ops: list[Submit] | None = None
        self._operators: list[str] = []
        self._for_segments: list[Submit] | None = None
        self._segments: list[int] | None = None
        self._for_sources: list[Submit] | None = None
        self._sources: dict[str, int] = {}

    def sources(self, submits: list[Submit]) -> dict[str, int]:
        """How many submits each source (line) sends; one line (the usual batch) without
        a Counter."""
        if submits is not self._for_sources:
            self._for_sources, self._sources = submits, counts(list(map(source_of, submits)))
        return self._sources

    def operators(self, submits: list[Submit], addresses: Addresses) -> list[str]:
        """The destination operator of each submit ("" when unknown), aligned."""
        if submits is self._for_ops:
            return self._operators
        destinations = list(map(_destination, submits))
        if submits and max(map(_ton, submits)) < 2:
            if destinations.count(destinations[0]) == len(destinations):  # one number
                found = addresses.canonical_operators(destinations[:1])
                found = found * len(destinations) if found is not None else None
            else:
                found = addresses.canonical_operators(destinations)
            if found is not None:
                self._for_ops, self._operators = submits, found
                return found
        keys = list(zip(destinations, map(_ton, submits), map(_npi, submits), strict=True))
        table = dict.fromkeys(keys, "")
        operator_of = addresses.operator_of
        for key in table:
            table[key] = operator_of(*key)
        if len(table) == 1:
            operators = [next(iter(table.values()))] * len(submits)
        else:
            operators = list(map(table.__getitem__, keys))
        self._for_ops, self._operators = submits, operators
        return operators

    def segments(self, submits: list[Submit]) -> list[int] | None:
        """Segments of each submit, or None when every submit is one segment."""
        if submits is self._for_segments:
            return self._segments
        if not submits or max(map(len, map(_body, submits))) <= ONE_SEGMENT_BODY:
            segments = None
        else:
            segments = list(map(segments_of, submits))
        self._for_segments, self._segments = submits, segments
        return segments
