"""A journal that cannot commit (disk full) makes the router refuse, never acknowledge."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
import smpplib.client
import smpplib.exceptions

from router import config as config_mod
from router.app.lifecycle import App
from tests.conftest import PASSWORD, router_config

T = TypeVar("T")


class InProcessRouter:
    """The real App on its own event loop in a thread, so a test can reach its parts."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.app: App | None = None
        self.error: BaseException | None = None
        self._ready: Future[int] = Future()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def run() -> None:
            self.app = App(self.config)
            await self.app.start()
            self._ready.set_result(self.app.port)
            await self._stop.wait()
            await self.app.stop()

        self._stop = asyncio.Event()
        try:
            self.loop.run_until_complete(run())
        except BaseException as exc:
            self.error = exc
            raise

    def start(self, config: config_mod.Config) -> int:
        self.config = config
        self._thread.start()
        return self._ready.result(15)

    def call(self, fn: Callable[[], T]) -> T:
        done: Future[T] = Future()
        self.loop.call_soon_threadsafe(lambda: done.set_result(fn()))
        return done.result(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


@pytest.fixture
def in_process(tmp_path: Path, password_hash: str) -> Iterator[InProcessRouter]:
    raw: dict[str, Any] = router_config(tmp_path, password_hash)
    raw["listen"]["port"] = 0
    raw["log"] = {"level": "error"}
    router = InProcessRouter()
    router.start(config_mod.parse(raw))
    yield router
    router.stop()


def submit_statuses(port: int, count: int, size: int) -> list[int]:
    statuses: list[int] = []
    client = smpplib.client.Client("127.0.0.1", port, timeout=5)
    client.set_message_sent_handler(lambda pdu: statuses.append(pdu.status))

    def on_error(pdu: smpplib.command.Command) -> None:
        statuses.append(pdu.status)

    client.set_error_pdu_handler(on_error)
    client.connect()
    client.bind_transmitter(system_id="esme1", password=PASSWORD)
    for n in range(count):
        client.send_message(source_addr_ton=1, source_addr="1000", dest_addr_ton=1,
                            destination_addr="989121234567",
                            short_message=(b"%06d" % n) + b"x" * (size - 6))
        client.read_once()
    client.unbind()
    client.disconnect()
    return statuses


def test_full_disk_answers_syserr_then_recovers(in_process: InProcessRouter) -> None:
    app = in_process.app
    assert app is not None and app.parts is not None
    db = app.parts.journal._db
    port = app.port
    assert set(submit_statuses(port, 5, 100)) == {0}

    in_process.call(lambda: db.execute("PRAGMA max_page_count = 1").fetchone())
    statuses = submit_statuses(port, 200, 250)
    assert 0x08 in statuses, "a full journal must answer ESME_RSYSERR"
    failed_from = statuses.index(0x08)
    assert failed_from < 50

    in_process.call(lambda: db.execute("PRAGMA max_page_count = 1073741823").fetchone())
    assert set(submit_statuses(port, 5, 100)) == {0}

    # Every acknowledged message is in the journal; none of the refused ones is.
    acknowledged = 5 + statuses.count(0) + 5
    journalled = in_process.call(
        lambda: db.execute("SELECT sum(count) FROM journal").fetchone()[0])
    assert journalled == acknowledged


def test_stop_on_a_full_disk_is_clean(in_process: InProcessRouter) -> None:
    """The journal's last write fails at stop: the stop still completes (exit 0), it
    does not raise out of ``App.stop``.  (The same with a real full disk, where the final
    checkpoint fails too: tests/faults/test_disk_full.py.)"""
    app = in_process.app
    assert app is not None and app.parts is not None
    db = app.parts.journal._db
    assert set(submit_statuses(app.port, 5, 100)) == {0}
    in_process.call(lambda: db.execute("PRAGMA max_page_count = 1").fetchone())
    assert 0x08 in submit_statuses(app.port, 50, 250)
    # carrier outcomes that cannot be written: kept through every failed commit, so the
    # journal's own close still has them to write, and fails
    in_process.call(lambda: app.parts and app.parts.intake.record_outcomes(
        [(n, 0, "C" * 4000, True) for n in range(1, 40)]))
    in_process.stop()
    assert not in_process._thread.is_alive()
    assert in_process.error is None, repr(in_process.error)
