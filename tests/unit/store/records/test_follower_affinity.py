"""The records follower is a child process: a router pinned to some cores (``taskset``)
must leave it the others, or it takes the router's own core (measured: the relay with
records fell from 158 k to 74-77 k msg/s when it did); and it runs nicer than the router."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from router.logs import LogSettings
from router.store.journal import SqliteJournal
from router.store.records.follower import Writer
from router.store.records.settings import RecordSettings
from router.store.settings import StoreSettings

_PINNED = """
import json, os, subprocess, sys
from router.store.records.follower import _beside
os.sched_setaffinity(0, {%d})
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
try:
    _beside(child.pid)
    print(json.dumps(sorted(os.sched_getaffinity(child.pid))))
finally:
    child.kill()
"""


def _allowed() -> set[int]:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def _child_cores(code: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    cores: list[int] = json.loads(done.stdout)
    return cores


@pytest.mark.skipif(len(_allowed()) < 2, reason="needs two CPUs this process may use")
def test_a_pinned_router_leaves_its_follower_the_other_cores() -> None:
    first = min(_allowed())
    cores = _child_cores(_PINNED % first)
    assert cores, "the follower has no core"
    assert first not in cores, f"the follower shares the router's core {first}: {cores}"


@pytest.mark.skipif(len(_allowed()) < 2, reason="needs two CPUs this process may use")
def test_an_unpinned_router_leaves_its_follower_alone() -> None:
    code = _PINNED.replace("os.sched_setaffinity(0, {%d})\n", "")
    assert set(_child_cores(code)) == _allowed()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="Linux nice values")
def test_the_follower_runs_nicer_than_its_router(tmp_path: Path) -> None:
    """Records are off the ack path: the follower's process is ``records.nice`` nicer
    than the router, so under full load the routers keep the CPU (issue 16)."""
    SqliteJournal(tmp_path / "j.db").close()
    writer = Writer(StoreSettings(path=str(tmp_path / "j.db")),
                    RecordSettings(path=str(tmp_path / "r.db"), nice=7), LogSettings())
    writer.start()
    try:
        assert writer._process is not None
        pid, mine = writer._process.pid, os.getpriority(os.PRIO_PROCESS, 0)
        deadline = time.monotonic() + 15
        while os.getpriority(os.PRIO_PROCESS, pid) == mine and time.monotonic() < deadline:
            time.sleep(0.05)  # its first step
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + 7)
    finally:
        writer.close()
