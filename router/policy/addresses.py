"""Destination and sender addresses as the lists' integer keys.

Most traffic carries canonical home-country numbers (``98`` + ``9XXXXXXXXX``): those are
recognised by length, prefix and ASCII digits and converted with ``int`` directly; the
rest goes through the full parser in ``numbers.py``.  ``str.isdigit`` alone is not
enough: it accepts characters such as ``²`` that ``int`` refuses.
"""

from __future__ import annotations

from router.policy.numbers import Invalid, normalise
from router.policy.plans import Operators
from router.policy.settings import PolicySettings


class Addresses:
    __slots__ = ("_by_head", "_country", "_head", "_operators", "e164_length", "heads")

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

    def operator_of(self, address: str, ton: int, npi: int | None = None) -> str:
        """The operator a destination belongs to (prefix tables), "" when unknown."""
        if (len(address) == self.e164_length and address.startswith(self.heads)
                and address.isascii() and address.isdigit() and ton < 2):
            head = address[:self._head]  # canonical: the operator is cached by its head
            found = self._by_head.get(head)
            if found is None:
                if len(self._by_head) > 100_000:
                    self._by_head.clear()
                found = self._by_head[head] = self._operators.operator_of(address) or ""
            return found
        number = self.number_of(address, ton, npi)
        if number is None:
            return ""
        return self._operators.operator_of(str(number)) or ""
