"""The routing table: ordered rules -> an upstream group, decided per batch.

A rule holds when each condition it names holds (account or account group, source line
or line kind, destination prefix or operator, time window); the first rule that holds
names the group.  On the hot path nothing scans the rules per message: the rules active
this minute are narrowed once per (account[, source]) to a *decider*, memoised: a group
name when no remaining rule looks at the destination (the whole run of a batch goes
there), else one dict from a destination's first digits to its group, precompiled so
that the longest-prefix match equals the first-rule match (rule prefixes and, for
operator rules, every prefix of the operator tables are the boundaries), expanded to
one key length when that stays small: one slice and one dict lookup a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import attrgetter
from typing import cast
from zoneinfo import ZoneInfo

from router.model.lines import HoursError, LineBook, parse_hours, within
from router.model.messages import Message
from router.smpp.codec import scan_submit
from router.upstream.settings import GroupSettings, RoutingSettings, RuleSettings

ALL = ""
"""The implicit group: every upstream, round-robin (no routing table, or no match and
no ``default_group``)."""
EXPAND_LIMIT = 200_000
"""Keys at most in a decider expanded to one prefix length."""

_account = attrgetter("account")
_destination = attrgetter("destination")
_account_source = attrgetter("account", "source")


class RouteError(ValueError):
    """A routing table that cannot work; the message names the key."""


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    name: str
    group: str
    accounts: frozenset[str] | None
    sources: frozenset[str] | None
    kinds: frozenset[str] | None
    prefixes: tuple[str, ...]
    operators: frozenset[str] | None
    hours: tuple[int, int] | None

    @property
    def label(self) -> str:
        return f"rule {self.index + 1}" + (f" ({self.name})" if self.name else "")

    @property
    def on_destination(self) -> bool:
        return bool(self.prefixes) or self.operators is not None

    def open_at(self, minute: int) -> bool:
        return within(self.hours, minute)

    def key_miss(self, account: str, source: str, kind: str) -> str:
        """Why the rule does not hold for this sender ("" when it may)."""
        if self.accounts is not None and account not in self.accounts:
            return f"account {account!r} is not one of {sorted(self.accounts)}"
        if self.sources is not None and source not in self.sources:
            return f"source {source!r} is not one of {sorted(self.sources)}"
        if self.kinds is not None and kind not in self.kinds:
            return f"line kind {kind or 'unknown'!r} is not one of {sorted(self.kinds)}"
        return ""

    def destination_holds(self, e164: str, operator: str) -> bool:
        if self.prefixes and not e164.startswith(self.prefixes):
            return False
        return self.operators is None or operator in self.operators


@dataclass(frozen=True, slots=True)
class Prefixes:
    """A decider that reads the destination: ``table[dest[:length]]`` (or each of
    ``lengths``, longest first), else ``default``."""

    table: dict[str, str]
    lengths: tuple[int, ...]
    default: str


Decider = str | Prefixes


@dataclass(frozen=True, slots=True)
class Explanation:
    group: str
    rule: Rule | None
    steps: list[str]


class RouteTable:
    def __init__(self, settings: RoutingSettings, upstreams: Iterable[str],
                 operator_prefixes: dict[str, str], timezone: str,
                 lines: Callable[[], LineBook] = LineBook,
                 normalise: Callable[[str], str] = str) -> None:
        self.settings = settings
        self.groups: dict[str, GroupSettings] = {g.name: g for g in settings.groups}
        self._operator_prefixes = operator_prefixes
        self.rules = compile_rules(settings, set(upstreams), set(operator_prefixes.values()))
        self.default = settings.default_group or ALL
        self._zone = ZoneInfo(timezone)
        self._lines = lines
        self._normalise = normalise
        """A destination as E.164 digits (policy's normaliser); "" when it is none."""
        self._book: LineBook | None = None
        self._minute = -1
        self._active: tuple[Rule, ...] = ()
        self._deciders: dict[object, Decider] = {}
        self._by_source = any(r.sources is not None or r.kinds is not None
                              for r in self.rules)
        self._key = _account_source if self._by_source else _account
        self.constant: str | None = None if self.rules else self.default
        """Every message goes to this group (no rules): no per-batch work at all."""
        self._prefix_lengths = sorted({len(p) for p in operator_prefixes}, reverse=True)

    # --- the hot path ---------------------------------------------------------------

    def route(self, messages: list[Message]) -> dict[str, list[Message]]:
        if self.constant is not None:
            return {self.constant: messages}
        deciders = self._now()
        routed: dict[str, list[Message]] = {}
        for key, run in groupby(messages, self._key):
            decider = deciders.get(key)
            if decider is None:
                decider = deciders[key] = self._decider(key)
            if type(decider) is str:
                found = routed.get(decider)
                if found is None:
                    routed[decider] = list(run)
                else:
                    found.extend(run)
            else:
                self._by_destination(decider, run, routed)  # type: ignore[arg-type]
        return routed

    def _by_destination(self, decider: Prefixes, run: Iterable[Message],
                        routed: dict[str, list[Message]]) -> None:
        messages = list(run)
        if len(decider.lengths) == 1:  # one lookup a message, in a comprehension
            get = decider.table.get
            length = decider.lengths[0]
            groups = [get(d[:length]) for d in map(_destination, messages)]
        else:
            groups = [None] * len(messages)
        first = groups[0]
        if first is not None and groups.count(first) == len(groups):  # the usual batch
            found = routed.get(first)
            if found is None:
                routed[first] = messages
            else:
                found.extend(messages)
            return
        for message, group in zip(messages, groups, strict=True):
            if group is None:
                group = self._slow(decider, message.destination)
            bucket = routed.get(group)
            if bucket is None:
                routed[group] = [message]
            else:
                bucket.append(message)

    def _slow(self, decider: Prefixes, destination: str) -> str:
        """Longest prefix first, on the destination as written, then normalised."""
        for number in (destination, self._normalise(destination)):
            for length in decider.lengths:
                group = decider.table.get(number[:length])
                if group is not None:
                    return group
        return decider.default

    def _now(self) -> dict[object, Decider]:
        """The deciders of the rules active this minute (lines and rules may change)."""
        book = self._lines()
        now = time.time()
        minute = int(now // 60)
        if minute != self._minute or book is not self._book:
            self._minute = minute
            self._book = book
            local = datetime.fromtimestamp(now, self._zone)
            of_day = local.hour * 60 + local.minute
            active = tuple(r for r in self.rules if r.open_at(of_day))
            if active != self._active or self._by_source:
                self._active = active
                self._deciders = {}
        return self._deciders

    def _kind(self, account: str, source: str) -> str:
        line = self._book.get(source) if self._book is not None else None
        return line.effective_kind if line is not None and line.account == account else ""

    def _decider(self, key: object) -> Decider:
        if self._by_source:
            account, source = cast(tuple[str, str], key)
        else:
            account, source = cast(str, key), ""
        kind = self._kind(account, source) if self._by_source else ""
        on_destination: list[Rule] = []
        default = self.default
        for rule in self._active:
            if rule.key_miss(account, source, kind):
                continue
            if not rule.on_destination:
                default = rule.group
                break
            on_destination.append(rule)
        if not on_destination:
            return default
        return self._prefixes(on_destination, default)

    def _prefixes(self, rules: list[Rule], default: str) -> Prefixes:
        bounds = {p for rule in rules for p in rule.prefixes}
        if any(rule.operators is not None for rule in rules):
            bounds.update(self._operator_prefixes)
        table: dict[str, str] = {}
        for bound in bounds:
            operator = self.operator_of(bound)
            table[bound] = next((r.group for r in rules if r.destination_holds(bound, operator)),
                                default)
        longest = max(map(len, table), default=0)
        if sum(10 ** (longest - len(p)) for p in table) <= EXPAND_LIMIT:
            expanded: dict[str, str] = {}
            for bound in sorted(table, key=len):  # longer bounds overwrite shorter ones
                group = table[bound]
                width = longest - len(bound)
                for tail in range(10 ** width):
                    expanded[bound + (f"{tail:0{width}d}" if width else "")] = group
            return Prefixes(expanded, (longest,), default)
        return Prefixes(table, tuple(sorted({len(p) for p in table}, reverse=True)), default)

    def operator_of(self, e164: str) -> str:
        get = self._operator_prefixes.get
        for length in self._prefix_lengths:
            name = get(e164[:length])
            if name is not None:
                return name
        return ""

    # --- `chapar routes test` --------------------------------------------------------

    def explain(self, account: str, source: str, destination: str, kind: str,
                at: float) -> Explanation:
        """The group a message would take and why, rule by rule."""
        local = datetime.fromtimestamp(at, self._zone)
        of_day = local.hour * 60 + local.minute
        e164 = self._normalise(destination) or destination
        operator = self.operator_of(e164)
        steps = [f"destination {destination!r} -> {e164!r}, operator {operator or 'unknown'}; "
                 f"line kind {kind or 'unknown'}; local time {local:%H:%M} "
                 f"({self._zone.key})"]
        for rule in self.rules:
            why = rule.key_miss(account, source, kind)
            if not why and not rule.open_at(of_day):
                why = "outside its hours"
            if not why and not rule.destination_holds(e164, operator):
                why = (f"destination matches none of {list(rule.prefixes)}" if rule.prefixes
                       and not e164.startswith(rule.prefixes) else
                       f"operator {operator or 'unknown'!r} is not one of "
                       f"{sorted(rule.operators or ())}")
            if why:
                steps.append(f"{rule.label}: no, {why}")
                continue
            steps.append(f"{rule.label}: yes -> group {rule.group!r}")
            return Explanation(rule.group, rule, steps)
        steps.append("no rule holds -> " + (f"default group {self.default!r}" if self.default
                                            else "all upstreams, round-robin"))
        return Explanation(self.default, None, steps)


def compile_rules(settings: RoutingSettings, upstreams: set[str],
                  operators: set[str]) -> tuple[Rule, ...]:
    """The rules checked against the upstreams and operators that exist."""
    groups = check_groups(settings, upstreams)
    account_groups = {g.name: g.accounts for g in settings.account_groups}
    return tuple(_rule(i, r, groups, account_groups, operators)
                 for i, r in enumerate(settings.rules))


def check_groups(settings: RoutingSettings, upstreams: set[str]) -> set[str]:
    names: set[str] = set()
    for i, group in enumerate(settings.groups):
        key = f"routing.groups[{i}]"
        if not group.name or group.name in names:
            raise RouteError(f"{key}.name: required and unique")
        names.add(group.name)
        if not group.upstreams:
            raise RouteError(f"{key}.upstreams: at least one")
        for name in group.upstreams:
            if name not in upstreams:
                raise RouteError(f"{key}.upstreams: no upstream named {name!r}")
        if group.strategy == "weighted" and (len(group.weights) != len(group.upstreams)
                                             or not all(w > 0 for w in group.weights)):
            raise RouteError(f"{key}.weights: one positive weight per upstream")
    if settings.default_group and settings.default_group not in names:
        raise RouteError(f"routing.default_group: no group named {settings.default_group!r}")
    return names


def _rule(index: int, rule: RuleSettings, groups: set[str],
          account_groups: dict[str, tuple[str, ...]], operators: set[str]) -> Rule:
    key = f"routing.rules[{index}]"
    if rule.group not in groups:
        raise RouteError(f"{key}.group: no group named {rule.group!r}")
    accounts = set(rule.accounts)
    for name in rule.account_groups:
        if name not in account_groups:
            raise RouteError(f"{key}.account_groups: no account group named {name!r}")
        accounts.update(account_groups[name])
    for name in rule.operators:
        if operators and name not in operators:
            raise RouteError(f"{key}.operators: unknown operator {name!r} "
                             f"(known: {', '.join(sorted(operators))})")
    for prefix in rule.prefixes:
        if not prefix.isascii() or not prefix.isdigit():
            raise RouteError(f"{key}.prefixes: {prefix!r} is not E.164 digits")
    try:
        hours = parse_hours(rule.hours)
    except HoursError as exc:
        raise RouteError(f"{key}.hours: {exc}") from None
    return Rule(index, rule.name, rule.group,
                frozenset(accounts) if rule.accounts or rule.account_groups else None,
                frozenset(rule.sources) if rule.sources else None,
                frozenset(rule.line_kinds) if rule.line_kinds else None,
                tuple(rule.prefixes),
                frozenset(rule.operators) if rule.operators else None, hours)


def fill_addresses(messages: Iterable[Message]) -> None:
    """Source and destination read from the body, for messages built without them
    (a restart's, released ones)."""
    for message in messages:
        if not message.destination:
            try:
                submit = scan_submit(0, message.body)
            except Exception:
                continue
            message.source, message.destination = submit.source_addr, submit.destination_addr
