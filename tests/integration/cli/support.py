"""Helpers the ``chapar`` tests share: the command as an operator runs it (the installed
console script, else ``python -m router.cli``), and the registry commands' checks."""

from __future__ import annotations

import csv
import errno
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

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
