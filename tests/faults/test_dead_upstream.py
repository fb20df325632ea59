"""A carrier that is down: messages are acknowledged from the journal, wait, and flow
when it comes up; a carrier that dies mid-run is reconnected."""

from __future__ import annotations

import time
from collections.abc import Callable

import smpplib.client

from tests.conftest import PASSWORD, RouterProcess, Sink, free_port


def submit(port: int, tags: list[str]) -> list[int]:
    statuses: list[int] = []
    client = smpplib.client.Client("127.0.0.1", port, timeout=5)
    client.set_message_sent_handler(lambda pdu: statuses.append(pdu.status))
    client.connect()
    client.bind_transmitter(system_id="esme1", password=PASSWORD)
    for tag in tags:
        client.send_message(source_addr_ton=1, source_addr="1000", dest_addr_ton=1,
                            destination_addr="989121234567", short_message=tag.encode())
        client.read_once()
    client.unbind()
    client.disconnect()
    return statuses


def wait_records(sink: Sink, want: set[str], timeout: float = 20) -> set[str]:
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = {bytes.fromhex(r["short_message"]).decode() for r in sink.records()}
        if want <= seen:
            break
        time.sleep(0.2)
    return want - seen


def test_messages_wait_for_a_carrier_that_is_down(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    port = free_port()
    router = make_router(simulator={"enabled": False}, upstreams=[
        {"name": "late", "port": port, "reconnect_min": 0.1, "reconnect_max": 0.5}])
    router.wait_event("upstream_connect_failed")
    tags = [f"late-{n}" for n in range(50)]
    assert submit(router.port, tags) == [0] * 50
    sink = make_sink("--port", str(port), record=True)  # the later "--port" wins
    assert sink.port == port
    assert not wait_records(sink, set(tags))


def test_carrier_killed_mid_run_is_reconnected(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    first = make_sink(record=True)
    router = make_router(simulator={"enabled": False}, upstreams=[
        {"name": "c", "port": first.port, "reconnect_min": 0.1, "reconnect_max": 0.5}])
    router.wait_event("upstream_bound")
    before = [f"before-{n}" for n in range(20)]
    assert submit(router.port, before) == [0] * 20
    assert not wait_records(first, set(before))
    first.proc.kill()
    first.proc.wait()
    after = [f"after-{n}" for n in range(20)]
    assert submit(router.port, after) == [0] * 20  # acknowledged from the journal
    second = make_sink("--port", str(first.port), record=True)
    assert not wait_records(second, set(after))


def test_finished_messages_are_marked_and_not_sent_again(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """The journal's done_below mark moves past finished messages; a restart reads from it
    and sends nothing twice."""
    import sqlite3

    sink = make_sink(record=True)
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "c", "port": sink.port}])
    tags = [f"mark-{n}" for n in range(30)]
    assert submit(router.port, tags) == [0] * 30
    assert not wait_records(sink, set(tags))
    db_path = router.workdir / "var" / "chapar.db"
    deadline = time.monotonic() + 15
    mark = 0
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as db:
            row = db.execute("SELECT value FROM marks WHERE name = 'done_below'").fetchone()
            (last,) = db.execute("SELECT max(first_id + count - 1) FROM journal").fetchone()
        mark = row[0] if row else 0
        if mark > last:
            break
        submit(router.port, [])  # a little traffic: marks ride on commits
        time.sleep(0.5)
    assert mark > last, "the done_below mark never passed the finished messages"
    router.stop()
    router.start()
    time.sleep(1.0)
    sent = [bytes.fromhex(r["short_message"]).decode() for r in sink.records()]
    assert sorted(sent) == sorted(tags), "a finished message was sent again"
    assert not any(e.get("event") == "redispatching" for e in router.events())
