"""The routing table (upstream/routing.py), without sockets: ordered rules, first match
wins, prefixes and operators from the numbering tables, line kinds, time windows; the
precompiled hot path decides exactly as the rule-by-rule explanation does."""

from __future__ import annotations

import random
import time

import pytest

from router.model.lines import Line, LineBook
from router.model.messages import Message
from router.policy.plans import Operators
from router.policy.settings import PolicySettings
from router.upstream import routing
from router.upstream.routing import ALL, RouteError, RouteTable
from router.upstream.settings import (
    AccountGroupSettings,
    GroupSettings,
    RoutingSettings,
    RuleSettings,
)

UPSTREAMS = ["a", "b", "c"]
OPERATORS = dict(Operators.load(PolicySettings().prefix_folder()).prefixes())
ZONE = "Asia/Tehran"
GROUPS = tuple(GroupSettings(name=n, upstreams=(n,)) for n in UPSTREAMS)


def table(*rules: RuleSettings, default: str = "", lines: LineBook | None = None,
          **extra: object) -> RouteTable:
    book = lines or LineBook()
    settings = RoutingSettings(groups=GROUPS, rules=rules, default_group=default,
                               **extra)  # type: ignore[arg-type]
    return RouteTable(settings, UPSTREAMS, OPERATORS, ZONE, lambda: book,
                      lambda d: "98" + d[1:] if d.startswith("09") else d)


def routed(t: RouteTable, *messages: Message) -> dict[str, list[int]]:
    return {g: [m.id for m in ms] for g, ms in t.route(list(messages)).items()}


def msg(i: int, destination: str, account: str = "acme", source: str = "3000") -> Message:
    return Message(i, account, b"", source=source, destination=destination)


def test_no_rules_is_one_group_without_per_message_work() -> None:
    assert table().constant == ALL
    assert table(default="b").constant == "b"
    assert routed(table(default="b"), msg(1, "x")) == {"b": [1]}


def test_first_matching_rule_wins_over_a_longer_prefix_later() -> None:
    """A broad rule before a narrow one takes the narrow one's numbers too."""
    broad_first = table(RuleSettings(prefixes=("989",), group="a"),
                        RuleSettings(prefixes=("98912",), group="b"), default="c")
    assert routed(broad_first, msg(1, "989121111111"), msg(2, "989351111111"),
                  msg(3, "441234567890")) == {"a": [1, 2], "c": [3]}
    narrow_first = table(RuleSettings(prefixes=("98912",), group="b"),
                         RuleSettings(prefixes=("989",), group="a"), default="c")
    assert routed(narrow_first, msg(1, "989121111111"), msg(2, "989351111111"),
                  msg(3, "441234567890")) == {"b": [1], "a": [2], "c": [3]}


def test_operator_rules_use_the_longest_prefix_of_the_numbering_tables() -> None:
    """9893 is Irancell but 98931 is MTCE (config/prefixes/ir.yaml)."""
    t = table(RuleSettings(operators=("Irancell",), group="a"),
              RuleSettings(operators=("IR-MCI",), group="b"), default="c")
    assert routed(t, msg(1, "989351234567"), msg(2, "989311234567"), msg(3, "989121234567"),
                  msg(4, "989901234567")) == {"a": [1], "c": [2], "b": [3, 4]}


def test_national_numbers_are_normalised_before_the_prefix_match() -> None:
    t = table(RuleSettings(operators=("IR-MCI",), group="b"), default="c")
    assert routed(t, msg(1, "09121234567"), msg(2, "989121234567")) == {"b": [1, 2]}


def test_accounts_groups_sources_and_line_kinds() -> None:
    lines = LineBook([Line(number="3000", account="acme", kind="service"),
                      Line(number="1000", account="acme", kind="advertising"),
                      Line(number="2000", account="shop", kind="service", status="demoted")])
    t = table(RuleSettings(account_groups=("gold",), sources=("1000",), group="a"),
              RuleSettings(line_kinds=("service",), group="b"), default="c", lines=lines,
              account_groups=(AccountGroupSettings(name="gold", accounts=("acme",)),))
    got = routed(t, msg(1, "98912", "acme", "1000"), msg(2, "98912", "acme", "3000"),
                 msg(3, "98912", "shop", "2000"),  # demoted: sends as advertising
                 msg(4, "98912", "shop", "3000"))  # not its line: no kind
    assert got == {"a": [1], "b": [2], "c": [3, 4]}


