"""router/logs.py: the JSON lines of several processes on one file stay whole (the
workers of ``chapar run --workers`` share the supervisor's stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WRITER = """
import structlog
from router.logs import LogSettings, configure
configure(LogSettings())
log = structlog.get_logger()
for i in range(3000):
    log.info("line", n=i, pad="x" * 40)
"""


def test_lines_of_processes_sharing_stderr_never_run_together(tmp_path: Path) -> None:
    """Two processes log 3,000 events each, unbuffered, to one file: every line is one
    whole JSON event (print() wrote an event and its newline apart, so two workers'
    events ran into one line and a test saw a router that "did not start")."""
    out = tmp_path / "shared.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    with out.open("ab") as log:
        procs = [subprocess.Popen([sys.executable, "-c", WRITER], stderr=log, cwd=root,
                                  env=env) for _ in range(2)]
        assert [p.wait(60) for p in procs] == [0, 0]
    lines = out.read_text().splitlines()
    assert len(lines) == 6000
    assert all(json.loads(line)["event"] == "line" for line in lines)
