"""SMPP over TLS on the listener's second port, and towards a carrier: smpplib (its socket
wrapped by an ``ssl.SSLContext``) binds and submits; a plain-text client on the TLS port
is closed cleanly (no traceback); SIGHUP loads a new certificate and keeps the old one when
the new files are broken; a router reaches a carrier over TLS, verifying it against a CA."""

from __future__ import annotations

import signal
import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import raw
from tests.certs import Ca, peer_serial
from tests.clients import Esme
from tests.conftest import LINES, PASSWORD, RouterProcess, free_port, router_config

SOURCE = LINES["esme1"][0]


@pytest.fixture
def ca(tmp_path: Path) -> Ca:
    return Ca.make(tmp_path / "pki")


@pytest.fixture
def routers() -> Iterator[list[RouterProcess]]:
    started: list[RouterProcess] = []
    yield started
    for router in started:
        if router.proc is not None and router.proc.poll() is None:
            router.stop()


def tls_router(folder: Path, ca: Ca, password_hash: str, routers: list[RouterProcess],
               cli_args: tuple[str, ...] = (), ready: int = 1,
               **overrides: object) -> tuple[RouterProcess, int]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "server.pem", folder / "server.key"
    ca.issue(cert, key)
    tls_port = free_port()
    cfg = router_config(folder, password_hash, **overrides)
    cfg["listen"] = {**cfg["listen"], "tls_port": tls_port, "tls_cert": str(cert),
                     "tls_key": str(key)}
    router = RouterProcess(folder, cfg, cli_args, ready)
    routers.append(router)
    router.start()
    assert router.wait_event("listening")["tls_port"] == tls_port
    return router, tls_port


def test_smpplib_over_tls_binds_and_submits_and_gets_its_receipt(
        tmp_path: Path, ca: Ca, password_hash: str, routers: list[RouterProcess]) -> None:
    router, tls_port = tls_router(tmp_path / "r", ca, password_hash, routers)
    esme = Esme(tls_port, ssl_context=ca.client_context())
    assert esme.bind().status == 0
    sock = esme.client._socket
    assert isinstance(sock, ssl.SSLSocket) and sock.version() in ("TLSv1.2", "TLSv1.3")
    sequences = [esme.send(SOURCE, f"98912123456{i}", b"over tls", registered_delivery=1)
                 for i in range(5)]
    esme.pump(lambda: len(esme.responses) == 5 and len(esme.delivered) == 5)
    assert all(esme.responses[s].status == 0 for s in sequences)
    assert all(b"stat:DELIVRD" in pdu.short_message for pdu in esme.delivered)
    esme.close()
    # the plain port still speaks plain SMPP
    raw.assert_alive(router)


def test_tls_sessions_dealt_to_two_workers(tmp_path: Path, ca: Ca, password_hash: str,
                                          routers: list[RouterProcess]) -> None:
    """``--workers 2 --share deal``: the supervisor deals TLS connections too; each
    worker does the handshake and serves a session."""
    router, tls_port = tls_router(tmp_path / "r", ca, password_hash, routers,
                                  ("--workers", "2", "--share", "deal"), 2)
    esmes = [Esme(tls_port, ssl_context=ca.client_context()) for _ in range(2)]
    for esme in esmes:
        assert esme.bind().status == 0
        sequence = esme.send(SOURCE, "989121234567", b"dealt over tls")
        esme.pump(lambda e=esme: len(e.responses) == 1)  # type: ignore[misc]
        assert esme.responses[sequence].status == 0
    assert len({e["worker"] for e in router.events() if e.get("event") == "bind"
                and e.get("outcome") == "accepted"}) == 2
    for esme in esmes:
        esme.close()


def test_plain_text_client_on_the_tls_port_is_closed_cleanly(
        tmp_path: Path, ca: Ca, password_hash: str, routers: list[RouterProcess]) -> None:
    router, tls_port = tls_router(tmp_path / "r", ca, password_hash, routers)
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", tls_port), timeout=5)
        s.sendall(raw.pdu(0x09, 1, raw.bind_body()))
        raw.assert_closed(s)
        s.close()
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # a client that offers only TLS 1.1
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as s, \
            pytest.raises((ssl.SSLError, ConnectionResetError)):
        old.wrap_socket(s).do_handshake()
    esme = Esme(tls_port, ssl_context=ca.client_context())
    assert esme.bind().status == 0
    esme.close()
    raw.no_crash_in_log(router)
    assert not [e for e in router.events() if e.get("level") in ("error", "critical")]


def test_sighup_reloads_the_certificate_and_keeps_it_when_the_new_one_is_broken(
        tmp_path: Path, ca: Ca, password_hash: str, routers: list[RouterProcess]) -> None:
    router, tls_port = tls_router(tmp_path / "r", ca, password_hash, routers)
    cert, key = tmp_path / "r" / "server.pem", tmp_path / "r" / "server.key"

    def served() -> int:
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as s, \
                ca.client_context().wrap_socket(s) as tls:
            return peer_serial(tls)

    first = served()
    live = Esme(tls_port, ssl_context=ca.client_context())
    assert live.bind().status == 0
    second = ca.issue(cert, key)
    assert router.proc is not None
    router.proc.send_signal(signal.SIGHUP)
    assert router.wait_event("tls_reloaded")["reloaded"] == ["listener"]
    assert served() == second != first
    seq = live.send(SOURCE, "989121234567", b"still up")  # a session from before the reload
    live.pump(lambda: seq in live.responses)
    assert live.responses[seq].status == 0
    live.close()

    key.write_text("not a key")
    router.proc.send_signal(signal.SIGHUP)
    failed = router.wait_event("tls_reload_failed")
    assert failed["what"] == "listener"
    assert served() == second
    raw.no_crash_in_log(router)


def test_upstream_over_tls_verified_against_its_ca(
        tmp_path: Path, ca: Ca, password_hash: str, routers: list[RouterProcess]) -> None:
    """Router "relay" sends to router "carrier" over TLS (the carrier's own simulator
    answers): receipts come back the same way."""
    _, carrier_tls = tls_router(tmp_path / "carrier", ca, password_hash, routers)
    upstream = {"name": "carrier", "host": "127.0.0.1", "port": carrier_tls,
                "system_id": "esme1", "password": PASSWORD, "tls": True,
                "tls_ca": str(ca.path)}
    other = Ca.make(tmp_path / "other", "Another CA")
    folder = tmp_path / "relay"
    folder.mkdir()
    relay = RouterProcess(folder, router_config(
        folder, password_hash, simulator={"enabled": False},
        upstreams=[upstream, {**upstream, "name": "untrusted", "tls_ca": str(other.path)}]))
    routers.append(relay)
    relay.start()
    relay.wait_event("upstream_bound", where=lambda e: e["upstream"] == "carrier#0")
    refused = relay.wait_event("upstream_connect_failed",
                               where=lambda e: e["upstream"] == "untrusted#0")
    assert "certificate verify failed" in refused["error"]
    esme = Esme(relay.port)
    assert esme.bind().status == 0
    seq = esme.send(SOURCE, "989121234567", b"via tls", registered_delivery=1)
    esme.pump(lambda: seq in esme.responses and len(esme.delivered) == 1)
    assert esme.responses[seq].status == 0
    assert b"stat:DELIVRD" in esme.delivered[0].short_message
    esme.close()
    raw.no_crash_in_log(relay)
