"""Per-message proof with the C instruments: smppload's ``--ack-file`` (what the router
acknowledged) against smppsink's ``--record`` (what reached the carrier)."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import PASSWORD, SMPPLOAD

TEXT = "acked"


@dataclass
class Acks:
    accepted: dict[int, str]
    """message number (smppload's tag) -> the router's message id"""
    refused: dict[int, int]
    """message number -> status"""


def load(port: int, ack_file: Path, *options: str, max_time: int = 60,
         system_id: str = "esme1") -> subprocess.Popen[bytes]:
    """smppload against the router as ``system_id`` from its line 1000, every message
    tagged (``--tag-text``) and every answer written to ``ack_file``."""
    cmd = [str(SMPPLOAD), "--port", str(port), "--system-id", system_id,
           "--password", PASSWORD, "--bind", "tx", "--src", "1000",
           "--dst", "989121234567", "--text", TEXT, "--tag-text", "--ack-file", str(ack_file),
           "--max-time", str(max_time), *options]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def read_acks(path: Path) -> Acks:
    acks = Acks({}, {})
    if not path.exists():
        return acks
    complete = path.read_text().rpartition("\n")[0]  # killed mid-line: leave it out
    for line in complete.splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] == "R":
            continue
        tag = int(parts[0])
        if parts[1].startswith("!"):
            acks.refused[tag] = int(parts[1][1:], 16)
        else:
            acks.accepted[tag] = parts[1]
    return acks


def delivered(record: list[dict[str, object]]) -> Counter[int]:
    """How many times each message number reached the sink."""
    counts: Counter[int] = Counter()
    for entry in record:
        text = bytes.fromhex(str(entry["short_message"])).decode(errors="replace")
        prefix, _, tag = text.rpartition(" #")
        if prefix == TEXT and tag.isascii() and tag.isdigit():
            counts[int(tag)] += 1
    return counts


def lost_and_duplicated(acks: Acks, counts: Counter[int]) -> tuple[list[int], int]:
    """Acknowledged message numbers the carrier never got, and extra copies it got."""
    lost = sorted(tag for tag in acks.accepted if counts[tag] == 0)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicates


def summary(proc: subprocess.Popen[bytes], timeout: float = 90) -> dict[str, object]:
    out, _ = proc.communicate(timeout=timeout)
    lines = out.decode().strip().splitlines()
    result: dict[str, object] = json.loads(lines[-1]) if lines else {}
    return result


def wait_acked(ack_file: Path, count: int, timeout: float = 20.0) -> None:
    """Until smppload has written ``count`` acknowledged ids (or the timeout)."""
    deadline = time.monotonic() + timeout
    while len(read_acks(ack_file).accepted) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def killed_under_load(router: Any, ack_file: Path, least: int, *options: str) -> Acks:
    """smppload with ``options`` until ``least`` ids are acknowledged, then kill -9 the
    router mid-run: what it had acknowledged by then."""
    running = load(router.port, ack_file, *options, max_time=30)
    wait_acked(ack_file, least)
    router.kill()
    summary(running)
    got = read_acks(ack_file)
    assert len(got.accepted) >= least, "the load never got going"
    return got


def wait_delivered(got: Acks, sink: Any, timeout: float = 60.0) -> tuple[list[int], int]:
    """Until every acknowledged id reached the sink (or the timeout): (lost, duplicates)."""
    deadline = time.monotonic() + timeout
    lost: list[int] = list(got.accepted)
    duplicates = 0
    while lost and time.monotonic() < deadline:
        time.sleep(0.5)
        lost, duplicates = lost_and_duplicated(got, delivered(sink.records()))
    return lost, duplicates
