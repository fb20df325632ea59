"""D6: a real full disk under the journal (a size-capped tmpfs; where the machine does not
allow mounting one, these tests skip and tests/faults/test_store_failure.py plus
tests/unit/store/test_journal.py cover the same logic with an injected write error).

While the disk is full: submits are refused, `journal_commit_failed` is logged sampled
with running totals, and carrier outcomes are kept for the next commit (dropped, every
one was a duplicate after a restart).  SIGTERM on a full disk still exits 0."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from tests import acks
from tests.conftest import RouterProcess, Sink, events

CAPACITY = "24m"


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        """Take every free byte (the router's next growing write fails with ENOSPC)."""
        chunk = b"\0" * 65536
        try:  # opening may already fail: the router's journal may have taken the rest
            with self.filler.open("ab") as fh:
                while True:
                    fh.write(chunk)
                    fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        with contextlib.suppress(OSError), self.filler.open("ab") as fh:
            while True:  # the last few KiB
                fh.write(b"\0" * 512)
                fh.flush()

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    var = tmp_path / "var"
    var.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={CAPACITY}", "tmpfs", str(var)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the "
                    "injected-error tests cover this logic")
    try:
        yield SmallDisk(var)
    finally:
        subprocess.run(["umount", "-l", str(var)], check=False)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _failures(router: RouterProcess) -> list[dict[str, object]]:
    return [e for e in router.events() if e.get("event") == "journal_commit_failed"]


def _outcome_ids(journal: Path) -> set[int]:
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return {entry[0] for (blob,) in db.execute("SELECT entries FROM outcomes")
                for entry in orjson.loads(blob)}
    finally:
        db.close()


def test_full_disk_logs_sampled_and_keeps_carrier_outcomes(
        small_disk: SmallDisk, tmp_path: Path, make_router: Callable[..., RouterProcess],
        make_sink: Callable[..., Sink]) -> None:
    # A slow carrier: when the disk fills, hundreds of acknowledged messages are still
    # waiting for its answer, and those answers arrive while commits fail.
    sink = make_sink("--resp-delay-ms", "400", record=True)
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 512}])
    ack_file = tmp_path / "acks.txt"
    load = acks.load(router.port, ack_file, "--rate", "1500", "--duration", "5",
                     "--window", "256")
    time.sleep(1.5)
    small_disk.fill()
    _wait(lambda: len(_failures(router)) > 0, 10, "no journal_commit_failed")
    time.sleep(1.5)  # the carrier's answers to what was in flight arrive meanwhile
    small_disk.free()
    router.wait_event("journal_commit_recovered")
    acks.summary(load)
    got = acks.read_acks(ack_file)
    assert got.refused and set(got.refused.values()) == {0x08}, "disk full: ESME_RSYSERR"
    assert len(got.accepted) > 1000

    # A commit can squeeze into the nearly full disk, so the failures may come in more
    # than one episode; each ends with one line of its running totals.
    failures = _failures(router)
    episodes = [(int(e["failed_commits"]), int(e["refused_messages"]))
                for e in events(router, "journal_commit_recovered")]
    assert sum(refused for _, refused in episodes) == len(got.refused)
    # 1st, 2nd, 4th, 8th ... failure of an episode: a line per doubling, never one per commit
    lines_allowed = sum(total.bit_length() + 1 for total, _ in episodes)
    assert len(failures) <= lines_allowed < sum(total for total, _ in episodes)

    # every acknowledged message reaches the carrier once and its answer is journalled
    _wait(lambda: len(acks.delivered(sink.records())) >= len(got.accepted), 20,
          "not everything reached the sink")
    time.sleep(0.5)  # the last answers commit
    journal = Path(router.config["store"]["path"])
    missing = [tag for tag, mid in got.accepted.items() if int(mid, 16) not in
               _outcome_ids(journal)]
    assert not missing, f"{len(missing)} carrier outcomes dropped by a failed commit"

    # so a kill -9 now (before the next done_below mark) sends nothing again
    router.kill()
    router.start()
    time.sleep(1.5)
    lost, duplicates = acks.lost_and_duplicated(got, acks.delivered(sink.records()))
    assert lost == []
    assert duplicates == 0, f"{duplicates} messages sent twice after the restart"


def test_sigterm_on_a_full_disk_exits_0_with_a_clear_message(
        small_disk: SmallDisk, tmp_path: Path, make_router: Callable[..., RouterProcess],
        make_sink: Callable[..., Sink]) -> None:
    sink = make_sink("--resp-delay-ms", "200")
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 256}])
    load = acks.load(router.port, tmp_path / "acks.txt", "--rate", "1000", "--duration", "4",
                     "--window", "64")
    time.sleep(1.0)
    small_disk.fill()
    _wait(lambda: len(_failures(router)) > 0, 10, "no journal_commit_failed")
    time.sleep(0.5)
    assert router.stop() == 0, router.log_text()[-3000:]
    acks.summary(load)
    text = router.log_text()
    assert "Traceback" not in text
    closing = router.wait_event("journal_close_failed", timeout=1)
    assert "nothing acknowledged is lost" in str(closing["note"])
