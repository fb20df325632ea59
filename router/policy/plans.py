"""Numbering plans and operator prefixes, read from ``config/prefixes/*.yaml``.

Why data files: numbering plans and operator prefixes change with the regulator, not with
the code, so they live in one YAML file per country and are read by :class:`Operators`,
which also precomputes the fast rules the normaliser tries first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

# The tables of a source checkout; the router and the CLI load policy.prefixes_dir.
DEFAULT_PREFIX_DIR = Path(__file__).resolve().parents[2] / "config" / "prefixes"


class PrefixTableError(ValueError):
    """A prefix/numbering-plan file is malformed (raised at load, never per number)."""


@dataclass(frozen=True, slots=True)
class CountryPlan:
    """One country's mobile numbering plan, as read from its YAML file."""

    region: str
    name: str
    country_code: str
    national_prefix: str
    international_prefixes: tuple[str, ...]
    nsn_length: int
    nsn_prefixes: tuple[str, ...]
    example: str  # how people write a mobile number, for messages

    def is_mobile_nsn(self, nsn: str) -> bool:
        return len(nsn) == self.nsn_length and nsn.startswith(self.nsn_prefixes)


class FastRule(NamedTuple):
    """Clean digits starting with ``head`` (at the rule's length) -> ``add + raw[cut:]``;
    as an int: ``int(raw) + offset``."""

    head: str
    cut: int
    add: str
    offset: int
    country_code: str
    region: str


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (a prefix listed twice is a bug
    that PyYAML would otherwise hide by keeping the last one)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise PrefixTableError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
        mapping[key] = loader.construct_object(value_node)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _digits(value: object, what: str) -> str:
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        raise PrefixTableError(f"{what} must be digits in quotes, got {value!r}")
    return text


