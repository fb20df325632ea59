"""Locust load scripts for Chapar over SMPP (issue 16).

    chapar load --users 20 --spawn-rate 5 --run-time 20s          # wraps this file
    locust -f benchmarks/locustfile.py --headless --host smpp://127.0.0.1:2775 \
        -u 20 -r 5 -t 20s [SteadyMt Burst BindStorm Receipts MixedLines]

Each simulated ESME is an smpplib session under gevent (Locust patches the socket module,
so smpplib's blocking reads yield to the other users; one process holds hundreds of
sessions).  Every submit_sm is a Locust request timed from its write to its
submit_sm_resp; a status other than ESME_ROK is a failure named by its status; binds and
receipts (submit to deliver_sm) are requests of their own.  The account comes from the
environment (``CHAPAR_LOAD_ACCOUNT``, ``CHAPAR_LOAD_PASSWORD``, ``CHAPAR_LOAD_LINE``,
``CHAPAR_LOAD_SERVICE_LINE``, ``CHAPAR_LOAD_WINDOW``): the embedded default's demo account
when unset.  Loopback only unless ``CHAPAR_LOAD_ALLOW_REMOTE=1``.

The user classes, by weight: ``SteadyMt`` (windows back to back), ``Receipts`` (every
message asks for a receipt and waits for it), ``Burst`` (a window of 64, then a pause),
``BindStorm`` (bind, one submit, unbind, again), ``MixedLines`` (advertising and service
lines in turn; refusals of the service line's non-customers are its expected failures).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import select
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import smpplib.client
import smpplib.consts
import smpplib.exceptions
from locust import User, between, constant, task
from locust.env import Environment
from locust.exception import StopUser

ACCOUNT = os.environ.get("CHAPAR_LOAD_ACCOUNT", "demo")
PASSWORD = os.environ.get("CHAPAR_LOAD_PASSWORD", "demo1234")
LINE = os.environ.get("CHAPAR_LOAD_LINE", "1000")
SERVICE_LINE = os.environ.get("CHAPAR_LOAD_SERVICE_LINE", "")
WINDOW = int(os.environ.get("CHAPAR_LOAD_WINDOW", "8"))
READ_TIMEOUT = 10.0
TEXT = b"Chapar load test: your code is 482913"
SMPP_ERRORS = (OSError, smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError)
AWAITING: dict[bytes, float] = {}
"""Every user's messages awaiting their receipt: message id -> when submitted."""


class SmppStatus(Exception):
    """A response other than ESME_ROK."""

    def __init__(self, status: int) -> None:
        super().__init__(f"status 0x{status:08x}")


def target(host: str | None) -> tuple[str, int]:
    """``smpp://HOST:PORT`` (or ``HOST:PORT``), loopback unless allowed otherwise."""
    parts = urlsplit(host if host and "//" in host else f"smpp://{host or '127.0.0.1:2775'}")
    address, port = parts.hostname or "127.0.0.1", parts.port or 2775
    remote = not ipaddress.ip_address(address if address != "localhost" else "127.0.0.1"
                                      ).is_loopback
    if remote and os.environ.get("CHAPAR_LOAD_ALLOW_REMOTE") != "1":
        raise ValueError(f"{address} is not loopback (set CHAPAR_LOAD_ALLOW_REMOTE=1)")
    return address, port


def destination() -> str:
    return f"98912{random.randrange(10**7):07d}"


