"""SIGKILL the router under load: every acknowledged message gets its record after the
restart (the follower is rebuilt from the journal), and the follower of the killed
router does not outlive it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from router.store.records.export import Query
from router.store.records.sqlite import SqliteRecords
from tests import acks
from tests.conftest import RouterProcess, Sink


def _followers(router_pid: int) -> list[int]:
    children = Path(f"/proc/{router_pid}/task/{router_pid}/children")
    pids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [p for p in pids
            if b"records.follower" in Path(f"/proc/{p}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _recorded_ids(path: Path) -> set[str]:
    records = SqliteRecords(path, readonly=True)
    try:
        where, args = Query(account="esme1").where()
        return {line.split(",")[0] for month in records.months()
                for line, _ in records.lines(month, where, args, "records", "csv", False)}
    finally:
        records.close()


def test_every_acknowledged_message_is_recorded_after_sigkill(
        tmp_path: Path, make_router: Callable[..., RouterProcess],
        make_sink: Callable[..., Sink]) -> None:
    """requirements §4: every message gets a record; design §3.3: records are derived
    from the journal and can always be rebuilt from it."""
    sink = make_sink("--resp-delay-ms", "20")
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 256}],
                         records={"writer": "process"})
    assert router.proc is not None
    deadline = time.monotonic() + 10
    while not _followers(router.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    (follower,) = _followers(router.proc.pid)
    got = acks.killed_under_load(router, tmp_path / "acks.txt", 3000,
                                 "--conns", "4", "--window", "64", "--duration", "4")
    deadline = time.monotonic() + 5
    while _alive(follower) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(follower), "the follower outlived its router"

    router.start()
    want = {f"{int(message_id, 16):x}" for message_id in got.accepted.values()}
    missing = want
    deadline = time.monotonic() + 30
    while missing and time.monotonic() < deadline:
        time.sleep(0.3)
        missing = want - _recorded_ids(tmp_path / "var" / "records.db")
    assert not missing, f"{len(missing)} of {len(want)} acknowledged messages have no record"
