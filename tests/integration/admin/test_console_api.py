"""The endpoints the console uses, over real HTTP: /api/overview, quarantine review
(list, release, reject; bad input and decided twice) and the console's static files."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from router.store.quarantine import QuarantineStore
from tests.clients import Esme
from tests.conftest import LINES, RouterProcess
from tests.integration.admin.support import TOKEN, admin_port, call

PRIZE = "تبریک! شما برنده جایزه شدید".encode("utf-16-be")


def _held_ids(router: RouterProcess, count: int) -> list[str]:
    esme = Esme(router.port)
    assert esme.bind().status == 0
    sequences = [esme.send(LINES["esme1"][0], f"98912100000{i}", PRIZE, data_coding=8)
                 for i in range(count)]
    esme.send(LINES["esme2"][0], "989121000009", b"not mine")  # refused: not_own_line
    esme.pump(lambda: len(esme.responses) == count + 1)
    esme.close()
    ids = []
    for seq in sequences:
        raw = esme.responses[seq].message_id
        ids.append(raw.decode() if isinstance(raw, bytes) else raw)
    return ids


def test_quarantine_review_and_overview(make_router: Callable[..., RouterProcess],
                                        tmp_path: object) -> None:
    router = make_router(admin={"token": TOKEN}, policy={"stages": ["lines", "content"]})
    port = admin_port(router.events())
    first, second = _held_ids(router, 2)
    status, body = call(port, "GET", "/api/quarantine")
    assert status == 200 and [m["id"] for m in body["messages"]] == [first, second]
    assert body["messages"][0]["category"] == "fake_prizes_jobs"
    assert body["messages"][0]["text"].startswith("تبریک")
    for bad in ("/api/quarantine?state=gone", "/api/quarantine?limit=0",
                "/api/quarantine?limit=x"):
        status, body = call(port, "GET", bad)
        assert status == 400 and "error" in body, bad
    assert call(port, "POST", f"/api/quarantine/{first}/release", token="wrong")[0] == 401
    assert call(port, "POST", "/api/quarantine/xyz/release")[0] == 400
    assert call(port, "POST", "/api/quarantine/abc/release")[0] == 404
    assert call(port, "POST", f"/api/quarantine/{first}/release") == (
        200, {"id": first, "state": "released"})
    assert call(port, "POST", f"/api/quarantine/{second}/reject") == (
        200, {"id": second, "state": "rejected"})
    status, body = call(port, "POST", f"/api/quarantine/{first}/reject")
    assert status == 409 and "released" in body["error"]
    applied = router.wait_event("quarantine_applied")
    assert (applied["released"], applied["rejected"]) == (1, 1)
    assert call(port, "GET", "/api/quarantine")[1] == {"messages": []}
    store = QuarantineStore(router.workdir / "var" / "chapar.db")
    assert {f"{h.message_id:x}": h.state for h in store.held(None)} == {
        first: "released", second: "rejected"}
    store.close()

    status, overview = call(port, "GET", "/api/overview")
    assert status == 200
    assert overview["submits"]["accepted"] == 2 and overview["submits"]["refused"] == 1
    assert overview["refusals"] == {"not_own_line": 1}
    [upstream] = overview["upstreams"]
    assert upstream["up"] is True and upstream["window"] >= 1
    assert call(port, "GET", "/api/overview", token=None)[0] == 401


def test_console_files_are_served_without_the_token(
        make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(admin={"token": TOKEN})
    port = admin_port(router.events())
    for name, kind in (("", "text/html"), ("console.js", "text/javascript"),
                       ("api.js", "text/javascript"), ("console.css", "text/css")):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/console/{name}",
                                    timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith(kind), name
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
            assert len(resp.read()) > 100
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        assert resp.url.endswith("/console/")
    for name in ("nope.js", "..%2Fapi.py", "%2e%2e"):
        status, body = call(port, "GET", f"/console/{name}", token=None)
        assert status == 404 and "error" in body, name
    assert TOKEN not in urllib.request.urlopen(
        f"http://127.0.0.1:{port}/console/", timeout=5).read().decode()
