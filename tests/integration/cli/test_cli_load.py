"""``chapar load``: Locust's SMPP users against a real router, headless, stopping by
itself and leaving its HTML report and CSV; requests that are not bounded or not local
are refused before Locust starts."""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LINES, PASSWORD, ROOT, RouterProcess
from tests.integration.cli.support import EXIT_USAGE, chapar, chapar_command


def test_a_short_load_run_completes_and_writes_its_report(
        make_router: Callable[..., RouterProcess], tmp_path: Path) -> None:
    router = make_router()
    out = tmp_path / "load"
    done = subprocess.run(
        [*chapar_command(), "load", "--users", "6", "--spawn-rate", "6", "--run-time", "4s",
         "--port", str(router.port), "--account", "esme1", "--line", LINES["esme1"][0],
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
        env={**os.environ, "CHAPAR_LOAD_PASSWORD": PASSWORD})
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
    assert "report: " in done.stdout and PASSWORD not in done.stdout + done.stderr
    assert (out / "report.html").stat().st_size > 10_000
    with (out / "load_stats.csv").open(newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert {"bind_transceiver", "submit_sm", "submit_sm +receipt",
            "deliver_sm receipt"} <= set(rows), sorted(rows)
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 100 and int(total["Failure Count"]) == 0, total
    # every receipt asked for came back carrying the id the router gave
    assert rows["deliver_sm receipt"]["Request Count"] != "0"
    assert PASSWORD not in router.log_text()


@pytest.mark.parametrize(("args", "words"), [
    (("--run-time", "0s"), "--run-time"),
    (("--run-time", "2h"), "3600"),
    (("--run-time", "soon"), "is not like"),
    (("--users", "0"), "--users"),
    (("--host", "10.1.2.3"), "not loopback"),
    (("--scenario", "steady,flood"), "'flood'"),
    (("--window", "0"), "--window"),
    (("--locustfile", "/nonexistent/locustfile.py"), "no such file"),
])
def test_unbounded_or_remote_runs_are_refused(args: tuple[str, ...], words: str) -> None:
    done = chapar("load", *args)
    assert done.returncode == EXIT_USAGE and words in done.stderr, done.stderr
