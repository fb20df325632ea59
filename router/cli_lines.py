"""``chapar lines …`` and ``chapar lists …``: sender lines and their number lists.

They write to the registry file named by the config (``store.registry_path``) through
:class:`~router.store.lines.LineStore`; a running router picks a change up from the
``changes`` table within a fraction of a second.  A list import reads the whole file
first, then stores the new list in one transaction: the router sees the old list or the
new one, never half, and a file that cannot be read changes nothing.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.cli_registry import EXIT_USAGE, registry_config
from router.config import Config, ConfigError, PolicyConfig
from router.policy.imports import ImportResult, import_file, import_xlsx, write_rejection_report
from router.policy.lines import (
    EXEMPTIONS,
    KINDS,
    Exemption,
    HoursError,
    Line,
    format_hours,
    parse_hours,
)
from router.policy.numbers import Operators, PrefixTableError
from router.store.lines import LineError, LineStore
from router.store.registry import RegistryError

LIST_KINDS = ("blacklist", "whitelist", "optout")
NO_OPERATOR = "any"
_NO_EXEMPTION = ("none", "")


class CliError(Exception):
    """A request this command refuses; printed as ``chapar: …``."""


# --- shared ---------------------------------------------------------------------------



def _store(config: Config) -> LineStore:
    return LineStore(Path(config.store.registry_path))


def _operators(policy: PolicyConfig) -> Operators:
    return Operators.load(policy.prefix_folder())


def _check_operator(name: str, policy: PolicyConfig) -> str:
    if not name:
        return ""
    known = _operators(policy).names
    if name not in known:
        raise CliError(f"unknown operator {name!r} (known: {', '.join(sorted(known))})")
    return name


def _exemption(value: str) -> Exemption:
    return cast(Exemption, "" if value in _NO_EXEMPTION else value)


def _zone(policy: PolicyConfig) -> ZoneInfo:
    try:
        return ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"policy.timezone: unknown time zone {policy.timezone!r}") from None


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at)) if at else "-"


def _fail(message: object) -> int:
    print(f"chapar: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(args: argparse.Namespace, body: Callable[[argparse.Namespace, Config], None]) -> int:
    """Config, then ``body``; every refusal becomes ``chapar: …`` and exit 2."""
    try:
        body(args, registry_config(args))
    except (
        CliError,
        ConfigError,
        RegistryError,
        HoursError,
        PrefixTableError,
        ZoneInfoNotFoundError,
    ) as exc:
        return _fail(exc)
    except sqlite3.Error as exc:
        return _fail(f"registry: {exc}")
    return 0


# --- lines ----------------------------------------------------------------------------


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
        f"  created: {_when(line.created_at)}  updated: {_when(line.updated_at)}",
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
        out.append(f"  opt-outs ({which}): {count}  last {_when(at)}")
    day = store.violation_counts(now - 86400.0).get(line.number, 0)
    out.append(f"  violations (24 h): {day}")
    return "\n".join(out)


def _lines_body(args: argparse.Namespace, config: Config) -> None:
    store = _store(config)
    try:
        _lines_action(args, config, store)
    finally:
        store.close()


def _lines_action(args: argparse.Namespace, config: Config, store: LineStore) -> None:
    action = args.action
    if action == "add":
        hours = parse_hours(args.hours or "")
        line = store.add_line(
            Line(
                number=args.number,
                account=args.account,
                kind=args.kind
                or ("service" if args.exemption not in (None, *_NO_EXEMPTION) else "advertising"),
                exemption=_exemption(args.exemption or ""),
                purpose=args.purpose or "",
                operator=_check_operator(args.operator or "", config.policy),
                hours=hours,
            )
        )
        print(_show(line))
    elif action == "list":
        lines = store.lines(args.account)
        for ln in lines:
            kind = ln.kind + (f"/{ln.exemption}" if ln.exemption else "")
            print(
                f"{ln.number:20} {ln.account:16} {kind:28} {ln.status:10} "
                f"{ln.operator or '-':12} {format_hours(ln.hours) or 'any':11} {ln.purpose}"
            )
        if not lines:
            print("no lines" + (f" of {args.account}" if args.account else ""))
    elif action == "show":
        found = store.get_line(args.number)
        if found is None:
            raise LineError(f"no line {args.number!r}")
        print(_show(found))
        print(_show_lists(found, store))
    elif action == "set":
        changes: dict[str, Any] = {}
        if args.kind is not None:
            changes["kind"] = args.kind
        if args.exemption is not None:
            changes["exemption"] = _exemption(args.exemption)
        if args.purpose is not None:
            changes["purpose"] = args.purpose
        if args.operator is not None:
            changes["operator"] = _check_operator(args.operator, config.policy)
        if args.hours is not None:
            changes["hours"] = parse_hours(args.hours)
        if args.status is not None:
            changes["status"] = args.status
            changes["status_reason"] = ""
        if not changes:
            raise CliError("nothing to change (see chapar lines set --help)")
        print(_show(store.update_line(args.number, **changes)))
    elif action in ("suspend", "demote"):
        status = "suspended" if action == "suspend" else "demoted"
        reason = args.reason or "by an operator"
        updated = store.update_line(args.number, status=status, status_reason=reason)
        print(f"{updated.number}: {updated.status} ({reason})")
    elif action == "violations":
        since = time.time() - args.since_hours * 3600.0
        counts = store.violation_counts(since)
        if not counts:
            print(f"no violations in the last {args.since_hours:g} h")
        owners = {ln.number: ln for ln in store.lines()}
        for number, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            owner = owners.get(number)
            who = f"{owner.account:16} {owner.status}" if owner else "(no such line now)"
            print(f"{number:20} {count:8} {who}")


def cmd_lines(args: argparse.Namespace) -> int:
    return _run(args, _lines_body)


# --- lists ----------------------------------------------------------------------------


class ProgressBar:
    """``[#####.....]  12,345 / 100,000 rows  12%`` on one line of a terminal stream,
    redrawn at most ``per_second`` times a second (and always when done)."""

    WIDTH = 30

    def __init__(
        self, stream: TextIO, per_second: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.interval = 1.0 / per_second
        self.clock = clock
        self.last = float("-inf")
        self.drawn = False
        self.text = ""

    def __call__(self, done: int, total: int | None) -> None:
        now = self.clock()
        finished = total is not None and done >= total
        if not finished and now - self.last < self.interval:
            return
        self.last = now
        if total:
            share = min(done / total, 1.0)
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            text = f"[{bar}] {done:,} / {total:,} rows {share:4.0%}"
        else:
            text = f"{done:,} rows"
        if text == self.text:
            return
        self.stream.write("\r" + text.ljust(len(self.text)))
        self.stream.flush()
        self.text = text
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
            self.text = ""


def _read_list(
    args: argparse.Namespace, policy: PolicyConfig, operator: str | None, progress: ProgressBar
) -> ImportResult:
    from python_calamine import CalamineError

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    operators = _operators(policy)
    today = datetime.now(_zone(policy)).date()
    column = None if args.column is None else args.column - 1
    expiry_column: int | str | None = "auto" if args.kind == "whitelist" else None
    common: dict[str, Any] = {
        "default_country": policy.default_country,
        "operator": operator,
        "operators": operators,
        "column": column,
        "expiry_column": expiry_column,
        "on_progress": progress,
        "progress_every": 10_000,
        "today": today,
    }
    try:
        if args.sheet is not None:
            if path.suffix.lower() not in (".xlsx", ".xlsm"):
                raise CliError("--sheet applies to Excel files (.xlsx) only")
            sheet: int | str = args.sheet
            if args.sheet.isascii() and args.sheet.isdigit():
                if int(args.sheet) < 1:
                    raise CliError("--sheet counts from 1 (the first worksheet)")
                sheet = int(args.sheet) - 1
            return import_xlsx(path, sheet=sheet, **common)
        return import_file(path, **common)
    except (OSError, ValueError, IndexError, KeyError, CalamineError) as exc:
        raise CliError(f"{path}: {exc}") from None


def _import(args: argparse.Namespace, config: Config) -> None:
    kind: str = args.kind
    if kind == "blacklist" and args.line:
        raise CliError("the blacklist is the operator's, not a line's: no --line")
    if kind != "blacklist" and not args.line:
        raise CliError(f"a {kind} list belongs to a line: give --line")
    if args.signature is not None and kind != "optout":
        raise CliError("--signature applies to opt-out lists only")
    if args.column is not None and args.column < 1:
        raise CliError("--column counts from 1 (the first column, A)")
    store = _store(config)
    progress = ProgressBar(sys.stderr)
    try:
        operator: str | None = args.operator
        if kind != "blacklist":
            line = store.get_line(args.line)
            if line is None:
                raise LineError(f"no line {args.line!r}")
            if operator is None and kind == "whitelist" and line.operator:
                operator = line.operator  # a customer list holds the line operator's numbers
        if operator == NO_OPERATOR:
            operator = None
        try:
            result = _read_list(args, config.policy, operator, progress)
        finally:
            progress.close()
        source = Path(args.file)
        report = (
            Path(args.report) if args.report else source.with_name(source.name + ".rejected.csv")
        )
        write_rejection_report(report, result.rejected)
        append = args.mode == "append"
        print(f"file: {source}")
        print(
            f"list: {kind}"
            + (f" of line {args.line}" if args.line else "")
            + (f", signature {args.signature}" if args.signature else "")
            + (f", {operator} numbers only" if operator else "")
        )
        print(f"rows: {result.total_rows} ({result.header_rows} header, {result.blank_rows} blank)")
        print(f"accepted: {result.accepted}")
        print(f"duplicates: {result.duplicates}")
        print(f"rejected: {len(result.rejected)}")
        print(f"report: {report}")
        if not result.accepted and not append:
            raise CliError(
                f"no number accepted from {source}: the {kind} list is left as it was "
                f"(see {report})"
            )
        if kind == "blacklist":
            stored = len(store.save_blacklist(result.number_set, append=append))
        elif kind == "whitelist":
            tz = _zone(config.policy)
            stored = len(store.save_whitelist(args.line, result.to_whitelist(tz), append=append))
        else:
            stored = len(
                store.save_optouts(args.line, result.number_set, args.signature, append=append)
            )
        print(f"stored: {stored} ({args.mode})")
    finally:
        store.close()


def _show_lists_body(args: argparse.Namespace, config: Config) -> None:
    store = _store(config)
    try:
        counts = store.list_counts()
        if not counts:
            print("no lists")
        for kind, line, signature, count, at in counts:
            whose = line or "-"
            if signature:
                whose += f" [{signature}]"
            print(f"{kind:10} {whose:30} {count:12,} {_when(at)}")
    finally:
        store.close()


def cmd_lists(args: argparse.Namespace) -> int:
    return _run(args, _import if args.action == "import" else _show_lists_body)


# --- parsers --------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        help="config file naming the registry (default: the embedded default, ./var/registry.db)",
    )
    exemptions = [e for e in EXEMPTIONS if e]

    def line_fields(p: argparse.ArgumentParser, *, adding: bool) -> None:
        p.add_argument(
            "--kind",
            choices=KINDS,
            help="default: service with an --exemption, else advertising" if adding else None,
        )
        p.add_argument(
            "--exemption",
            choices=[*exemptions, "none"],
            help="service lines needing no customer list (none: clear)",
        )
        p.add_argument("--purpose", help="declared purpose (service lines)")
        p.add_argument("--operator", help="operator name as in the prefix tables (IR-MCI, …)")
        p.add_argument(
            "--hours",
            metavar="HH:MM-HH:MM",
            help="allowed sending window, local time ('' = any time)",
        )

    lines = sub.add_parser("lines", help="sender lines (service / advertising)")
    lines_sub = lines.add_subparsers(dest="action", required=True)

    def with_number(name: str, help_text: str) -> argparse.ArgumentParser:
        p = lines_sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("number")
        return p

    add = with_number("add", "add a line of an account")
    add.add_argument("--account", required=True)
    line_fields(add, adding=True)
    listing = lines_sub.add_parser("list", parents=[common], help="list lines")
    listing.add_argument("--account")
    with_number("show", "show one line and the sizes of its lists")
    change = with_number("set", "change a line")
    line_fields(change, adding=False)
    change.add_argument(
        "--status", choices=("active",), help="reactivate a suspended or demoted line"
    )
    for name, text in (
        ("suspend", "stop the line from sending"),
        ("demote", "a service line sends under the advertising rules"),
    ):
        p = with_number(name, text)
        p.add_argument("--reason")
    violations = lines_sub.add_parser(
        "violations", parents=[common], help="service-line sends to non-customers per line"
    )
    violations.add_argument("--since-hours", type=float, default=24.0)
    lines.set_defaults(func=cmd_lines)

    lists = sub.add_parser("lists", help="blacklist, customer whitelists, opt-outs")
    lists_sub = lists.add_subparsers(dest="action", required=True)
    imp = lists_sub.add_parser(
        "import", parents=[common], help="load a CSV or xlsx file of numbers into a list"
    )
    imp.add_argument("kind", choices=LIST_KINDS)
    imp.add_argument("file")
    imp.add_argument("--line", help="the line of a whitelist or opt-out list")
    imp.add_argument("--signature", help="opt-outs of one signature (Chinese traffic)")
    imp.add_argument("--mode", choices=("replace", "append"), default="replace")
    imp.add_argument(
        "--operator",
        help="keep only this operator's numbers (whitelists "
        f"default to the line's operator; '{NO_OPERATOR}' for none)",
    )
    imp.add_argument("--report", help="rejection report (default: FILE.rejected.csv)")
    imp.add_argument("--sheet", help="xlsx worksheet: number from 1, or name (default: first)")
    imp.add_argument(
        "--column",
        type=int,
        help="column of the numbers, from 1 (default: found from the header or the data)",
    )
    lists_sub.add_parser("show", parents=[common], help="sizes of the stored lists")
    lists.set_defaults(func=cmd_lists)
