"""What the throttle and billing stages both need of a read batch, computed once a batch:
each submit's destination operator (one prefix lookup per distinct destination, shared
by the two stages through the snapshot), the batch's lines and its segment counts (one
``len`` a submit when every body fits one segment, the usual case).

Budget (issue 11 §5): both stages together ~0.7 µs a message, so the per-message work
here runs in C (``map``, ``count``, ``max``, ``dict.fromkeys``), not a Python loop, and
what the line stage found in its own loop over the batch is not looked for again: a
batch from one line, to canonical numbers, reads only its destinations and bodies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import itemgetter

from router.policy.addresses import Addresses
from router.policy.sizing import ONE_SEGMENT_BODY, segments_of
from router.smpp.session import Submit

body_of, source_of, destination_of = itemgetter(1), itemgetter(2), itemgetter(3)
ton_of, npi_of = itemgetter(5), itemgetter(6)
"""Fields of a ``Submit``."""


def counts(keys: Sequence[str]) -> dict[str, int]:
    """How many times each key occurs; one key (the usual batch) without a Counter."""
    first = keys[0]
    if keys.count(first) == len(keys):
        return {first: len(keys)}
    return Counter(keys)


class BatchFacts:
    """Operators, lines and segments of the last list of submits asked about (the
    throttle usually passes its input on whole, so billing gets the same list and the
    answers are reused).  The line stage, which looks at every submit already, says
    what it found (``known``): its one line, and whether every destination is a
    canonical home number."""

    __slots__ = ("_canonical", "_for", "_operators", "_segmented", "_segments", "_sources")

    def __init__(self) -> None:
        self._for: list[Submit] | None = None
        self._operators: list[str] | None = None
        self._segments: list[int] | None = None
        self._segmented = False
        """Whether ``_segments`` is known."""
        self._sources: dict[str, int] | None = None
        self._canonical = False
        """Every destination is a canonical home number, TON and NPI < 2 (as far as
        known)."""

    def known(self, submits: list[Submit], source: str | None, canonical: bool) -> None:
        """What an earlier stage found of ``submits``: their one source (None: several
        or not known) and whether every destination is canonical."""
        self._for = submits
        self._operators = self._segments = None
        self._segmented = False
        self._sources = {source: len(submits)} if source is not None and submits else None
        self._canonical = canonical

    def _of(self, submits: list[Submit]) -> None:
        """A new list of submits forgets the last one's answers."""
        if submits is not self._for:
            self.known(submits, None, False)

    def sources(self, submits: list[Submit]) -> dict[str, int]:
        """How many submits each source (line) sends."""
        self._of(submits)
        if self._sources is None:
            self._sources = counts(list(map(source_of, submits))) if submits else {}
        return self._sources

    def operators(self, submits: list[Submit], addresses: Addresses) -> list[str]:
        """The destination operator of each submit ("" when unknown), aligned."""
        self._of(submits)
        if self._operators is None:
            self._operators = self._operators_of(submits, addresses) if submits else []
        return self._operators

    def _operators_of(self, submits: list[Submit], addresses: Addresses) -> list[str]:
        destinations = list(map(destination_of, submits))
        count = len(destinations)
        if self._canonical or max(map(ton_of, submits)) < 2:
            first = destinations[0]
            if destinations.count(first) == count:  # one number
                one = addresses.canonical_operator(first)
                found = [one] * count if one is not None else None
            else:
                found = addresses.canonical_operators(destinations)
            if found is not None:
                return found
        keys = list(zip(destinations, map(ton_of, submits), map(npi_of, submits),
                        strict=True))
        table = dict.fromkeys(keys, "")
        operator_of = addresses.operator_of
        for key in table:
            table[key] = operator_of(*key)
        if len(table) == 1:
            return [next(iter(table.values()))] * count
        return list(map(table.__getitem__, keys))

    def segments(self, submits: list[Submit]) -> list[int] | None:
        """Segments of each submit, or None when every submit is one segment."""
        self._of(submits)
        if not self._segmented:
            self._segmented = True
            if submits and max(map(len, map(body_of, submits))) > ONE_SEGMENT_BODY:
                self._segments = list(map(segments_of, submits))
        return self._segments