class Operators:
    """Numbering plans and operator prefixes of the supported countries.

    ``operator_of`` is a longest-prefix match over a dict per prefix length (a handful of
    dict lookups), cheap enough for the per-message path.
    """

    __slots__ = ("_fast", "_lengths", "_names", "_plans", "_plans_by_cc", "_prefixes")

    def __init__(self, plans: Iterable[CountryPlan], prefixes: Mapping[str, str]) -> None:
        self._plans: dict[str, CountryPlan] = {}
        for plan in plans:
            if plan.country_code in self._plans:
                raise PrefixTableError(f"country code {plan.country_code} defined twice")
            self._plans[plan.country_code] = plan
        # longest country code first, so "1" could never shadow "123"
        self._plans_by_cc = tuple(
            sorted(self._plans.values(), key=lambda p: len(p.country_code), reverse=True)
        )
        for prefix in prefixes:
            if not any(prefix.startswith(p.country_code) for p in self._plans_by_cc):
                raise PrefixTableError(f"prefix {prefix} is not under a configured country code")
        self._prefixes = dict(prefixes)
        self._lengths = tuple(sorted({len(p) for p in self._prefixes}, reverse=True))
        self._names = frozenset(self._prefixes.values())
        self._fast: dict[tuple[str, bool], dict[int, tuple[FastRule, ...]]] = {}

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Operators:
        """Read every ``*.yaml`` / ``*.yml`` file of ``folder`` (one country each)."""
        path = Path(folder)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            raise PrefixTableError(f"no prefix tables (*.yaml) in {path}")
        plans: list[CountryPlan] = []
        prefixes: dict[str, str] = {}
        for file in files:
            try:
                with file.open(encoding="utf-8") as fh:
                    doc = yaml.load(fh, Loader=_UniqueKeyLoader)
                plan, table = cls._parse(doc)
            except (PrefixTableError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
                raise PrefixTableError(f"{file}: {exc}") from exc
            for prefix, name in table.items():
                if prefix in prefixes:
                    raise PrefixTableError(f"{file}: prefix {prefix} already defined")
                prefixes[prefix] = name
            plans.append(plan)
        return cls(plans, prefixes)

    @classmethod
    def from_documents(cls, docs: Iterable[Mapping[str, Any]]) -> Operators:
        """Build from already-parsed documents (tests, or tables kept in the store)."""
        plans: list[CountryPlan] = []
        prefixes: dict[str, str] = {}
        for doc in docs:
            plan, table = cls._parse(doc)
            for prefix in table:
                if prefix in prefixes:
                    raise PrefixTableError(f"prefix {prefix} already defined")
            prefixes.update(table)
            plans.append(plan)
        return cls(plans, prefixes)

    @staticmethod
    def _parse(doc: Any) -> tuple[CountryPlan, dict[str, str]]:
        if not isinstance(doc, Mapping):
            raise PrefixTableError("a prefix table must be a YAML mapping")
        cc = _digits(doc["country_code"], "country_code")
        mobile = doc["mobile"]
        nsn_prefixes = tuple(_digits(p, "mobile.nsn_prefixes") for p in mobile["nsn_prefixes"])
        if not nsn_prefixes:
            raise PrefixTableError("mobile.nsn_prefixes is empty")
        nsn_length = int(mobile["nsn_length"])
        if not 4 <= nsn_length <= 14:
            raise PrefixTableError(f"mobile.nsn_length {nsn_length} out of range")
        national_prefix = str(doc.get("national_prefix") or "")
        if national_prefix:
            _digits(national_prefix, "national_prefix")
        intl = tuple(
            _digits(p, "international_prefixes") for p in doc.get("international_prefixes") or ()
        )
        example = str(
            mobile.get("example") or nsn_prefixes[0] + "X" * (nsn_length - len(nsn_prefixes[0]))
        )
        plan = CountryPlan(
            example=example,
            region=str(doc["country"]).upper(),
            name=str(doc.get("name") or doc["country"]),
            country_code=cc,
            national_prefix=national_prefix,
            international_prefixes=intl,
            nsn_length=nsn_length,
            nsn_prefixes=nsn_prefixes,
        )
        table: dict[str, str] = {}
        for prefix, name in (doc.get("operators") or {}).items():
            digits = _digits(prefix, "operator prefix")
            if not digits.startswith(cc):
                raise PrefixTableError(f"prefix {digits} does not start with country code {cc}")
            if not isinstance(name, str) or not name.strip():
                raise PrefixTableError(f"prefix {digits}: operator name missing")
            table[digits] = name.strip()
        return plan, table

    # --- lookups --------------------------------------------------------------------

    @property
    def plans(self) -> Mapping[str, CountryPlan]:
        """Plans by country code (``"98"``, ``"86"``)."""
        return self._plans

    @property
    def names(self) -> frozenset[str]:
        """Every operator name in the tables (to validate an ``operator=`` argument)."""
        return self._names

    def plan_for(self, e164: str) -> CountryPlan | None:
        """The plan whose country code starts ``e164``."""
        for plan in self._plans_by_cc:
            if e164.startswith(plan.country_code):
                return plan
        return None

    def operator_of(self, e164: str) -> str | None:
        """Operator owning the longest prefix of ``e164`` (None when no prefix matches)."""
        get = self._prefixes.get
        for length in self._lengths:
            name = get(e164[:length])
            if name is not None:
                return name
        return None

    def prefixes(self) -> Mapping[str, str]:
        return dict(self._prefixes)

    def fast_rules(
        self, default_country: str, *, international: bool = False
    ) -> Mapping[int, tuple[FastRule, ...]]:
        """Rules for clean ASCII-digit input, by length, in the slow path's priority order.

        Why: most numbers arrive clean (``09121234567``, ``989121234567``); matching one
        ``startswith`` per candidate rule and slicing is several times cheaper than the
        full normaliser, for submit_sm destinations and for 10 M-row imports alike.  A
        rule that matches gives exactly what :func:`normalise` gives (tested); anything
        else falls back to it.  ``international`` gives the TON=1 rules.
        """
        key = (default_country, international)
        rules = self._fast.get(key)
        if rules is None:
            rules = self._build_fast_rules(default_country, international)
            self._fast[key] = rules
        return rules

    def _build_fast_rules(
        self, default_country: str, international: bool
    ) -> dict[int, tuple[FastRule, ...]]:
        ordered: list[tuple[int, FastRule]] = []
        home = self._plans.get(default_country)
        reserved: tuple[str, ...] = ()
        if home is not None and not international:
            cc, np, length = home.country_code, home.national_prefix, home.nsn_length
            offset = int(cc) * 10**length
            reserved = (*home.international_prefixes, *((np,) if np else ()))
            for pfx in home.nsn_prefixes:
                if np:
                    rule = FastRule(np + pfx, len(np), cc, offset, cc, home.region)
                    ordered.append((len(np) + length, rule))
            for pfx in home.nsn_prefixes:
                if not pfx.startswith(reserved):
                    ordered.append((length, FastRule(pfx, 0, cc, offset, cc, home.region)))
        if home is not None or international:
            for plan in self._plans_by_cc:
                for pfx in plan.nsn_prefixes:
                    head = plan.country_code + pfx
                    size = len(plan.country_code) + plan.nsn_length
                    if reserved and head.startswith(reserved):
                        continue
                    if (
                        home is not None
                        and not international
                        and size == home.nsn_length
                        and (head.startswith(home.nsn_prefixes))
                    ):
                        continue  # read as a bare national number first
                    rule = FastRule(head, 0, "", 0, plan.country_code, plan.region)
                    ordered.append((size, rule))
        table: dict[int, list[FastRule]] = {}
        for size, rule in ordered:
            table.setdefault(size, []).append(rule)
        return {size: tuple(rules) for size, rules in table.items()}


@cache
def default_operators() -> Operators:
    """The tables shipped in ``config/prefixes``, loaded once (tests, defaults)."""
    return Operators.load(DEFAULT_PREFIX_DIR)