def test_a_rule_outside_its_hours_is_skipped() -> None:
    now = time.time()
    t = table(RuleSettings(hours=_window(now, inside=True), group="a"), default="c")
    assert routed(t, msg(1, "98912")) == {"a": [1]}
    t = table(RuleSettings(hours=_window(now, inside=False), group="a"), default="c")
    assert routed(t, msg(1, "98912")) == {"c": [1]}
    assert t.explain("acme", "3000", "98912", "", now).steps[1].endswith("outside its hours")


def _window(now: float, inside: bool) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromtimestamp(now, ZoneInfo(ZONE))
    minute = local.hour * 60 + local.minute
    start = (minute - 5) % 1440 if inside else (minute + 5) % 1440
    end = (minute + 5) % 1440 if inside else (minute + 10) % 1440
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@pytest.mark.parametrize("expand_limit", [routing.EXPAND_LIMIT, 0])
def test_the_precompiled_table_decides_as_the_rules_read_one_by_one(
        monkeypatch: pytest.MonkeyPatch, expand_limit: int) -> None:
    """20 random rules over prefixes and operators, 5,000 random destinations: the hot
    path (one dict lookup, or the longest-first walk when expansion is off) names the
    group the explanation finds rule by rule."""
    monkeypatch.setattr(routing, "EXPAND_LIMIT", expand_limit)
    rng = random.Random(12)
    heads = ["989", "9891", "98912", "98935", "98931", "9899", "98990", "86138", "861"]
    operators = sorted(set(OPERATORS.values()))
    rules = []
    for _ in range(20):
        if rng.random() < 0.5:
            rules.append(RuleSettings(prefixes=tuple(rng.sample(heads, 2)),
                                      group=rng.choice(UPSTREAMS)))
        else:
            rules.append(RuleSettings(operators=tuple(rng.sample(operators, 2)),
                                      group=rng.choice(UPSTREAMS)))
    t = table(*rules, default="c")
    numbers = [rng.choice(heads) + "".join(rng.choice("0123456789") for _ in range(7))
               for _ in range(5000)]
    got = t.route([msg(i, n) for i, n in enumerate(numbers)])
    by_id = {m.id: g for g, ms in got.items() for m in ms}
    now = time.time()
    for i, number in enumerate(numbers):
        assert by_id[i] == t.explain("acme", "3000", number, "", now).group, number


@pytest.mark.parametrize(("settings", "words"), [
    (RoutingSettings(groups=(GroupSettings(name="g", upstreams=("zz",)),)), "no upstream"),
    (RoutingSettings(groups=(GroupSettings(name="g", upstreams=("a", "b"),
                                           strategy="weighted", weights=(1,)),)), "weights"),
    (RoutingSettings(groups=GROUPS, rules=(RuleSettings(group="nope"),)), "no group"),
    (RoutingSettings(groups=GROUPS, rules=(RuleSettings(group="a", operators=("Vodafone",)),)),
     "unknown operator"),
    (RoutingSettings(groups=GROUPS, rules=(RuleSettings(group="a", prefixes=("+98",)),)),
     "E.164 digits"),
    (RoutingSettings(groups=GROUPS, rules=(RuleSettings(group="a", hours="9-5"),)), "hours"),
    (RoutingSettings(groups=GROUPS, rules=(RuleSettings(group="a", account_groups=("x",)),)),
     "account group"),
    (RoutingSettings(groups=GROUPS, default_group="x"), "default_group"),
])
def test_a_table_that_cannot_work_is_refused_with_its_key(settings: RoutingSettings,
                                                          words: str) -> None:
    with pytest.raises(RouteError, match=words):
        RouteTable(settings, UPSTREAMS, OPERATORS, ZONE)
