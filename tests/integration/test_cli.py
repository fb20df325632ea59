"""The ``chapar`` command as an operator runs it: the installed console script."""

from __future__ import annotations

import contextlib
import errno
import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.exceptions
import yaml
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from tests.conftest import PASSWORD, ROOT, RouterProcess

EXIT_CONFIG = 2


def chapar_command() -> list[str]:
    script = Path(sys.executable).parent / "chapar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "router.cli"]


def chapar(*args: str, stdin: str | None = None, cwd: Path = ROOT,
           timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*chapar_command(), *args], input=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


# --- version, hash-password ------------------------------------------------------------


def test_version() -> None:
    done = chapar("version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"chapar {version('chapar')}"


def test_hash_password_stdin_verifies() -> None:
    done = chapar("hash-password", "--stdin", stdin="s3cret!x\n")
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith("$argon2id$")
    assert "s3cret!x" not in done.stdout + done.stderr
    hasher = PasswordHasher()
    assert hasher.verify(line, "s3cret!x")
    with pytest.raises(VerifyMismatchError):
        hasher.verify(line, "s3cret!y")
    # salted: the same password hashes differently each time
    again = chapar("hash-password", "--stdin", stdin="s3cret!x\n").stdout.strip()
    assert again != line and hasher.verify(again, "s3cret!x")


def test_hash_password_warns_over_eight_characters() -> None:
    done = chapar("hash-password", "--stdin", stdin="ninechars\n")
    assert done.returncode == 0
    assert "8 characters" in done.stderr
    assert PasswordHasher().verify(done.stdout.strip(), "ninechars")


def test_hash_password_refuses_empty() -> None:
    done = chapar("hash-password", "--stdin", stdin="\n")
    assert done.returncode == EXIT_CONFIG
    assert done.stdout == ""


# --- check-config --------------------------------------------------------------------


def valid_config(password_hash: str) -> dict[str, Any]:
    return {"listen": {"host": "127.0.0.1", "port": 2775},
            "accounts": [{"system_id": "esme1", "password_hash": password_hash}],
            "upstreams": [{"name": "carrier", "host": "127.0.0.1", "port": 2776,
                           "connections": 2}],
            "dispatch": {"retry_delay": 1.5}}


def test_check_config_valid(tmp_path: Path, password_hash: str) -> None:
    path = tmp_path / "chapar.yaml"
    path.write_text(yaml.safe_dump(valid_config(password_hash)))
    done = chapar("check-config", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: ok"


def test_check_config_example_file_if_present(tmp_path: Path) -> None:
    example = ROOT / "config" / "chapar.example.yaml"
    if not example.exists():
        pytest.skip("no config/chapar.example.yaml in this tree")
    done = chapar("check-config", str(example))
    assert done.returncode == 0, done.stderr


def _broken(edit: Callable[[dict[str, Any]], None]) -> Callable[[str], dict[str, Any]]:
    def build(password_hash: str) -> dict[str, Any]:
        cfg = valid_config(password_hash)
        edit(cfg)
        return cfg
    return build


INVALID: dict[str, tuple[Callable[[str], dict[str, Any]], str, str]] = {
    "unknown key": (_broken(lambda c: c["listen"].update(hots="x")),
                    "listen.hots", "unknown key"),
    "unknown top-level key": (_broken(lambda c: c.update(upstream=[])),
                              "upstream", "unknown key"),
    "wrong type": (_broken(lambda c: c["listen"].update(port="abc")),
                   "listen.port", "expected an integer"),
    "wrong type in list": (_broken(lambda c: c["upstreams"][0].update(window="big")),
                           "upstreams[0].window", "expected an integer"),
    "wrong type bool": (_broken(lambda c: c.update(auth={"uniform_bind_failure": "yes"})),
                        "auth.uniform_bind_failure", "true or false"),
    "bad literal": (_broken(lambda c: c["upstreams"][0].update(bind="rx")),
                    "upstreams[0].bind", "must be one of"),
    "negative": (_broken(lambda c: c["dispatch"].update(retry_delay=-1)),
                 "dispatch.retry_delay", "negative"),
    "missing required key": (_broken(lambda c: c["accounts"][0].pop("password_hash")),
                             "accounts[0].password_hash", "required"),
    "missing upstream name": (_broken(lambda c: c["upstreams"][0].pop("name")),
                              "upstreams[0].name", "required"),
    "bad hash": (_broken(lambda c: c["accounts"][0].update(password_hash="secret12")),
                 "accounts[0].password_hash", "argon2id"),
    # a cross-key check: no single key to name, the file and the reason suffice
    "no carrier": (_broken(lambda c: c.pop("upstreams")), "", "nowhere to send"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_check_config_invalid(tmp_path: Path, password_hash: str, case: str) -> None:
    build, key_path, words = INVALID[case]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(build(password_hash)))
    done = chapar("check-config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert "ok" not in done.stdout
    message = done.stderr.strip()
    assert message.startswith(f"chapar: {path}: {key_path}"), message
    assert len(message.splitlines()) == 1
    assert words in message
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("text,words", [
    ("listen: [\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_check_config_not_a_config(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    done = chapar("check-config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert str(path) in done.stderr and words in done.stderr
    assert "Traceback" not in done.stderr


def test_check_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    done = chapar("check-config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert f"{path}: cannot read" in done.stderr


def test_run_with_invalid_config_exits_2(tmp_path: Path, password_hash: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(INVALID["wrong type"][0](password_hash)))
    done = chapar("run", "--config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert f"{path}: listen.port" in done.stderr


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


DEFAULT_PORT = 2775


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


def test_run_without_config_uses_embedded_defaults(tmp_path: Path) -> None:
    if port_taken(DEFAULT_PORT):
        pytest.skip(f"127.0.0.1:{DEFAULT_PORT} is already in use")
    cwd = tmp_path / "empty"
    cwd.mkdir()
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*chapar_command(), "run"], cwd=cwd, stdout=log, stderr=log)
    client: smpplib.client.Client | None = None
    try:
        deadline = time.monotonic() + 15
        while not any(e.get("event") == "listening" for e in log_events(log_path)):
            if proc.poll() is not None:
                text = log_path.read_text()
                if proc.returncode == 3 and "address already in use" in text:
                    pytest.skip(f"127.0.0.1:{DEFAULT_PORT} was taken meanwhile")
                pytest.fail(f"chapar run exited {proc.returncode}: {text}")
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        events = log_events(log_path)
        listening = next(e for e in events if e.get("event") == "listening")
        assert (listening["host"], listening["port"]) == ("127.0.0.1", DEFAULT_PORT)
        demo = [e for e in events if e.get("event") == "demo_account_enabled"]
        assert demo and demo[0]["system_id"] == "demo"
        assert demo[0]["level"] == "warning"
        assert (cwd / "var" / "chapar.db").exists()

        client = smpplib.client.Client("127.0.0.1", DEFAULT_PORT, timeout=5,
                                       allow_unknown_opt_params=True)
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
        client.disconnect()
        client = None

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert log_events(log_path)[-1].get("event") == "stopped"
    finally:
        if client is not None:
            with contextlib.suppress(smpplib.exceptions.ConnectionError, OSError):
                client.disconnect()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
