"""The admin API over real HTTP against a real ``chapar run``: the token guards every
/api/ call (401 and nothing done), each endpoint's happy path and its bad input, and an
admin unbind closes the ESME's connection."""

from __future__ import annotations

import os
import select
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from router.admin.openapi import PATHS
from tests import clients
from tests.conftest import RouterProcess
from tests.integration.admin.support import TOKEN, admin_port, call


@pytest.fixture
def admin(make_router: Callable[..., RouterProcess]) -> tuple[RouterProcess, int]:
    router = make_router(admin={"token": TOKEN})
    return router, admin_port(router.events())


def sessions(port: int) -> list[dict[str, Any]]:
    status, body = call(port, "GET", "/api/sessions")
    assert status == 200, body
    found: list[dict[str, Any]] = body["sessions"]
    return found


def test_no_token_or_a_wrong_one_is_401_and_nothing_is_done(
        admin: tuple[RouterProcess, int]) -> None:
    router, port = admin
    with clients.bound(clients.Esme(router.port)):
        for token in (None, "wrong", TOKEN + "x", ""):
            for method, path in (("GET", "/api/sessions"), ("GET", "/api/accounts"),
                                 ("POST", "/api/reload"), ("GET", "/api/openapi.json"),
                                 ("POST", "/api/sessions/0/unbind"), ("GET", "/api/nope")):
                status, body = call(port, method, path, token=token)
                assert status == 401, (method, path, token, body)
                assert body == {"error": "missing or wrong bearer token"}
        live = sessions(port)
        assert len(live) == 1 and live[0]["account"] == "esme1"  # still bound
    assert not any(e.get("event") == "reloaded" for e in router.events())


