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
        "blacklist", "optout", "route"]
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


def test_routes_and_route_test(make_router: Callable[..., RouterProcess]) -> None:
    """requirements §6: several upstreams, rules by prefix; the admin API shows the table
    in use and which group a message would take and why; explain names the route."""
    router = make_router(admin={"token": TOKEN}, routing={
        "groups": [{"name": "sim", "strategy": "failover", "upstreams": ["simulator"]}],
        "rules": [{"name": "irancell", "prefixes": ["98935"], "group": "sim"}],
        "default_group": "sim"})
    port = admin_port(router.events())
    status, table = call(port, "GET", "/api/routes")
    assert status == 200, table
    assert table["groups"] == [{"name": "sim", "strategy": "failover",
                                "upstreams": ["simulator"], "weights": []}]
    assert table["rules"][0]["name"] == "irancell" and table["default"] == "sim"
    status, body = call(port, "POST", "/api/routes/test",
                        {"account": "esme1", "from": "98100", "to": "989351234567"})
    assert status == 200 and body["group"] == "sim" and body["rule_name"] == "irancell"
    assert any("irancell" in step for step in body["steps"])
    for bad, words in (({"account": "esme1", "from": "98100"}, "to: required"),
                       ({"account": 1, "from": "x", "to": "y"}, "account: expected"),
                       ([1], "JSON object")):
        status, body = call(port, "POST", "/api/routes/test", bad)
        assert status == 400 and words in body["error"], (bad, body)
    status, body = call(port, "POST", "/api/explain", {
        "account": "esme1", "line": "98100", "destination": "989351234567", "text": "hi"})
    [route] = [r for r in body["rules"] if r["rule"] == "route"]
    assert route["group"] == "sim" and "irancell" in route["detail"]


def test_export_streams_records_with_their_manifest(admin: tuple[RouterProcess, int]) -> None:
    """requirements §4: message records handed over on lawful request, by number; the
    file's row count and SHA-256 come with it; redaction hides the text."""
    import hashlib

    router, port = admin
    with clients.bound(clients.Esme(router.port)) as esme:
        for _ in range(3):
            esme.send("98100", "989121000321", b"lawful export text")
        esme.send("98100", "989121000999", b"someone else")
        esme.pump(lambda: len(esme.responses) == 4)
    deadline = time.monotonic() + 10
    while True:
        status, text = call(port, "GET", "/api/export?msisdn=989121000321")
        if (status == 200 and len(text.strip().splitlines()) == 4) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == 200, text
    lines = text.strip().splitlines()
    assert len(lines) == 4 and all("989121000321" in line for line in lines[1:])
    assert all("lawful export text" in line for line in lines[1:])
    status, redacted = call(port, "GET", "/api/export?msisdn=989121000321&redact=1")
    assert status == 200 and "lawful export text" not in redacted
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/export?account=esme1&format=jsonl",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        assert resp.headers["X-Chapar-Rows"] == "4"
        assert resp.headers["X-Chapar-SHA256"] == hashlib.sha256(body).hexdigest()
    for bad, words in (("", "name what to export"), ("?msisdn=12a", "msisdn"),
                       ("?account=esme1&format=xml", "format"),
                       ("?account=esme1&from=yesterday", "from"),
                       ("?account=esme1&colour=red", "colour")):
        status, answer = call(port, "GET", f"/api/export{bad}")
        assert status == 400 and words in answer["error"], (bad, answer)
    assert call(port, "GET", "/api/export?account=esme1", token=None)[0] == 401


def test_explain_reads_throttle_and_balance_now(make_router: Callable[..., RouterProcess],
                                                password_hash: str) -> None:
    """requirements §5-6: explain names the throttle state (tokens left, quota) and the
    balance against the price, as the router holds them, without taking any."""
    router = make_router(
        admin={"token": TOKEN},
        policy={"stages": ["lines", "throttle", "billing"], "default_price": 5},
        accounts=[{"system_id": "esme1", "password_hash": password_hash,
                   "allowed_ips": ["127.0.0.0/8"], "domestic_exempt": True,
                   "status_style": "vendor", "rate": 0.01, "burst": 1, "daily": 100}])
    port = admin_port(router.events())
    question = {"account": "esme1", "line": "98100", "destination": "989121234567",
                "text": "hi"}
    rules = {r["rule"]: r for r in call(port, "POST", "/api/explain", question)[1]["rules"]}
    assert rules["throttle"]["result"] == "pass" and "1 of 1 tokens" in rules["throttle"][
        "detail"] and "quota: 100 segments left" in rules["throttle"]["detail"]
    assert rules["balance"]["result"] == "fail" and rules["balance"]["balance"] == 0
    assert rules["price"]["price"] == 5
    with clients.bound(clients.Esme(router.port)) as esme:
        esme.send("98100", "989121234567", b"hi")  # refused: no money; a token spent
        esme.pump(lambda: len(esme.responses) == 1)
    rules = {r["rule"]: r for r in call(port, "POST", "/api/explain", question)[1]["rules"]}
    assert "of 1 tokens" in rules["throttle"]["detail"]
    for _ in range(3):  # explaining takes nothing
        call(port, "POST", "/api/explain", question)
    again = {r["rule"]: r for r in call(port, "POST", "/api/explain", question)[1]["rules"]}
    assert again["throttle"]["detail"] == rules["throttle"]["detail"]
