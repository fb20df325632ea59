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
from pathlib import Path
from typing import TextIO

from router.app.imports import nothing_accepted, operator_for, read_list, store_list
from router.cli import common
from router.cli.common import CliError, Stores, when
from router.ingest import ImportResult, write_rejection_report
from router.model.imports import LIST_KINDS, NO_OPERATOR, ListImportError, ListRequest


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


def _summary(args: argparse.Namespace, request: ListRequest, operator: str | None,
             result: ImportResult, report: Path) -> None:
    print(f"file: {Path(args.file)}")
    print(f"list: {request.describe(operator)}")
    print(f"rows: {result.total_rows} ({result.header_rows} header, {result.blank_rows} blank)")
    print(f"accepted: {result.accepted}")
    print(f"duplicates: {result.duplicates}")
    print(f"rejected: {len(result.rejected)}")
    print(f"report: {report}")


def _request(args: argparse.Namespace) -> ListRequest:
    return ListRequest(kind=args.kind, line=args.line, signature=args.signature,
                       mode=args.mode, operator=args.operator, column=args.column,
                       sheet=args.sheet)


def _import(args: argparse.Namespace, stores: Stores) -> None:
    config, store = stores.config, stores.lines
    request = _request(args)
    progress = ProgressBar(sys.stderr)
    try:
        request.check()
        operator = operator_for(request, store)
        result = read_list(Path(args.file), request, config.policy,
                           common.operators(config.policy), operator, progress)
    except ListImportError as exc:
        raise CliError(str(exc)) from None
    finally:
        progress.close()
    source = Path(args.file)
    report = Path(args.report) if args.report else source.with_name(source.name + ".rejected.csv")
    write_rejection_report(report, result.rejected)
    _summary(args, request, operator, result, report)
    if nothing_accepted(request, result):
        raise CliError(
            f"no number accepted from {source}: the {args.kind} list is left as it was "
            f"(see {report})"
        )
    print(f"stored: {store_list(request, config.policy, store, result)} ({args.mode})")


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
