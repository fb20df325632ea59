"""``chapar load``: Locust's SMPP load scripts (benchmarks/locustfile.py) against a
router, headless, bounded, loopback by default; Locust's HTML report and CSV files land
in ``--out``.  Locust runs as a child process (the ``load`` extra: ``pip install
'chapar[load]'``); the router never imports it.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import ipaddress
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from router.cli.common import EXIT_OK, EXIT_USAGE, Subparsers

SCENARIOS = {"steady": "SteadyMt", "receipts": "Receipts", "burst": "Burst",
             "bind-storm": "BindStorm", "mixed": "MixedLines"}
MAX_SECONDS = 3600
MAX_USERS = 10_000
SOURCE_TREE_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "locustfile.py"


class LoadError(ValueError):
    pass


def seconds(text: str) -> int:
    """Locust's run-time forms: ``90``, ``90s``, ``2m``, ``1h``, ``1m30s``."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not text.strip() or match is None:
        raise LoadError(f"--run-time: {text!r} is not like 20s, 2m or 1h")
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + secs
    if not 1 <= total <= MAX_SECONDS:
        raise LoadError(f"--run-time: 1 s to {MAX_SECONDS} s (a load run stops by itself)")
    return total


def _check(args: argparse.Namespace) -> list[str]:
    """The user classes to run; LoadError on a request that is not bounded or local."""
    seconds(args.run_time)
    if not 1 <= args.users <= MAX_USERS:
        raise LoadError(f"--users: 1 to {MAX_USERS}")
    if not 1 <= args.window <= 1024:
        raise LoadError("--window: 1 to 1024 submits")
    if args.spawn_rate <= 0:
        raise LoadError("--spawn-rate: more than 0 users a second")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback and not args.allow_remote:
        raise LoadError(f"--host: {args.host} is not loopback (add --allow-remote)")
    chosen = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise LoadError(f"--scenario: {unknown[0]!r}: one of {', '.join(SCENARIOS)} or all")
    if importlib.util.find_spec("locust") is None:
        raise LoadError("Locust is not installed: pip install 'chapar[load]'")
    if not Path(args.locustfile).is_file():
        raise LoadError(f"--locustfile: {args.locustfile}: no such file (the load scripts "
                        "are benchmarks/locustfile.py in the source tree)")
    return [SCENARIOS[name] for name in chosen]


def _command(args: argparse.Namespace, classes: list[str], out: Path) -> list[str]:
    host = f"[{args.host}]" if ":" in args.host else args.host
    return [sys.executable, "-m", "locust", "-f", str(args.locustfile), "--headless",
            "--host", f"smpp://{host}:{args.port}", "--users", str(args.users),
            "--spawn-rate", str(args.spawn_rate), "--run-time", args.run_time,
            "--stop-timeout", "10", "--html", str(out / "report.html"),
            "--csv", str(out / "load"), "--only-summary", "--loglevel", "WARNING", *classes]


def _summary(out: Path) -> str:
    """The aggregated row of Locust's stats CSV, in one line."""
    with (out / "load_stats.csv").open(newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    total = rows.get("Aggregated")
    if total is None:
        return "no requests"
    return (f"{int(total['Request Count']):,} requests, {int(total['Failure Count']):,} "
            f"failed, {float(total['Requests/s']):,.0f}/s, p50 {total['50%']} ms, "
            f"p99 {total['99%']} ms")


def cmd_load(args: argparse.Namespace) -> int:
    try:
        classes = _check(args)
    except LoadError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out or f"benchmarks/out/load-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CHAPAR_LOAD_ACCOUNT": args.account, "CHAPAR_LOAD_LINE": args.line,
           "CHAPAR_LOAD_SERVICE_LINE": args.service_line or "",
           "CHAPAR_LOAD_WINDOW": str(args.window),
           "CHAPAR_LOAD_ALLOW_REMOTE": "1" if args.allow_remote else "0"}
    # the password reaches Locust through its environment, never its command line
    env["CHAPAR_LOAD_PASSWORD"] = os.environ.get("CHAPAR_LOAD_PASSWORD", "demo1234")
    limit = seconds(args.run_time) + 60  # spawn, stop timeout, report
    try:
        done = subprocess.run(_command(args, classes, out), env=env, timeout=limit,
                              check=False)
    except subprocess.TimeoutExpired:
        print(f"chapar: Locust did not stop within {limit} s", file=sys.stderr)
        return EXIT_USAGE
    if (out / "load_stats.csv").exists():
        print(f"{_summary(out)}\nreport: {out / 'report.html'}\ncsv: {out}/load_*.csv")
    return EXIT_OK if done.returncode == 0 else done.returncode


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("load", help="Locust load scripts against a router (chapar[load])")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--spawn-rate", type=float, default=5.0, help="users started a second")
    p.add_argument("--run-time", default="20s", help="20s, 2m, 1h (at most 1h)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2775)
    p.add_argument("--account", default="demo",
                   help="system_id; the password from CHAPAR_LOAD_PASSWORD (demo1234 if unset)")
    p.add_argument("--line", default="1000", help="the advertising line to send from")
    p.add_argument("--service-line", help="a service line for the mixed scenario")
    p.add_argument("--window", type=int, default=8, help="submits written before reading")
    p.add_argument("--scenario", default="all",
                   help=f"comma-separated: {', '.join(SCENARIOS)}; or all (by weight)")
    p.add_argument("--out", help="report folder (default benchmarks/out/load-STAMP)")
    p.add_argument("--locustfile", default=str(SOURCE_TREE_FILE))
    p.add_argument("--allow-remote", action="store_true",
                   help="let --host be other than loopback")
    p.set_defaults(func=cmd_load)
