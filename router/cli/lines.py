"""``chapar lines …``: sender lines (service / advertising) of the accounts.

They write to the registry the config names (the file ``store.registry_path``, or
PostgreSQL with ``store.backend: postgres``) through
:class:`~router.store.lines.LineStore`; a running router picks a change up from the
``changes`` table within a fraction of a second.  The registry is seeded from the config
first, so a line can be added to an account the YAML names before the router ever ran.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, cast

from router.cli import common
from router.cli.accounts import limit_options, set_limits
from router.cli.common import CliError, Stores, when
from router.model.lines import (
    EXEMPTIONS,
    KINDS,
    Exemption,
    Line,
    format_hours,
    parse_hours,
)
from router.policy.settings import PolicySettings
from router.store.lines import LineError, LineStore

_NO_EXEMPTION = ("none", "")


def _check_operator(name: str, policy: PolicySettings) -> str:
    if not name:
        return ""
    known = common.operators(policy).names
    if name not in known:
        raise CliError(f"unknown operator {name!r} (known: {', '.join(sorted(known))})")
    return name


def _exemption(value: str) -> Exemption:
    return cast(Exemption, "" if value in _NO_EXEMPTION else value)


def _show(line: Line) -> str:
    kind = line.kind + (f" ({line.exemption} exemption)" if line.exemption else "")
    status = line.status + (f": {line.status_reason}" if line.status_reason else "")
    out = [
        line.number,
        f"  account: {line.account}",
        f"  kind: {kind}",
        f"  status: {status}",
        f"  purpose: {line.purpose or '-'}",
        f"  operator: {line.operator or '-'}",
        f"  hours: {format_hours(line.hours) or 'any time'}",
        f"  priority: {'on' if line.priority else 'off'}",
        f"  created: {when(line.created_at)}  updated: {when(line.updated_at)}",
    ]
    return "\n".join(out)


def _show_lists(line: Line, store: LineStore) -> str:
    now = time.time()
    whitelist = store.whitelist(line.number)
    if whitelist is None:
        wl = "none" if line.exemption else "none (a service line without it reaches nobody)"
    else:
        active = whitelist.active_count(now)
        expiring = sum(1 for t in whitelist.expiring.values() if now < t)
        wl = f"{active} numbers ({expiring} with an expiry date"
        if len(whitelist) > active:
            wl += f", {len(whitelist) - active} expired"
        wl += ")"
    out = [f"  whitelist: {wl}"]
    optouts = [c for c in store.list_counts() if c[0] == "optout" and c[1] == line.number]
    if not optouts:
        out.append("  opt-outs: 0")
    for _, _, signature, count, at in optouts:
        which = f"signature {signature}" if signature else "line"
        out.append(f"  opt-outs ({which}): {count}  last {when(at)}")
    day = store.violation_counts(now - 86400.0).get(line.number, 0)
    out.append(f"  violations (24 h): {day}")
    return "\n".join(out)


# --- one function per action ------------------------------------------------------------


def _add(args: argparse.Namespace, stores: Stores) -> None:
    if stores.registry.get_account(args.account) is None:
        raise CliError(f"no account {args.account!r}: name it under accounts: in the config "
                       f"or add it with `chapar accounts add {args.account}`")
    service = args.exemption not in (None, *_NO_EXEMPTION)
    line = stores.lines.add_line(
        Line(
            number=args.number,
            account=args.account,
            kind=args.kind or ("service" if service else "advertising"),
            exemption=_exemption(args.exemption or ""),
            purpose=args.purpose or "",
            operator=_check_operator(args.operator or "", stores.config.policy),
            hours=parse_hours(args.hours or ""),
        )
    )
    print(_show(line))


def _list(args: argparse.Namespace, stores: Stores) -> None:
    lines = stores.lines.lines(args.account)
    for ln in lines:
        kind = ln.kind + (f"/{ln.exemption}" if ln.exemption else "")
        print(
            f"{ln.number:20} {ln.account:16} {kind:28} {ln.status:10} "
            f"{ln.operator or '-':12} {format_hours(ln.hours) or 'any':11} {ln.purpose}"
        )
    if not lines:
        print("no lines" + (f" of {args.account}" if args.account else ""))


def _show_one(args: argparse.Namespace, stores: Stores) -> None:
    found = stores.lines.get_line(args.number)
    if found is None:
        raise LineError(f"no line {args.number!r}")
    print(_show(found))
    print(_show_lists(found, stores.lines))


def _changes(args: argparse.Namespace, policy: PolicySettings) -> dict[str, Any]:
    """The fields ``lines set`` was given, checked and converted."""
    given: dict[str, Callable[[Any], Any]] = {
        "kind": lambda v: v,
        "exemption": _exemption,
        "purpose": lambda v: v,
        "operator": lambda v: _check_operator(v, policy),
        "hours": parse_hours,
    }
    changes = {k: convert(getattr(args, k)) for k, convert in given.items()
               if getattr(args, k) is not None}
    if args.priority is not None:
        changes["priority"] = args.priority == "on"
    if args.status is not None:
        changes["status"] = args.status
        changes["status_reason"] = ""
    return changes


def _set(args: argparse.Namespace, stores: Stores) -> None:
    changes = _changes(args, stores.config.policy)
    limited = args.rate is not None or args.burst is not None
    if not changes and not limited:
        raise CliError("nothing to change (see chapar lines set --help)")
    if changes:
        print(_show(stores.lines.update_line(args.number, **changes)))
    if limited:
        if stores.lines.get_line(args.number) is None:
            raise LineError(f"no line {args.number!r}")
        print(set_limits(stores.lines.path, "line", args.number, args, ("rate", "burst")))


def _set_status(args: argparse.Namespace, stores: Stores) -> None:
    status = "suspended" if args.action == "suspend" else "demoted"
    reason = args.reason or "by an operator"
    updated = stores.lines.update_line(args.number, status=status, status_reason=reason)
    print(f"{updated.number}: {updated.status} ({reason})")


def _violations(args: argparse.Namespace, stores: Stores) -> None:
    counts = stores.lines.violation_counts(time.time() - args.since_hours * 3600.0)
    if not counts:
        print(f"no violations in the last {args.since_hours:g} h")
    owners = {ln.number: ln for ln in stores.lines.lines()}
    for number, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        owner = owners.get(number)
        who = f"{owner.account:16} {owner.status}" if owner else "(no such line now)"
        print(f"{number:20} {count:8} {who}")


_ACTIONS: dict[str, common.Action] = {
    "add": _add, "list": _list, "show": _show_one, "set": _set,
    "suspend": _set_status, "demote": _set_status, "violations": _violations,
}  # fmt: skip


# --- parsers ----------------------------------------------------------------------------


def _line_fields(p: argparse.ArgumentParser, *, adding: bool) -> None:
    p.add_argument(
        "--kind",
        choices=KINDS,
        help="default: service with an --exemption, else advertising" if adding else None,
    )
    p.add_argument(
        "--exemption",
        choices=[*(e for e in EXEMPTIONS if e), "none"],
        help="service lines needing no customer list (none: clear)",
    )
    p.add_argument("--purpose", help="declared purpose (service lines)")
    p.add_argument("--operator", help="operator name as in the prefix tables (IR-MCI, …)")
    p.add_argument(
        "--hours",
        metavar="HH:MM-HH:MM",
        help="allowed sending window, local time ('' = any time)",
    )


def add_parsers(sub: common.Subparsers) -> None:
    group = common.Group(sub, "lines", "sender lines (service / advertising)", _ACTIONS)

    def with_number(name: str, help_text: str) -> argparse.ArgumentParser:
        return group.action(name, help_text, "number")

    add = with_number("add", "add a line of an account")
    add.add_argument("--account", required=True)
    _line_fields(add, adding=True)
    listing = group.action("list", "list lines")
    listing.add_argument("--account")
    with_number("show", "show one line and the sizes of its lists")
    change = with_number("set", "change a line")
    _line_fields(change, adding=False)
    limit_options(change, quotas=False)
    change.add_argument(
        "--priority", choices=("on", "off"),
        help="its messages take the carriers' priority lane (OTP lines)")
    change.add_argument(
        "--status", choices=("active",), help="reactivate a suspended or demoted line"
    )
    for name, text in (
        ("suspend", "stop the line from sending"),
        ("demote", "a service line sends under the advertising rules"),
    ):
        p = with_number(name, text)
        p.add_argument("--reason")
    violations = group.action("violations", "service-line sends to non-customers per line")
    violations.add_argument("--since-hours", type=float, default=24.0)
