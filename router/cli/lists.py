"""``chapar lists …``: the operator's blacklist, customer whitelists and opt-outs.

A list import reads the whole file first (:mod:`router.ingest`), then stores the new list
in one transaction: the router sees the old list or the new one, never half, and a file
that cannot be read changes nothing.  The registry is seeded from the config first, so a
line the YAML names takes lists before the router ever ran.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from router.cli import common
from router.cli.common import CliError, Stores, when
from router.config import Config
from router.ingest import ImportResult, import_file, import_xlsx, write_rejection_report
from router.policy.settings import PolicySettings
from router.store.lines import LineError, LineStore

LIST_KINDS = ("blacklist", "whitelist", "optout")
NO_OPERATOR = "any"


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


def _sheet(args: argparse.Namespace, path: Path) -> int | str:
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise CliError("--sheet applies to Excel files (.xlsx) only")
    if not (args.sheet.isascii() and args.sheet.isdigit()):
        return str(args.sheet)
    if int(args.sheet) < 1:
        raise CliError("--sheet counts from 1 (the first worksheet)")
    return int(args.sheet) - 1


def _read_list(
    args: argparse.Namespace, policy: PolicySettings, operator: str | None, progress: ProgressBar
) -> ImportResult:
    from python_calamine import CalamineError

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    options: dict[str, Any] = {
        "default_country": policy.default_country,
        "operator": operator,
        "operators": common.operators(policy),
        "column": None if args.column is None else args.column - 1,
        "expiry_column": "auto" if args.kind == "whitelist" else None,
        "on_progress": progress,
        "progress_every": 10_000,
        "today": datetime.now(common.zone(policy)).date(),
    }
    try:
        if args.sheet is not None:
            return import_xlsx(path, sheet=_sheet(args, path), **options)
        return import_file(path, **options)
    except (OSError, ValueError, IndexError, KeyError, CalamineError) as exc:
        raise CliError(f"{path}: {exc}") from None


def _check_request(args: argparse.Namespace) -> None:
    kind: str = args.kind
    if kind == "blacklist" and args.line:
        raise CliError("the blacklist is the operator's, not a line's: no --line")
    if kind != "blacklist" and not args.line:
        raise CliError(f"a {kind} list belongs to a line: give --line")
    if args.signature is not None and kind != "optout":
        raise CliError("--signature applies to opt-out lists only")
    if args.column is not None and args.column < 1:
        raise CliError("--column counts from 1 (the first column, A)")


def _operator(args: argparse.Namespace, store: LineStore) -> str | None:
    """The operator whose numbers the list keeps (None: any)."""
    operator: str | None = args.operator
    if args.kind != "blacklist":
        line = store.get_line(args.line)
        if line is None:
            raise LineError(f"no line {args.line!r}: name it under lines: in the config or "
                            f"add it with `chapar lines add {args.line} --account ACCOUNT`")
        if operator is None and args.kind == "whitelist" and line.operator:
            operator = line.operator  # a customer list holds the line operator's numbers
    return None if operator == NO_OPERATOR else operator


def _summary(args: argparse.Namespace, operator: str | None, result: ImportResult,
             report: Path) -> None:
    print(f"file: {Path(args.file)}")
    print(
        f"list: {args.kind}"
        + (f" of line {args.line}" if args.line else "")
        + (f", signature {args.signature}" if args.signature else "")
        + (f", {operator} numbers only" if operator else "")
    )
    print(f"rows: {result.total_rows} ({result.header_rows} header, {result.blank_rows} blank)")
    print(f"accepted: {result.accepted}")
    print(f"duplicates: {result.duplicates}")
    print(f"rejected: {len(result.rejected)}")
    print(f"report: {report}")


def _store_list(args: argparse.Namespace, config: Config, store: LineStore,
                result: ImportResult) -> int:
    append = args.mode == "append"
    if args.kind == "blacklist":
        return len(store.save_blacklist(result.number_set, append=append))
    if args.kind == "whitelist":
        whitelist = result.to_whitelist(common.zone(config.policy))
        return len(store.save_whitelist(args.line, whitelist, append=append))
    return len(store.save_optouts(args.line, result.number_set, args.signature, append=append))


def _import(args: argparse.Namespace, stores: Stores) -> None:
    config, store = stores.config, stores.lines
    _check_request(args)
    operator = _operator(args, store)
    progress = ProgressBar(sys.stderr)
    try:
        result = _read_list(args, config.policy, operator, progress)
    finally:
        progress.close()
    source = Path(args.file)
    report = Path(args.report) if args.report else source.with_name(source.name + ".rejected.csv")
    write_rejection_report(report, result.rejected)
    _summary(args, operator, result, report)
    if not result.accepted and args.mode != "append":
        raise CliError(
            f"no number accepted from {source}: the {args.kind} list is left as it was "
            f"(see {report})"
        )
    print(f"stored: {_store_list(args, config, store, result)} ({args.mode})")


def _show(args: argparse.Namespace, stores: Stores) -> None:
    counts = stores.lines.list_counts()
    if not counts:
        print("no lists")
    for kind, line, signature, count, at in counts:
        whose = line or "-"
        if signature:
            whose += f" [{signature}]"
        print(f"{kind:10} {whose:30} {count:12,} {when(at)}")


def add_parsers(sub: common.Subparsers) -> None:
    group = common.Group(sub, "lists", "blacklist, customer whitelists, opt-outs",
                         {"import": _import, "show": _show})
    imp = group.action("import", "load a CSV or xlsx file of numbers into a list")
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
    group.action("show", "sizes of the stored lists")