class Session:
    """One bound smpplib session that reports each operation to Locust."""

    def __init__(self, environment: Environment, host: str | None) -> None:
        self._fire = environment.events.request.fire
        self._address, self._port = target(host)
        self._client: smpplib.client.Client | None = None
        self._sent: dict[int, tuple[float, str]] = {}  # sequence -> (when, request name)
        self._answered: dict[int, tuple[Any, float]] = {}  # sequence -> (resp, arrived)
        self._wants_receipt: set[int] = set()  # sequences
        self._mine: set[bytes] = set()  # ids of this session's messages awaiting receipts

    def _report(self, kind: str, name: str, started: float, error: Exception | None) -> None:
        self._fire(request_type=kind, name=name, response_time=(time.perf_counter() - started)
                   * 1000, response_length=0, exception=error, context={})

    def bind(self) -> bool:
        started = time.perf_counter()
        client = smpplib.client.Client(self._address, self._port, timeout=READ_TIMEOUT,
                                       allow_unknown_opt_params=True)
        client.set_message_sent_handler(self._on_response)
        client.set_message_received_handler(self._on_deliver)
        client.set_error_pdu_handler(self._on_response)
        try:
            client.connect()
            client.bind_transceiver(system_id=ACCOUNT, password=PASSWORD)
        except SMPP_ERRORS as exc:
            self._report("smpp", "bind_transceiver", started, exc)
            client.disconnect()
            return False
        self._client = client
        self._report("smpp", "bind_transceiver", started, None)
        return True

    def _on_response(self, pdu: Any, **_: Any) -> None:
        self._answered[pdu.sequence] = (pdu, time.perf_counter())
        if pdu.sequence in self._wants_receipt and pdu.status == 0:
            message_id = _message_id(pdu)
            AWAITING[message_id] = self._sent[pdu.sequence][0]
            self._mine.add(message_id)

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        started = AWAITING.pop(_receipt_id(pdu), None)
        if started is not None:
            self._report("smpp", "deliver_sm receipt", started, None)
        return int(smpplib.consts.SMPP_ESME_ROK)

    def submit_window(self, count: int, source: str = LINE, name: str = "submit_sm",
                      receipts: bool = False) -> int:
        """``count`` submits written back to back, then their answers read; the number
        accepted."""
        client = self._client
        assert client is not None
        for _ in range(count):
            pdu = client.send_message(
                source_addr_ton=1, source_addr_npi=1, source_addr=source, dest_addr_ton=1,
                dest_addr_npi=1, destination_addr=destination(), short_message=TEXT,
                registered_delivery=int(receipts))
            self._sent[pdu.sequence] = (time.perf_counter(), name)
            if receipts:
                self._wants_receipt.add(pdu.sequence)
        accepted = 0
        self._read_until(lambda: all(seq in self._answered for seq in self._sent))
        for seq, (started, request) in self._sent.items():
            resp, arrived = self._answered.pop(seq, (None, time.perf_counter()))
            status = None if resp is None else resp.status
            error = None if status == 0 else (
                SmppStatus(status) if status is not None else TimeoutError("no answer"))
            self._fire(request_type="smpp", name=request,
                       response_time=(arrived - started) * 1000, response_length=0,
                       exception=error, context={})
            accepted += error is None
        self._sent.clear()
        self._wants_receipt.clear()
        return accepted

    def wait_receipts(self) -> None:
        """Until every accepted submit's receipt came, to this session or another of the
        account's (the router spreads receipts over them); the missing are failures."""
        self._read_until(lambda: not any(m in AWAITING for m in self._mine), poll=0.05)
        for message_id in self._mine:
            started = AWAITING.pop(message_id, None)
            if started is not None:
                self._report("smpp", "deliver_sm receipt", started, TimeoutError("no receipt"))
        self._mine.clear()

    def _read_until(self, done: Callable[[], bool], poll: float | None = None) -> None:
        """Read PDUs until ``done()``; with ``poll``, wait at most that long for each (the
        awaited PDUs may come to another session)."""
        client = self._client
        assert client is not None
        deadline = time.monotonic() + READ_TIMEOUT
        while not done() and time.monotonic() < deadline:
            if poll is None or select.select([client._socket], [], [], poll)[0]:
                client.read_once(auto_send_enquire_link=False)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(*SMPP_ERRORS):
            client.unbind()
        client.disconnect()


def _message_id(resp: Any) -> bytes:
    raw = resp.message_id
    return (raw if isinstance(raw, bytes) else str(raw).encode()).lower()


def _receipt_id(pdu: Any) -> bytes:
    """The id a receipt carries: receipted_message_id, else the text's ``id:`` field."""
    found = getattr(pdu, "receipted_message_id", None)
    if found:
        return (found if isinstance(found, bytes) else str(found).encode()).lower()
    text = pdu.short_message or b""
    if text.startswith(b"id:"):
        return text[3:].split(b" ", 1)[0].lower()
    return b""


class SmppUser(User):
    """A user holding one bound session for its life."""

    abstract = True

    def on_start(self) -> None:
        self.session = Session(self.environment, self.host)
        if not self.session.bind():
            raise StopUser()

    def on_stop(self) -> None:
        self.session.close()


class SteadyMt(SmppUser):
    weight = 4
    wait_time = constant(0)

    @task
    def window(self) -> None:
        self.session.submit_window(WINDOW)


class Receipts(SmppUser):
    weight = 2
    wait_time = constant(0)

    @task
    def window_with_receipts(self) -> None:
        self.session.submit_window(WINDOW, name="submit_sm +receipt", receipts=True)
        self.session.wait_receipts()


class Burst(SmppUser):
    weight = 1
    wait_time = between(0.5, 2.0)

    @task
    def burst(self) -> None:
        self.session.submit_window(64, name="submit_sm burst")


class MixedLines(SmppUser):
    weight = 1
    wait_time = between(0.05, 0.2)

    @task(3)
    def advertising(self) -> None:
        self.session.submit_window(WINDOW, name="submit_sm advertising")

    @task(1)
    def service(self) -> None:
        if SERVICE_LINE:
            self.session.submit_window(WINDOW, SERVICE_LINE, name="submit_sm service")


class BindStorm(User):
    """Binds and unbinds as fast as the router lets it: the connection gate and argon2id
    verification off the loop are what it measures."""

    weight = 1
    wait_time = between(0.1, 0.5)

    @task
    def bind_submit_unbind(self) -> None:
        session = Session(self.environment, self.host)
        if session.bind():
            session.submit_window(1, name="submit_sm after bind")
            session.close()
