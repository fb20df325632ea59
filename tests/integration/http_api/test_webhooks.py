"""Receipts by webhook against a real ``chapar run``: a receiver on loopback that fails
twice and then answers 204 gets each receipt exactly once, signed; an account set to
``both`` gets its receipts by SMPP and by webhook; ``http`` only by webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests import clients
from tests.conftest import LINES, RouterProcess

SECRET = "webhook-secret-0123456789"


class Receiver:
    """A webhook endpoint: answers 500 to the first ``failures`` posts, then 204; keeps
    what it accepted (body, signature header)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.posts = 0
        self.accepted: list[tuple[bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                if receiver.posts <= receiver.failures:
                    self.send_response(500)
                else:
                    receiver.accepted.append((body, self.headers["X-Chapar-Signature"]))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receipts(self) -> list[dict[str, Any]]:
        out = []
        for body, header in self.accepted:
            stamp, _, mac = header.partition(",v1=")
            at = int(stamp.removeprefix("t="))
            expected = hmac.new(SECRET.encode(), b"%d." % at + body, hashlib.sha256)
            assert hmac.compare_digest(mac, expected.hexdigest()), "bad signature"
            assert abs(time.time() - at) < 60
            out.append(json.loads(body))
        return out


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[int], Receiver]]:
    made: list[Receiver] = []

    def make(failures: int = 0) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for receiver in made:
        receiver.server.shutdown()


def test_a_failing_webhook_gets_each_receipt_exactly_once_after_retries(
        make_router: Callable[..., RouterProcess],
        receiver_factory: Callable[[int], Receiver], password_hash: str) -> None:
    """requirements (intro): receipts relayed back to the right customer; by webhook,
    retried from the durable queue until a 2xx, each exactly once, signed."""
    hook = receiver_factory(2)
    router = make_router(accounts=[
        {"system_id": "esme1", "password_hash": password_hash, "allowed_ips": ["127.0.0.0/8"],
         "domestic_exempt": True, "status_style": "vendor", "deliver_via": "http",
         "webhook_url": hook.url, "webhook_secret": SECRET},
        {"system_id": "esme2", "password_hash": password_hash, "allowed_ips": ["127.0.0.0/8"],
         "domestic_exempt": True, "status_style": "vendor", "deliver_via": "both",
         "webhook_url": hook.url, "webhook_secret": SECRET}])
    with clients.bound(clients.Esme(router.port)) as esme, \
            clients.bound(clients.Esme(router.port), system_id="esme2") as other:
        sent = [esme.send(LINES["esme1"][0], f"98912100000{i}", b"hook", registered_delivery=1)
                for i in range(3)]
        other_seq = other.send(LINES["esme2"][0], "989121000009", b"both",
                               registered_delivery=1)
        esme.pump(lambda: len(esme.responses) == 3)
        other.pump(lambda: len(other.responses) == 1 and len(other.delivered) == 1)
        ids = {esme.responses[s].message_id.decode() for s in sent}
        other_id = other.responses[other_seq].message_id.decode()
        deadline = time.monotonic() + 20
        while len(hook.accepted) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # nothing more comes
        receipts = hook.receipts()
        assert sorted(r["id"] for r in receipts) == sorted([*ids, other_id])
        assert all(r["type"] == "receipt" and r["stat"] == "DELIVRD" for r in receipts)
        assert hook.posts == len(receipts) + 2  # the two failures were tried again
        assert esme.delivered == []  # deliver_via http: nothing by SMPP
        assert b"id:" + other_id.encode() in other.delivered[0].short_message
    webhook = [e for e in router.events() if e.get("event") == "webhook_failed"]
    assert webhook and SECRET not in router.log_text()
