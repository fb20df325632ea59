"""Helpers the ``chapar`` tests share: the command as an operator runs it (the installed
console script, else ``python -m router.cli``), and the registry commands' checks."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

EXIT_CONFIG = 2
EXIT_USAGE = 2


def chapar_command() -> list[str]:
    script = Path(sys.executable).parent / "chapar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "router.cli"]


def chapar(*args: str, stdin: str | None = None, cwd: Path = ROOT,
           timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*chapar_command(), *args], input=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def registry_chapar(
    *args: str, cwd: Path = ROOT, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config is not None else []
    return subprocess.run(
        [sys.executable, "-m", "router.cli", *args, *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(*args: str, config: Path, cwd: Path = ROOT) -> str:
    done = registry_chapar(*args, config=config, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(*args: str, config: Path, words: str) -> None:
    done = registry_chapar(*args, config=config)
    assert done.returncode == EXIT_USAGE, (done.stdout, done.stderr)
    assert done.stderr.startswith("chapar: ") and words in done.stderr, done.stderr


def summary(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def log_events(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


DEFAULT_PORT = 2775  # the embedded defaults listen here


@contextlib.contextmanager
def embedded_router(cwd: Path, log_path: Path, workers: int = 1
                    ) -> Iterator[subprocess.Popen[bytes]]:
    """``chapar run [--workers N]`` without a config in ``cwd`` (its registry:
    ``cwd/var/registry.db``), listening on 127.0.0.1:2775 once every worker says so; the
    test is skipped when another process holds the port.  Stopped with SIGTERM on
    leaving."""
    if port_taken(DEFAULT_PORT):
        pytest.skip(f"127.0.0.1:{DEFAULT_PORT} is already in use")
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*chapar_command(), "run", "--workers", str(workers)], cwd=cwd,
                                stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while sum(e.get("event") == "listening" for e in log_events(log_path)) < workers:
            if proc.poll() is not None:
                text = log_path.read_text()
                if proc.returncode == 3 and "address already in use" in text:
                    pytest.skip(f"127.0.0.1:{DEFAULT_PORT} was taken meanwhile")
                pytest.fail(f"chapar run exited {proc.returncode}: {text}")
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
