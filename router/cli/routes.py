"""``chapar routes test --account A --from L --to N``: the upstream group a message
would take now (or ``--at``) and why, rule by rule, from the routing table in the
config and the lines in its registry (nothing is sent).  ``chapar routes show`` lists
the groups and rules.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime

from router.cli import common
from router.cli.common import CliError, Stores, Subparsers
from router.policy.addresses import Addresses
from router.upstream.routing import ALL, RouteError, RouteTable


def table_of(stores: Stores) -> RouteTable:
    config = stores.config
    operators = common.operators(config.policy)
    addresses = Addresses(config.policy, operators)

    def normalise(destination: str) -> str:
        number = addresses.number_of(destination, 0)
        return "" if number is None else str(number)

    upstreams = [u.name for u in config.upstreams]
    if config.simulator.enabled:
        upstreams.append("simulator")
    try:
        return RouteTable(config.routing, upstreams, dict(operators.prefixes()),
                          config.policy.timezone, normalise=normalise)
    except RouteError as exc:
        raise CliError(str(exc)) from None


def _group_text(table: RouteTable, name: str) -> str:
    group = table.groups.get(name)
    if group is None:
        return "all upstreams, round-robin" if name == ALL else f"{name!r} (unknown)"
    shares = (f" {list(zip(group.upstreams, group.weights, strict=True))}"
              if group.strategy == "weighted" else f" {list(group.upstreams)}")
    return f"{name!r} ({group.strategy}{shares})"


def _at(text: str | None, stores: Stores) -> float:
    """``--at`` as an instant; without an offset, in ``policy.timezone``."""
    if not text:
        return time.time()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--at {text!r}: expected YYYY-MM-DDTHH:MM[+ZZ:ZZ]") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=common.zone(stores.config.policy))
    return at.timestamp()


def cmd_test(args: argparse.Namespace, stores: Stores) -> None:
    table = table_of(stores)
    line = stores.lines.get_line(args.source)
    kind = line.effective_kind if line is not None and line.account == args.account else ""
    answer = table.explain(args.account, args.source, args.destination, kind,
                           _at(args.at, stores))
    if args.json:
        print(json.dumps({"group": answer.group or None,
                          "rule": answer.rule.index + 1 if answer.rule else None,
                          "rule_name": answer.rule.name if answer.rule else None,
                          "steps": answer.steps}, ensure_ascii=False, indent=2))
        return
    via = answer.rule.label if answer.rule else "no rule (the default)"
    print(f"route: group {_group_text(table, answer.group)} via {via}")
    for step in answer.steps:
        print(f"  {step}")


def cmd_show(args: argparse.Namespace, stores: Stores) -> None:
    table = table_of(stores)
    for name in table.groups:
        print(f"group {_group_text(table, name)}")
    for rule in table.rules:
        conditions = {
            "accounts": sorted(rule.accounts or ()), "sources": sorted(rule.sources or ()),
            "line_kinds": sorted(rule.kinds or ()), "prefixes": list(rule.prefixes),
            "operators": sorted(rule.operators or ())}
        said = "; ".join(f"{k} {v}" for k, v in conditions.items() if v)
        hours = table.settings.rules[rule.index].hours
        print(f"{rule.label}: {said or 'any message'}{'; hours ' + hours if hours else ''}"
              f" -> {rule.group!r}")
    print(f"otherwise -> {_group_text(table, table.default)}")


def add_parsers(sub: Subparsers) -> None:
    group = common.Group(sub, "routes", "the routing table: test a message, show the rules",
                         {"test": cmd_test, "show": cmd_show})
    p = group.action("test", "the group a message would take and why (sends nothing)")
    p.add_argument("--account", required=True, help="system_id")
    p.add_argument("--from", dest="source", required=True, help="source_addr (the line)")
    p.add_argument("--to", dest="destination", required=True, help="destination_addr")
    p.add_argument("--at", help="local ISO time to decide at (default: now)")
    p.add_argument("--json", action="store_true")
    group.action("show", "the groups and rules, in order")
