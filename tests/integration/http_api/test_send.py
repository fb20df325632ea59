"""The customers' HTTP API over real HTTP against a real ``chapar run`` and the C sink as
carrier: single and batch sends reach the sink with a result per number, a refused
number gets its reason while the others are sent, every bad request is a 4xx naming the
field with nothing sent, keys and source addresses are checked (401, 403) and audited."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from router.store.api_keys import ApiKeyStore
from router.store.registry import Registry
from tests.conftest import LINES, RouterProcess, Sink
from tests.integration.http_api.support import api_port, call, new_key

LINE = LINES["esme1"][0]


@pytest.fixture
def api(make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]
        ) -> tuple[RouterProcess, int, Sink]:
    sink = make_sink(record=True)
    router = make_router(http_api={"enabled": True, "port": 0}, simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port}])
    return router, api_port(router), sink


def arrived(sink: Sink, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        records = sink.records(pause=0.1)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def with_key(router: RouterProcess, system_id: str = "esme1") -> str:
    key = new_key(router, system_id)
    time.sleep(0.4)  # the router loads new keys from the registry within its poll
    return key


def test_a_single_send_reaches_the_carrier(api: tuple[RouterProcess, int, Sink]) -> None:
    router, port, sink = api
    key = with_key(router)
    status, body = call(port, "POST", "/v1/messages",
                        {"from": LINE, "to": "+989121000001", "text": "hello"}, key=key)
    assert status == 200, body
    assert body["accepted"] == 1 and body["refused"] == 0
    [result] = body["messages"]
    assert result["status"] == "accepted" and result["to"] == "989121000001"
    assert result["segments"] == 1 and result["ids"] == [result["id"]]
    [record] = arrived(sink, 1)
    assert record["dst"] == "989121000001"
    assert bytes.fromhex(record["short_message"]) == b"hello"


def test_a_batch_sends_the_others_when_one_number_is_refused(
        api: tuple[RouterProcess, int, Sink]) -> None:
    """requirements §2: each number is decided by the same rules as an SMPP submit; a
    refusal names its reason and status and costs the others nothing."""
    router, port, sink = api
    key = with_key(router)
    numbers = [f"98912100{i:04d}" for i in range(40)]
    numbers[7] = "12345"  # not a mobile number: invalid_destination
    status, body = call(port, "POST", "/v1/messages",
                        {"from": LINE, "to": numbers, "text": "batch"}, key=key)
    assert status == 200, body
    assert (body["accepted"], body["refused"]) == (39, 1)
    refused = body["messages"][7]
    assert refused["status"] == "refused" and refused["reason"] == "invalid_destination"
    assert refused["smpp_status"].startswith("0x") and "id" not in refused
    ids = {m["id"] for m in body["messages"] if m["status"] == "accepted"}
    assert len(ids) == 39
    records = arrived(sink, 39)
    assert sorted(r["dst"] for r in records) == sorted(n for n in numbers if n != "12345")


def test_a_long_persian_text_goes_in_parts(api: tuple[RouterProcess, int, Sink]) -> None:
    router, port, sink = api
    key = with_key(router)
    text = "سلام مشتری گرامی، سفارش شما ثبت شد. " * 6  # > 3 UCS2 parts
    status, body = call(port, "POST", "/v1/messages",
                        {"from": LINE, "to": ["989121000002"], "text": text}, key=key)
    assert status == 200, body
    [result] = body["messages"]
    assert result["segments"] == body["segments_each"] >= 3
    assert len(result["ids"]) == result["segments"]
    records = arrived(sink, result["segments"])
    assert len(records) == result["segments"]
    joined = b"".join(bytes.fromhex(r["short_message"])[6:] for r in
                      sorted(records, key=lambda r: bytes.fromhex(r["short_message"])[5]))
    assert joined.decode("utf-16-be") == text


@pytest.mark.parametrize(("body", "words"), [
    (b"{not json", "body: not valid JSON"),
    ({"to": "989121000001", "text": "x"}, "from: required"),
    ({"from": LINE, "text": "x"}, "to: a number"),
    ({"from": LINE, "to": "989121000001"}, "text: required"),
    ({"from": LINE, "to": ["989121000001", "98912abc"], "text": "x"}, "to[1]: "),
    ({"from": LINE, "to": [f"9891210{i:05d}" for i in range(10_001)], "text": "x"},
     "to: 10001 numbers, at most 1000"),
    ({"from": LINE, "to": [f"9891210{i:05d}" for i in range(1_001)], "text": "x"},
     "to: 1001 numbers"),
    ({"from": LINE, "to": "989121000001", "text": "x" * 2000}, "text: 14 segments, at most 10"),
    ({"from": LINE, "to": "989121000001", "text": "x", "colour": 1}, "colour: unknown"),
    ({"from": LINE, "to": "989121000001", "text": "x", "priority": 9}, "priority: an integer"),
    ({"from": LINE, "to": "989121000001", "text": "x", "client_ref": "a\0b"},
     "client_ref: printable characters only"),  # PostgreSQL's text holds no NUL
    ({"from": LINE, "to": "989121000001", "text": "x", "client_ref": "a\ud800"},
     "body: not valid JSON"),  # a lone surrogate never gets in
    ([1, 2], "body: expected a JSON object"),
])
def test_bad_requests_are_refused_naming_the_field(
        api: tuple[RouterProcess, int, Sink], body: object, words: str) -> None:
    router, port, sink = api
    key = with_key(router)
    raw = body if isinstance(body, bytes) else None
    status, answer = call(port, "POST", "/v1/messages", None if raw else body, key=key,
                          raw=raw)
    assert status == 400 and words in answer["error"], answer
    time.sleep(0.3)
    assert sink.records(pause=0.1) == []  # nothing sent


def test_keys_and_addresses_are_checked_and_audited(
        make_router: Callable[..., RouterProcess]) -> None:
    """requirements §1: the account's allowed IPs and the domestic rule apply to HTTP as
    to binds; a wrong key is 401, a wrong address 403, each audited; a revoked key stops
    working within a second."""
    router = make_router(http_api={"enabled": True, "port": 0})
    port = api_port(router)
    key = with_key(router)
    send = {"from": LINE, "to": "989121000001", "text": "hi"}
    assert call(port, "POST", "/v1/messages", send)[0] == 401
    status, body = call(port, "POST", "/v1/messages", send, key=key + "x")
    assert status == 401 and body == {"error": "missing or unknown API key"}
    assert call(port, "POST", "/v1/messages", send, key="chp_nope")[0] == 401
    registry = Registry(Path(router.config["store"]["registry_path"]))
    registry.update_account("esme2", allowed_ips=("127.0.0.2",))
    other = with_key(router, "esme2")
    status, body = call(port, "GET", "/v1/balance", key=other)  # from 127.0.0.1
    assert status == 403 and "allow list" in body["error"], body
    assert call(port, "GET", "/v1/balance", key=other, source="127.0.0.2")[0] == 200
    assert call(port, "POST", "/v1/messages", send, key=key)[0] == 200
    time.sleep(0.3)  # the audit rows are written in batches
    http = [a for a in registry.audit_log(50) if a.bind_type == "http"]
    assert {(a.system_id, a.outcome) for a in http} >= {
        ("-", "refused"), ("esme2", "refused"), ("esme2", "accepted"), ("esme1", "accepted")}
    assert key not in router.log_text() and other not in router.log_text()
    with ApiKeyStore(Path(router.config["store"]["registry_path"])) as store:
        store.revoke(next(k.key_id for k in store.keys("esme1")))
    deadline = time.monotonic() + 1.0
    while call(port, "GET", "/v1/balance", key=key)[0] != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.05)
    registry.close()


def test_balance_and_price_with_billing(make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(http_api={"enabled": True, "port": 0},
                         policy={"stages": ["lines", "billing"], "default_price": 7})
    port = api_port(router)
    key = with_key(router)
    assert call(port, "GET", "/v1/balance", key=key)[1]["balance"] == 0
    status, body = call(port, "POST", "/v1/messages",
                        {"from": LINE, "to": "989121000001", "text": "hi"}, key=key)
    assert status == 422 and body["messages"][0]["reason"] == "insufficient_balance"
    from tests.integration.cli.support import ok

    ok("billing", "topup", "esme1", "100", config=router.workdir / "chapar.yaml")
    deadline = time.monotonic() + 8  # topups are read with traffic, else every 5 s
    while call(port, "GET", "/v1/balance", key=key)[1]["balance"] != 100:
        assert time.monotonic() < deadline, "the topup did not arrive"
        time.sleep(0.1)
    status, body = call(port, "POST", "/v1/messages",
                        {"from": LINE, "to": ["989121000001", "989121000002"],
                         "text": "hi"}, key=key)
    assert status == 200 and [m["price"] for m in body["messages"]] == [7, 7]
    assert call(port, "GET", "/v1/balance", key=key)[1]["balance"] == 86


def test_openapi_lists_every_route(api: tuple[RouterProcess, int, Sink]) -> None:
    from router.http_api.openapi import PATHS

    _, port, _ = api
    status, body = call(port, "GET", "/v1/openapi.json")
    assert status == 200 and set(body["paths"]) == set(PATHS)


def test_a_client_ref_sends_once(api: tuple[RouterProcess, int, Sink]) -> None:
    """The same account and client_ref three times: one message at the carrier, the same
    answer each time (the replays say so); a ref left pending by a crash is refused
    with 409, never sent again."""
    router, port, sink = api
    key = with_key(router)
    send = {"from": LINE, "to": "989121000005", "text": "once", "client_ref": "order-17"}
    answers = [call(port, "POST", "/v1/messages", send, key=key) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1] == answers[1][1] == answers[2][1]
    time.sleep(0.5)
    assert [r["dst"] for r in arrived(sink, 1)] == ["989121000005"]
    other = call(port, "POST", "/v1/messages", {**send, "client_ref": "order-18"}, key=key)
    assert other[0] == 200 and other[1]["messages"][0]["id"] != answers[0][1][
        "messages"][0]["id"]
    from router.store.client_refs import ClientRefStore

    with ClientRefStore(Path(router.config["store"]["registry_path"])) as refs:
        assert refs.claim("esme1", "crashed-19") is None  # as if the router died mid-send
    status, body = call(port, "POST", "/v1/messages", {**send, "client_ref": "crashed-19"},
                        key=key)
    assert status == 409 and "client_ref" in body["error"]
    time.sleep(0.5)
    assert len(sink.records(pause=0.1)) == 2


def test_status_by_id_and_by_client_ref(make_router: Callable[..., RouterProcess]) -> None:
    """A message's state as query_sm answers it: ENROUTE, then DELIVERED when the carrier's
    receipt came (the built-in simulator sends one); another account's id is unknown."""
    router = make_router(http_api={"enabled": True, "port": 0})
    port = api_port(router)
    key = with_key(router)
    status, body = call(port, "POST", "/v1/messages", {
        "from": LINE, "to": ["989121000007", "989121000008"], "text": "track me",
        "client_ref": "track-1"}, key=key)
    assert status == 200, body
    first = body["messages"][0]["id"]
    deadline = time.monotonic() + 10
    while True:
        status, found = call(port, "GET", f"/v1/messages/{first}", key=key)
        assert status == 200, found
        if found["state"] == "DELIVERED" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert found["state"] == "DELIVERED" and found["final_date"], found
    status, tracked = call(port, "GET", "/v1/messages?client_ref=track-1", key=key)
    assert status == 200 and tracked["accepted"] == 2
    assert next(p["state"] for m in tracked["messages"] for p in m["parts"]) == "DELIVERED"
    other = with_key(router, "esme2")
    assert call(port, "GET", f"/v1/messages/{first}", key=other)[0] == 404
    assert call(port, "GET", "/v1/messages?client_ref=track-1", key=other)[0] == 404
    assert call(port, "GET", "/v1/messages/zz-!", key=key)[0] == 400
    assert call(port, "GET", "/v1/messages", key=key)[0] == 400
