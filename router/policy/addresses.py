"""Destination and sender addresses as the lists' integer keys.

Most traffic carries canonical home-country numbers (``98`` + ``9XXXXXXXXX``): those are
recognised by length, prefix and ASCII digits and converted with ``int`` directly; the
rest goes through the full parser in ``numbers.py``.  ``str.isdigit`` alone is not
enough: it accepts characters such as ``²`` that ``int`` refuses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter

from router.policy.numbers import Invalid, normalise
from router.policy.plans import Operators
from router.policy.settings import PolicySettings


class Addresses:
    __slots__ = ("_all_canonical", "_by_head", "_country", "_head", "_head_of", "_operators",
                 "e164_length", "heads")

    def __init__(self, settings: PolicySettings, operators: Operators) -> None:
        self._country = settings.default_country
        self._operators = operators
        plan = operators.plans.get(settings.default_country)
        self.e164_length = len(settings.default_country) + (plan.nsn_length if plan else 0)
        """Length of a canonical home mobile number, e.g. 12 for 98 9XX XXX XXXX."""
        self.heads = tuple(settings.default_country + p for p in plan.nsn_prefixes) \
            if plan else ()
        self._head = max(map(len, operators.prefixes()), default=0)
        """Digits of a canonical number that decide its operator (the longest prefix)."""
        self._by_head: dict[str, str] = {}
        self._head_of = itemgetter(slice(0, self._head))
        rest = [f"{re.escape(h)}[0-9]{{{self.e164_length - len(h)}}}" for h in self.heads]
        self._all_canonical = re.compile(f"(?:(?:{'|'.join(rest)})\n)*") if rest else None
        """A read batch's destinations, each followed by a newline, all canonical home
        mobile numbers: one match for the batch instead of four tests a number."""

    @property
    def operators(self) -> Operators:
        """The numbering plans and prefix tables (list imports check numbers by them)."""
        return self._operators

    def number_of(self, address: str, ton: int, npi: int | None = None) -> int | None:
        """An address as the lists' int key, or None when it is no mobile number."""
        if (len(address) == self.e164_length and address.startswith(self.heads)
                and address.isascii() and address.isdigit() and ton in (0, 1)
                and npi in (None, 0, 1)):
            return int(address)
        result = normalise(address, default_country=self._country, ton=ton, npi=npi,
                           operators=self._operators)
        return None if isinstance(result, Invalid) else int(result.e164)

    def canonical_operator(self, address: str) -> str | None:
        """The operator of a canonical home mobile number (TON 0 or 1), else None."""
        if (len(address) == self.e164_length and address.startswith(self.heads)
                and address.isascii() and address.isdigit()):
            return self._head_operator(address[:self._head], address)
        return None

    def canonical_operators(self, destinations: Sequence[str]) -> list[str] | None:
        """The operators of a batch's destinations (TON 0 or 1) when all are canonical
        home mobile numbers (the usual batch: ~0.05 µs a number against ~0.4 through
        ``operator_of`` one by one), else None."""
        canonical = self._all_canonical
        lines = "\n".join(destinations) + "\n"
        # the length says no destination holds a newline of its own
        if (canonical is None or len(lines) != len(destinations) * (self.e164_length + 1)
                or canonical.fullmatch(lines) is None):
            return None
        heads = list(map(self._head_of, destinations))
        found = list(map(self._by_head.get, heads))
        if None in found:  # heads not seen yet: the prefix table once each
            for i, head in enumerate(heads):
                if found[i] is None:
                    found[i] = self._head_operator(head, destinations[i])
        return found  # type: ignore[return-value]  # no None left

    def _head_operator(self, head: str, address: str) -> str:
        """A canonical number's operator, cached by its head."""
        found = self._by_head.get(head)
        if found is None:
            if len(self._by_head) > 100_000:
                self._by_head.clear()
            found = self._by_head[head] = self._operators.operator_of(address) or ""
        return found

    def operator_of(self, address: str, ton: int, npi: int | None = None) -> str:
        """The operator a destination belongs to (prefix tables), "" when unknown."""
        if ton < 2:
            found = self.canonical_operator(address)
            if found is not None:
                return found
        number = self.number_of(address, ton, npi)
        if number is None:
            return ""
        return self._operators.operator_of(str(number)) or ""
