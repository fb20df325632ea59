"""``chapar run`` as an operator runs it (the installed console script): stopping,
a busy port, the embedded defaults."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.exceptions
import yaml

from tests.conftest import PASSWORD, RouterProcess
from tests.integration.cli.support import DEFAULT_PORT, chapar, embedded_router, log_events

# --- run and stop ----------------------------------------------------------------------


def test_run_sigterm_exits_0_and_logs_stopped(router: RouterProcess) -> None:
    assert router.proc is not None
    assert router.stop() == 0
    names = [e.get("event") for e in router.events()]
    assert "stopping" in names and names[-1] == "stopped"
    assert router.wait_event("stopped")["queued_left"] == 0


def test_run_sigterm_with_an_esme_that_ignores_unbind(
        make_router: Callable[..., RouterProcess]) -> None:
    """An ESME that never answers the router's unbind delays shutdown by at most
    shutdown_timeout; the exit is still clean."""
    router = make_router(dispatch={"shutdown_timeout": 1.0})
    client = smpplib.client.Client("127.0.0.1", router.port, timeout=5,
                                   allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id="esme1", password=PASSWORD)
        started = time.monotonic()
        assert router.stop(timeout=10) == 0
        assert time.monotonic() - started < 6
        assert "stopped" in [e.get("event") for e in router.events()]
    finally:
        client.disconnect()


def busy_listener() -> socket.socket:
    """A listening socket on a free loopback port (accepts, never speaks)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def run_on_busy_port(tmp_path: Path, password_hash: str, **overrides: Any
                     ) -> tuple[subprocess.CompletedProcess[str], float]:
    busy = busy_listener()
    try:
        cfg: dict[str, Any] = {
            "listen": {"host": "127.0.0.1", "port": busy.getsockname()[1]},
            "store": {"path": str(tmp_path / "var" / "chapar.db")},
            "accounts": [{"system_id": "esme1", "password_hash": password_hash}],
            **overrides}
        path = tmp_path / "busy.yaml"
        path.write_text(yaml.safe_dump(cfg))
        started = time.monotonic()
        done = chapar("run", "--config", str(path), cwd=tmp_path)
        return done, time.monotonic() - started
    finally:
        busy.close()


def test_run_on_a_busy_port_exits_3(tmp_path: Path, password_hash: str) -> None:
    done, _ = run_on_busy_port(tmp_path, password_hash, simulator={"enabled": True},
                               dispatch={"shutdown_timeout": 1.0})
    assert done.returncode == 3
    assert "cannot start" in done.stderr and "address already in use" in done.stderr
    assert "Traceback" not in done.stderr


# --- embedded defaults -----------------------------------------------------------------




def _demo_round_trip() -> None:
    """The demo account binds, a message gets ROK and then a receipt carrying the same id
    from the embedded simulator."""
    client = smpplib.client.Client("127.0.0.1", DEFAULT_PORT, timeout=5,
                                   allow_unknown_opt_params=True)
    try:
        responses: list[Any] = []
        receipts: list[Any] = []
        client.set_message_sent_handler(lambda pdu, **_: responses.append(pdu))
        client.set_message_received_handler(lambda pdu, **_: receipts.append(pdu))
        client.connect()
        assert client.bind_transceiver(system_id="demo", password="demo1234").status == 0
        client.send_message(source_addr="1000", destination_addr="989120000001",
                            short_message=b"hello demo", registered_delivery=1)
        deadline = time.monotonic() + 10
        while not (responses and receipts) and time.monotonic() < deadline:
            if select.select([client._socket], [], [], 0.5)[0]:
                client.read_once(auto_send_enquire_link=False)
        assert responses and responses[0].status == 0
        message_id = responses[0].message_id.decode()
        assert receipts, "no receipt from the embedded simulator"
        assert receipts[0].receipted_message_id.decode() == message_id
        assert re.search(rf"\bid:{message_id}\b", receipts[0].short_message.decode("latin-1"))
        client.unbind()
    finally:
        with contextlib.suppress(smpplib.exceptions.ConnectionError, OSError):
            client.disconnect()


def test_run_without_config_uses_embedded_defaults(tmp_path: Path) -> None:
    """README command 1: no config, the demo account binds, a message gets ROK and then a
    receipt carrying the same id from the embedded simulator; SIGTERM exits 0."""
    cwd = tmp_path / "empty"
    cwd.mkdir()
    log_path = tmp_path / "run.log"
    with embedded_router(cwd, log_path):
        events = log_events(log_path)
        listening = next(e for e in events if e.get("event") == "listening")
        assert (listening["host"], listening["port"]) == ("127.0.0.1", DEFAULT_PORT)
        demo = [e for e in events if e.get("event") == "demo_account_enabled"]
        assert demo and demo[0]["system_id"] == "demo"
        assert demo[0]["level"] == "warning"
        assert (cwd / "var" / "chapar.db").exists()
        _demo_round_trip()
    assert log_events(log_path)[-1].get("event") == "stopped"


def test_run_with_workers_without_config_has_the_demo_on_every_worker(tmp_path: Path) -> None:
    """README command 1 with ``--workers 2``: each worker's config is the embedded default
    with its own paths, so the demo account is seeded and binds on either worker (it was
    not: the check compared the worker's config with the embedded one, paths and all)."""
    cwd = tmp_path / "empty"
    cwd.mkdir()
    log_path = tmp_path / "run.log"
    with embedded_router(cwd, log_path, workers=2):
        for _ in range(2):  # dealt in turn: one session on each worker
            _demo_round_trip()
        binds = [e for e in log_events(log_path) if e.get("event") == "bind"]
        assert {e.get("worker") for e in binds} == {0, 1}
        assert not [e for e in log_events(log_path) if e.get("event") == "demo_account_not_seeded"]
    assert log_events(log_path)[-1].get("event") in ("stopped", "supervisor_stopped")
