"""Per-message proof for the carrier-fault tests: smppload's ``--ack-file`` (what the
router acknowledged to the ESME, and the receipts it relayed) against smppsink's
``--record`` (what reached the carrier, and how the carrier answered each copy).

Counts hide a loss behind a duplicate; this compares message numbers.  smppload tags
each text with `` #NNNNNNNNNN`` (``--tag-text``); the sink records the text as hex.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import PASSWORD, SMPPLOAD

OK = "0x00000000"


def smppload(port: int, ack_file: Path, *args: str, text: str = "fault",
             max_time: int = 60) -> dict[str, Any]:
    """Run smppload as ``esme1`` from line 98100, every message tagged; its JSON summary.
    Bounded by ``--max-time``."""
    cmd = [str(SMPPLOAD), "--port", str(port), "--system-id", "esme1", "--password",
           PASSWORD, "--src", "98100", "--text", text, "--tag-text", "--ack-file",
           str(ack_file), "--max-time", str(max_time), *args]
    done = subprocess.run(cmd, capture_output=True, timeout=max_time + 30, check=False)
    summary: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return summary


@dataclass
class Proof:
    acked: set[int] = field(default_factory=set)
    """Message numbers the router answered ESME_ROK."""
    refused: int = 0
    receipts: Counter[str] = field(default_factory=Counter)
    """Receipts the ESME got, by stat."""
    accepted: Counter[int] = field(default_factory=Counter)
    """Copies of each message number the carrier accepted."""
    arrivals: int = 0
    """submit_sm the carrier received for these messages, whatever it answered."""

    @property
    def lost(self) -> list[int]:
        return sorted(n for n in self.acked if not self.accepted[n])

    @property
    def duplicates(self) -> dict[int, int]:
        return {n: c for n, c in self.accepted.items() if c > 1}


def prove(ack_file: Path, records: list[dict[str, Any]], text: str = "fault") -> Proof:
    proof = Proof()
    for line in ack_file.read_text().splitlines():
        tag, _, answer = line.partition(" ")
        if tag == "R":
            proof.receipts[answer.rpartition(" ")[2]] += 1
        elif tag.isdigit():
            if answer.startswith("!"):
                proof.refused += 1
            else:
                proof.acked.add(int(tag))
    prefix = f"{text} #"
    for record in records:
        body = bytes.fromhex(record["short_message"]).decode("latin-1")
        if not body.startswith(prefix):
            continue
        proof.arrivals += 1
        if record["status"] == OK:
            proof.accepted[int(body[len(prefix):])] += 1
    return proof