def test_sessions_list_and_unbind_closes_the_connection(
        admin: tuple[RouterProcess, int]) -> None:
    router, port = admin
    with clients.bound(clients.Esme(router.port)) as esme:
        esme.send("98100", "989121234567", b"hi")
        esme.pump(lambda: len(esme.responses) == 1)
        [live] = sessions(port)
        assert live["state"] == "BOUND_TRX" and live["submitted"] == 1
        assert live["peer"].startswith("127.0.0.1:")
        status, body = call(port, "POST", f"/api/sessions/{live['id']}/unbind")
        assert (status, body) == (200, {"unbound": live["id"], "account": "esme1"})
        sock = esme.client._socket
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # the unbind arrives, then EOF
            if select.select([sock], [], [], 0.2)[0] and sock.recv(4096) == b"":
                break
        else:
            pytest.fail("the connection was not closed")
        esme.client._socket = None
    deadline = time.monotonic() + 3
    while sessions(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions(port) == []
    status, body = call(port, "POST", "/api/sessions/ffff/unbind")
    assert status == 404 and "ffff" in body["error"]


def test_accounts_lines_lists(admin: tuple[RouterProcess, int]) -> None:
    _, port = admin
    status, body = call(port, "GET", "/api/accounts")
    assert status == 200
    assert [a["system_id"] for a in body["accounts"]] == ["esme1", "esme2"]
    assert all("password_hash" not in a for a in body["accounts"])
    assert call(port, "GET", "/api/accounts/esme2")[1]["status"] == "active"
    assert call(port, "GET", "/api/accounts/nobody")[0] == 404
    status, body = call(port, "GET", "/api/lines?account=esme2")
    assert status == 200 and [x["number"] for x in body["lines"]] == ["98200"]
    assert call(port, "GET", "/api/lines/98100")[1]["account"] == "esme1"
    assert call(port, "GET", "/api/lines/777")[0] == 404
    status, body = call(port, "GET", "/api/lists")
    assert status == 200 and body["blacklist"] == 0
    status, body = call(port, "GET", "/api/lists/lookup?number=989121234567&line=98100")
    assert status == 200 and body["blacklisted"] is False and body["opted_out"] is False
    status, body = call(port, "GET", "/api/lists/lookup?number=09x")
    assert status == 400 and "number" in body["error"]


def test_reload(admin: tuple[RouterProcess, int]) -> None:
    router, port = admin
    status, body = call(port, "POST", "/api/reload")
    assert status == 200 and body["reloaded"] == {"accounts": 2, "lines": 6}
    router.wait_event("reloaded")


def test_explain(admin: tuple[RouterProcess, int]) -> None:
    router, port = admin
    status, body = call(port, "POST", "/api/explain", {
        "account": "esme1", "line": "98200", "destination": "989121234567", "text": "hi"})
    assert status == 200
    assert body["decision"] == "refuse" and body["reason"] == "not_own_line"
    assert body["status"]["answered"] == "0x0000000a"
    decisive = [r for r in body["rules"] if r["decisive"]]
    assert [r["rule"] for r in decisive] == ["line"]
    status, body = call(port, "POST", "/api/explain", {
        "account": "esme1", "line": "98100", "destination": "989121234567",
        "text": "x" * 200})
    assert status == 200 and body["decision"] == "accept"
    assert body["segments"]["count"] == 2
    assert [r["rule"] for r in body["rules"]] == [
        "account", "line", "line_status", "hours", "line_kind", "destination", "whitelist",
        "blacklist", "optout"]
    for bad, words in (({"account": "esme1"}, "line: required"),
                       ({"account": "esme1", "line": 5, "destination": "1"}, "line: expected"),
                       ({"account": "a", "line": "b", "destination": "c", "x": 1}, "unknown"),
                       ([1], "JSON object")):
        status, body = call(port, "POST", "/api/explain", bad)
        assert status == 400 and words in body["error"], (bad, body)
    status, body = call(port, "POST", "/api/explain", raw=b"{not json")
    assert status == 400 and "JSON" in body["error"]
    # nothing was sent: no message reached the journal's accepted path
    assert not any(e.get("event") == "message_refused_upstream" for e in router.events())


def test_openapi_lists_every_route(admin: tuple[RouterProcess, int]) -> None:
    _, port = admin
    status, body = call(port, "GET", "/api/openapi.json")
    assert status == 200 and body["openapi"].startswith("3.")
    assert set(body["paths"]) == set(PATHS)
    assert call(port, "GET", "/healthz", token=None) == (200, {"status": "ok"})


def test_generated_token_file(make_router: Callable[..., RouterProcess]) -> None:
    router = make_router()
    port = admin_port(router.events())
    started = next(e for e in router.events() if e.get("event") == "admin_listening")
    path = Path(started["token_from"])
    assert path == router.workdir / "var" / "admin.token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = path.read_text().strip()
    assert len(token) >= 32
    assert call(port, "GET", "/api/accounts", token=token)[0] == 200
    assert call(port, "GET", "/api/accounts", token=None)[0] == 401


def test_non_loopback_without_tls_is_refused(
        make_router: Callable[..., RouterProcess]) -> None:
    with pytest.raises(RuntimeError, match=r"admin\.tls_cert"):
        make_router(admin={"host": "0.0.0.0", "token": TOKEN})


def test_explain_uses_the_routers_content_rules_without_compiling_them(
        make_router: Callable[..., RouterProcess]) -> None:
    """requirements §3: content hits are part of the explained decision; each question
    shares the router's compiled rules (compiling them per question blocked the loop)."""
    router = make_router(admin={"token": TOKEN}, policy={"stages": ["lines", "content"]})
    port = admin_port(router.events())
    question = {"account": "esme1", "line": "98100", "destination": "989121234567",
                "text": "تبریک! شما برنده جایزه شدید"}
    for _ in range(3):
        status, body = call(port, "POST", "/api/explain", question)
        assert status == 200 and body["stages"] == ["lines", "content"], body
        assert body["decision"] == "accept"  # quarantined: accepted, held from carriers
        [content] = [r for r in body["rules"] if r["rule"] == "content"]
        assert content["result"] == "hold" and content["action"] == "quarantine"
        assert "fake_prizes_jobs" in content["detail"]
        assert content["hits"] and content["hits"][0]["category"] == "fake_prizes_jobs"
    status, body = call(port, "POST", "/api/explain", {**question, "text": "hello"})
    assert status == 200 and body["decision"] == "accept"
    [content] = [r for r in body["rules"] if r["rule"] == "content"]
    assert content["result"] == "pass" and content["hits"] == []
    loaded = [e for e in router.events() if e.get("event") == "content_rules_loaded"]
    assert len(loaded) == 1, loaded  # the router's own, at start
