"""List imports over the admin API against a real ``chapar run``: the file as the body,
202 with a job at once, progress and result by job id, the rejection report, and the
running router refusing a newly blacklisted number within a second; every bad request a
clear 4xx before anything is read or stored."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests import clients
from tests.conftest import RouterProcess
from tests.integration.admin.support import TOKEN, admin_port, call

BLACKLISTED = 0x0404  # vendor status of a blacklisted destination (status_style vendor)
MAX_BYTES = 64 * 1024
GOOD = ["989121000001", "09121000002", "9121000003", "+98 912 100 0004", "۰۹۱۲۱۰۰۰۰۰۵"]


@pytest.fixture
def admin(make_router: Callable[..., RouterProcess]) -> tuple[RouterProcess, int]:
    router = make_router(admin={"token": TOKEN, "import_max_bytes": MAX_BYTES})
    return router, admin_port(router.events())


def upload(port: int, path: str, body: bytes) -> tuple[int, Any]:
    return call(port, "POST", path, raw=body)


def finished(port: int, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, job = call(port, "GET", f"/api/jobs/{job_id}")
        assert status == 200, job
        if job["state"] in ("done", "failed"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def blacklist_becomes(port: int, size: int) -> None:
    """The running router applies a stored list within a second."""
    deadline = time.monotonic() + 1.5
    while call(port, "GET", "/api/lists")[1]["blacklist"] != size:
        assert time.monotonic() < deadline, f"the router's blacklist is not {size} long"
        time.sleep(0.05)


def test_a_blacklist_file_becomes_a_job_and_the_router_refuses_its_numbers(
        admin: tuple[RouterProcess, int]) -> None:
    """requirements §2: advertising lines may not send to the operator blacklist; the
    list imported through the API is the one the running router applies."""
    router, port = admin
    body = ("number\n" + "\n".join(GOOD) + "\nnot a number\n12\n").encode()
    status, job = upload(port, "/api/lists/blacklist/import?filename=black.csv", body)
    assert status == 202 and job["state"] in ("queued", "running"), job
    assert job["list"] == "blacklist" and job["file"] == "black.csv"
    done = finished(port, job["id"])
    assert done["state"] == "done", done
    assert (done["accepted"], done["rejected"], done["stored"]) == (5, 2, 5)
    assert done["rows_done"] == done["rows_total"] == done["rows"]
    status, listing = call(port, "GET", "/api/jobs")
    assert status == 200 and listing["jobs"][0]["id"] == job["id"]
    status, report = call(port, "GET", f"/api/jobs/{job['id']}/report")
    assert status == 200 and "not a number" in report and len(report.strip().splitlines()) == 3
    blacklist_becomes(port, 5)
    with clients.bound(clients.Esme(router.port)) as esme:
        refused = esme.send("98100", "989121000003", b"offer")
        allowed = esme.send("98100", "989121000099", b"offer")
        esme.pump(lambda: len(esme.responses) == 2)
        assert esme.responses[refused].status == BLACKLISTED
        assert esme.responses[allowed].status == 0


def test_a_file_with_no_number_fails_and_leaves_the_list(
        admin: tuple[RouterProcess, int]) -> None:
    _, port = admin
    status, job = upload(port, "/api/lists/blacklist/import", b"989121000001\n")
    assert status == 202
    assert finished(port, job["id"])["state"] == "done"
    blacklist_becomes(port, 1)
    status, job = upload(port, "/api/lists/blacklist/import", b"12\n345\n")
    assert status == 202
    failed = finished(port, job["id"])
    assert failed["state"] == "failed" and "no number accepted" in failed["error"]
    assert (failed["accepted"], failed["rejected"], failed["stored"]) == (0, 2, None)
    time.sleep(0.5)  # a change would have been applied by now
    assert call(port, "GET", "/api/lists")[1]["blacklist"] == 1


@pytest.mark.parametrize(("path", "body", "code", "words"), [
    ("/api/lists/whitelist/import", b"989121000001\n", 400, "give its line"),
    ("/api/lists/whitelist/import?line=9999", b"989121000001\n", 400, "no line '9999'"),
    ("/api/lists/blacklist/import?line=98100", b"989121000001\n", 400, "not a line's"),
    ("/api/lists/graylist/import", b"989121000001\n", 400, "kind: one of"),
    ("/api/lists/blacklist/import?column=abc", b"989121000001\n", 400, "column"),
    ("/api/lists/blacklist/import?column=0", b"989121000001\n", 400, "from 1"),
    ("/api/lists/blacklist/import?colour=red", b"989121000001\n", 400, "colour: unknown"),
    ("/api/lists/blacklist/import?mode=merge", b"989121000001\n", 400, "mode"),
    ("/api/lists/optout/import?line=98100&signature=a%00b", b"989121000001\n", 400,
     "signature: printable characters only"),
    ("/api/lists/blacklist/import?filename=list.pdf", b"989121000001\n", 400, "filename"),
    ("/api/lists/optout/import?line=98100&signature=x&filename=a.xlsx&sheet=1",
     b"not really a workbook", 202, ""),
    ("/api/lists/blacklist/import", b"", 400, "empty"),
    ("/api/lists/blacklist/import", b"9" * (MAX_BYTES + 1), 413, "over"),
])
def test_bad_requests_are_refused_clearly(admin: tuple[RouterProcess, int], path: str,
                                          body: bytes, code: int, words: str) -> None:
    _, port = admin
    status, answer = upload(port, path, body)
    assert status == code, answer
    if code == 202:  # accepted as a request; the workbook itself cannot be read
        failed = finished(port, answer["id"])
        assert failed["state"] == "failed" and "a.xlsx" in failed["error"], failed
    else:
        assert words in answer["error"], answer
        assert call(port, "GET", "/api/jobs")[1]["jobs"] == []
    assert call(port, "GET", "/api/lists")[1]["blacklist"] == 0


def test_imports_need_the_token(admin: tuple[RouterProcess, int]) -> None:
    _, port = admin
    for token in (None, "wrong"):
        status, body = call(port, "POST", "/api/lists/blacklist/import", token=token,
                            raw=b"989121000001\n")
        assert status == 401, body
        assert call(port, "GET", "/api/jobs/1", token=token)[0] == 401
    assert call(port, "GET", "/api/jobs")[1]["jobs"] == []
    assert call(port, "GET", "/api/jobs/nope")[0] == 404
