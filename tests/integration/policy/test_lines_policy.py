"""Lines and number lists end to end (issue 5, "Done when"): real ``chapar run``
processes, real TCP, smpplib (and aiosmpplib) as the ESME.

Lists are written the way an operator's tools write them: with :class:`LineStore` on
the registry file of the running router, one change at a time, each followed by the
router's ``lists_loaded`` / ``optouts_loaded`` / ``line_changed`` log event before
anything is submitted.

MOs need a carrier that sends deliver_sm: :class:`FakeCarrier` below is one, built on
Chapar's own sans-IO session (role SMSC) and run on an event loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from aiosmpplib import (
    BindTransceiverResp,
    PhoneNumber,
    SmppCommandStatus,
    SmppSessionState,
    SubmitSm,
)

from router.model.numbersets import ExpiringNumberSet, NumberSet
from router.smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, DeliverSm
from router.smpp.pdu import SubmitSmResp as CarrierSubmitSmResp
from router.smpp.session import (
    Answered,
    Delivered,
    MustClose,
    Role,
    Session,
    SessionConfig,
    Submit,
    Unbound,
)
from router.store.lines import LineStore
from tests import clients
from tests.clients import run_aiosmpplib
from tests.conftest import LINES, RouterProcess

ROK = 0x00
RINVSRCADR = 0x0A
RINVDSTADR = 0x0B
RSUBMITFAIL = 0x45
# vendor statuses (design §6, router.policy.pipeline.REFUSALS)
LINE_SUSPENDED = 0x0401
OUTSIDE_HOURS = 0x0402
NOT_IN_WHITELIST = 0x0403
BLACKLISTED = 0x0404
OPTED_OUT = 0x0405

TEHRAN = ZoneInfo("Asia/Tehran")  # policy.timezone default: sending hours are local
OPT_OUT_TEXT = "لغو ۱۱"  # «cancel 11», Persian digits
UCS2 = 8
TIMEOUT = 10.0


# --- config and registry helpers -------------------------------------------------------


def lines_config(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """conftest's advertising lines for esme1/esme2, plus ``extra`` seeds."""
    seeds = [{"number": number, "account": account, "kind": "advertising"}
             for account, numbers in LINES.items() for number in numbers]
    return seeds + list(extra)


def count_events(router: RouterProcess, name: str,
                 where: Callable[[dict[str, Any]], bool] = lambda e: True) -> int:
    return sum(1 for e in router.events() if e.get("event") == name and where(e))


@contextlib.contextmanager
def applied(router: RouterProcess, name: str,
            where: Callable[[dict[str, Any]], bool] = lambda e: True,
            timeout: float = TIMEOUT) -> Iterator[None]:
    """Wait, after the block, for one more ``name`` event than there was before it."""
    before = count_events(router, name, where)
    yield
    deadline = time.monotonic() + timeout
    while count_events(router, name, where) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new {name} event in: {router.log_text()[-3000:]}")
        time.sleep(0.05)


@contextlib.contextmanager
def registry(router: RouterProcess) -> Iterator[LineStore]:
    """The running router's registry file, opened as the operator's tools open it."""
    with LineStore(Path(router.config["store"]["registry_path"])) as store:
        yield store


def save_blacklist(router: RouterProcess, *numbers: str) -> None:
    with registry(router) as store, applied(router, "lists_loaded"):
        store.save_blacklist(NumberSet(int(n) for n in numbers))


def save_whitelist(router: RouterProcess, line: str, whitelist: ExpiringNumberSet) -> None:
    with registry(router) as store, applied(router, "lists_loaded"):
        store.save_whitelist(line, whitelist)


def update_line(router: RouterProcess, line: str, **changes: Any) -> None:
    with registry(router) as store, \
            applied(router, "line_changed", lambda e: e.get("line") == line):
        store.update_line(line, **changes)


def refusal_rows(router: RouterProcess) -> list[tuple[str, list[list[Any]]]]:
    """(account, entries) of every row of the journal's ``refusals`` table."""
    db = sqlite3.connect(router.config["store"]["path"], timeout=5.0)
    try:
        rows = db.execute("SELECT account, entries FROM refusals ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(account, json.loads(entries)) for account, entries in rows]


def wait_refusals(router: RouterProcess, done: Callable[[list[list[Any]]], bool],
                  timeout: float = 5.0) -> list[tuple[str, list[Any]]]:
    """(account, entry) of every recorded refusal, once ``done(entries)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        flat = [(account, entry) for account, entries in refusal_rows(router)
                for entry in entries]
        if done([entry for _, entry in flat]):
            return flat
        if time.monotonic() > deadline:
            raise AssertionError(f"refusals recorded: {flat}")
        time.sleep(0.05)


# --- smpplib ESME ----------------------------------------------------------------------


class Esme(clients.Esme):
    """An smpplib session (tests/clients.py) submitting without a receipt request."""

    poll = 0.2

    def submit(self, source: str, destination: str, text: bytes = b"policy test",
               dest_ton: int = 1) -> int:
        return self.send(source, destination, text, dest_ton=dest_ton, registered_delivery=0)

    def status(self, source: str, destination: str, dest_ton: int = 1) -> int:
        """Submit one message and return the status of its submit_sm_resp."""
        seq = self.submit(source, destination, dest_ton=dest_ton)
        self.pump(lambda: seq in self.responses)
        status: int = self.responses[seq].status
        return status


def esme(router: RouterProcess, kind: str = "transceiver", system_id: str = "esme1"
         ) -> contextlib.AbstractContextManager[Esme]:
    return clients.bound(Esme(router.port), kind, system_id)


# --- a carrier that sends MOs ----------------------------------------------------------


class CarrierConnection(asyncio.Protocol):
    def __init__(self, carrier: FakeCarrier) -> None:
        self.carrier = carrier
        self.loop = asyncio.get_running_loop()
        self.session = Session(Role.SMSC, SessionConfig(
            session_init_timeout=0, enquire_link_interval=0, inactivity_timeout=0,
            response_timeout=0), now=self.loop.time())
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.carrier.connections.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.carrier.connections:
            self.carrier.connections.remove(self)

    def data_received(self, data: bytes) -> None:
        now = self.loop.time()
        events = self.session.receive_data(data, now)
        while events:
            event = events.pop(0)
            if type(event) is Submit:
                sm = event.decode()
                self.carrier.submitted.append(sm)
                message_id = f"fc{len(self.carrier.submitted):08x}"
                self.session.respond(CarrierSubmitSmResp(event.sequence, 0, message_id))
            elif isinstance(event, BindTransmitter | BindReceiver | BindTransceiver):
                events.extend(self.session.accept_bind(event, "FAKESMSC", now))
                self.carrier.bound.set()
            elif type(event) is Delivered:
                self.carrier.mo_answers[cast(int, event.context)] = event.status
            elif type(event) is Answered:  # a generic_nack
                self.carrier.mo_answers[cast(int, event.context)] = event.response.status
            elif isinstance(event, Unbound | MustClose):
                self.write()
                self.close()
                return
        self.write()

    def write(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            data = self.session.data_to_send()
            if data:
                self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class FakeCarrier:
    """Accepts the router's bind, answers submit_sm with ids, sends deliver_sm MOs on
    demand and keeps the status of each deliver_sm_resp; on a loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-carrier",
                                       daemon=True)
        self.connections: list[CarrierConnection] = []
        self.submitted: list[Any] = []
        self.mo_answers: dict[int, int] = {}
        self.bound = threading.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._mo_count = 0

    def _call(self, make: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return make()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def start(self) -> FakeCarrier:
        self.thread.start()

        async def serve() -> int:
            self._server = await self.loop.create_server(
                lambda: CarrierConnection(self), "127.0.0.1", 0)
            port: int = self._server.sockets[0].getsockname()[1]
            return port

        self.port = asyncio.run_coroutine_threadsafe(serve(), self.loop).result(5)
        return self

    def send_mo(self, source: str, destination: str, text: bytes, data_coding: int) -> int:
        """One deliver_sm (esm_class 0) to the bound router; returns its tag for
        :meth:`mo_status`."""
        self._mo_count += 1
        tag = self._mo_count

        def send() -> None:
            conn = self.connections[-1]
            pdu = DeliverSm(source_addr_ton=1, source_addr_npi=1, source_addr=source,
                            dest_addr_ton=0, dest_addr_npi=1, destination_addr=destination,
                            esm_class=0, data_coding=data_coding, short_message=text)
            conn.session.send_request(pdu, self.loop.time(), tag)
            conn.write()

        self._call(send)
        return tag

    def mo_status(self, tag: int, timeout: float = TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while tag not in self.mo_answers:
            if time.monotonic() > deadline:
                raise AssertionError(f"no deliver_sm_resp for MO {tag}")
            time.sleep(0.02)
        return self.mo_answers[tag]

    def stop(self) -> None:
        if not self.thread.is_alive():
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self.connections):
                conn.close()
            await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


@pytest.fixture
def carrier() -> Iterator[FakeCarrier]:
    fake = FakeCarrier().start()
    yield fake
    fake.stop()


# --- 1-3: service and advertising lines, whitelists, blacklist, opt-outs ---------------

SERVICE = "30005000"
BANK = "30005001"
CUSTOMER = "989121000001"
STRANGER = "989121000002"


def test_service_line_reaches_customers_only(make_router: Callable[..., RouterProcess]
                                             ) -> None:
    """requirements §2: a service line reaches only its owner's registered customers,
    blacklisted or not."""
    router = make_router(lines=lines_config(
        {"number": SERVICE, "account": "esme1", "kind": "service"},
        {"number": BANK, "account": "esme1", "kind": "service",
         "exemption": "bank_transaction"}))
    save_whitelist(router, SERVICE, ExpiringNumberSet([int(CUSTOMER)]))
    save_blacklist(router, CUSTOMER, STRANGER)  # irrelevant to a service line
    with esme(router) as session:
        assert session.status(SERVICE, STRANGER) == NOT_IN_WHITELIST
        assert session.status(SERVICE, CUSTOMER) == ROK, "blacklisted customer refused"
        # the same customer in national form (TON 2) goes through the normaliser
        assert session.status(SERVICE, "09121000001", dest_ton=2) == ROK
        assert session.status(SERVICE, "09121000002", dest_ton=2) == NOT_IN_WHITELIST
        # a national number labelled international (TON 1) is no valid number
        assert session.status(SERVICE, "09121000001", dest_ton=1) == RINVDSTADR
        # an exempt service line needs no customer list, blacklist or not
        assert session.status(BANK, STRANGER) == ROK


def test_advertising_line_blacklist_and_optouts(make_router: Callable[..., RouterProcess]
                                                ) -> None:
    """requirements §2: an advertising line reaches anyone but the operator blacklist and
    those who opted out of it."""
    router = make_router()
    line, other_line = LINES["esme1"][0], LINES["esme1"][1]
    blacklisted, opted_out, anyone = "989121000011", "989121000012", "989121000013"
    save_blacklist(router, blacklisted)
    with registry(router) as store, applied(router, "optouts_loaded"):
        store.add_optout(line, int(opted_out))
    with esme(router) as session:
        assert session.status(line, blacklisted) == BLACKLISTED
        assert session.status(line, opted_out) == OPTED_OUT
        assert session.status(line, anyone) == ROK
        # opt-outs are per line; the blacklist is for every advertising line
        assert session.status(other_line, opted_out) == ROK
        assert session.status(other_line, blacklisted) == BLACKLISTED


def test_expired_whitelist_entry_refused(make_router: Callable[..., RouterProcess]) -> None:
    """requirements §2: bank test numbers leave the whitelist when their expiry date
    passes."""
    router = make_router(lines=lines_config(
        {"number": SERVICE, "account": "esme1", "kind": "service"}))
    permanent, expired, expiring = "989121000021", "989121000022", "989121000023"
    expires_at = time.time() + 3.0
    save_whitelist(router, SERVICE, ExpiringNumberSet(
        [int(permanent)], {int(expired): time.time() - 60, int(expiring): expires_at}))
    with esme(router) as session:
        assert session.status(SERVICE, expired) == NOT_IN_WHITELIST
        assert session.status(SERVICE, expiring) == ROK
        assert time.time() < expires_at, "too slow to check the entry before its expiry"
        time.sleep(max(0.0, expires_at - time.time()) + 0.1)
        # no reload, no purge: the entry stops counting at its instant
        assert session.status(SERVICE, expiring) == NOT_IN_WHITELIST
        assert session.status(SERVICE, permanent) == ROK


# --- 4: whose line, its status, its hours ---------------------------------------------


def hours_around_now(start_offset: int, end_offset: int) -> str:
    """``HH:MM-HH:MM`` from now + start_offset to now + end_offset minutes, Tehran time."""
    local = datetime.now(TEHRAN)
    minute = local.hour * 60 + local.minute
    start, end = (minute + start_offset) % 1440, (minute + end_offset) % 1440
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def test_line_ownership_status_and_hours(make_router: Callable[..., RouterProcess]) -> None:
    """requirements §2: the source must be a line of the binding account, active, and
    inside its sending hours."""
    closed_line, open_line = "30007000", "30007001"
    router = make_router(lines=lines_config(
        {"number": closed_line, "account": "esme1", "hours": hours_around_now(120, 180)},
        {"number": open_line, "account": "esme1", "hours": hours_around_now(-60, 60)}))
    anyone = "989121000031"
    suspended = LINES["esme1"][2]
    update_line(router, suspended, status="suspended", status_reason="test")
    with esme(router) as session:
        assert session.status(LINES["esme2"][0], anyone) == RINVSRCADR  # esme2's line
        assert session.status("99999", anyone) == RINVSRCADR  # nobody's line
        assert session.status(suspended, anyone) == LINE_SUSPENDED
        assert session.status(closed_line, anyone) == OUTSIDE_HOURS
        assert session.status(open_line, anyone) == ROK
        update_line(router, suspended, status="active")
        assert session.status(suspended, anyone) == ROK


# --- 5: MO «لغو ۱۱» and «12» -----------------------------------------------------------


def test_mo_optout_then_optin(carrier: FakeCarrier,
                              make_router: Callable[..., RouterProcess]) -> None:
    """requirements §2: a subscriber's «لغو ۱۱» opts out of the line and «۱۲» back in; the
    MO still reaches the owner."""
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "fake", "port": carrier.port,
                                     "reconnect_min": 0.1}])
    assert carrier.bound.wait(TIMEOUT), "the router did not bind to the fake carrier"
    line, other_line = LINES["esme1"][0], LINES["esme1"][1]
    subscriber = "989121000041"
    text = OPT_OUT_TEXT.encode("utf-16-be")
    with esme(router, "receiver") as rx, esme(router, "transmitter") as tx, \
            esme(router, "receiver", system_id="esme2") as stranger:
        assert tx.status(line, subscriber) == ROK
        deadline = time.monotonic() + TIMEOUT
        while not any(sm.destination_addr == subscriber for sm in carrier.submitted):
            assert time.monotonic() < deadline, "the accepted submit never reached the carrier"
            time.sleep(0.02)

        with applied(router, "optouts_loaded"):  # the opt-out, persisted, comes back
            tag = carrier.send_mo(subscriber, line, text, UCS2)
            assert carrier.mo_status(tag) == ROK
            rx.pump(lambda: len(rx.delivered) >= 1)
        mo = rx.delivered[0]
        assert mo.esm_class == 0
        assert mo.data_coding == UCS2
        assert mo.short_message == text
        assert mo.short_message.decode("utf-16-be") == OPT_OUT_TEXT
        assert mo.source_addr == subscriber.encode()
        assert mo.destination_addr == line.encode()
        router.wait_event("optout", where=lambda e: e.get("line") == line)

        assert tx.status(line, subscriber) == OPTED_OUT
        assert tx.status(other_line, subscriber) == ROK  # opted out of that line only
        with registry(router) as store:
            assert int(subscriber) in store.optouts(line)

        with applied(router, "optouts_loaded"):
            tag = carrier.send_mo(subscriber, line, b"12", 0)
            assert carrier.mo_status(tag) == ROK
            rx.pump(lambda: len(rx.delivered) >= 2)
        assert rx.delivered[1].short_message == b"12"
        assert rx.delivered[1].esm_class == 0
        router.wait_event("optin", where=lambda e: e.get("line") == line)
        assert tx.status(line, subscriber) == ROK
        with registry(router) as store:
            assert int(subscriber) not in store.optouts(line)

        # Nothing else may reach the stranger: instead of waiting a fixed time, send it an
        # MO of its own (to esme2's line) behind the others; MOs of one carrier session
        # are relayed in order, so once it arrives anything misrouted would have too.
        marker = carrier.send_mo(subscriber, LINES["esme2"][0], b"marker", 0)
        assert carrier.mo_status(marker) == ROK
        stranger.pump(lambda: len(stranger.delivered) >= 1)
        assert [p.short_message for p in stranger.delivered] == [b"marker"], \
            "an MO reached an account that does not own the line"
        assert len(rx.delivered) == 2


# --- 6: the same refusals, aiosmpplib, status_style: standard --------------------------


def test_standard_statuses_keep_aiosmpplib_bound(
        make_router: Callable[..., RouterProcess], password_hash: str) -> None:
    """requirements §2: refusals use documented statuses; with status_style standard a
    client that knows only SMPP 3.4 codes stays bound."""
    advertising, service, suspended = "40001", "40002", "40003"
    customer, blacklisted, opted_out, anyone = (
        "989121000051", "989121000052", "989121000053", "989121000054")
    accounts = [{"system_id": name, "password_hash": password_hash,
                 "allowed_ips": ["127.0.0.0/8", "::1"], "domestic_exempt": True,
                 "status_style": "standard" if name == "esme3" else "vendor"}
                for name in ("esme1", "esme2", "esme3")]
    router = make_router(accounts=accounts, lines=lines_config(
        {"number": advertising, "account": "esme3"},
        {"number": service, "account": "esme3", "kind": "service"},
        {"number": suspended, "account": "esme3"}))
    save_blacklist(router, blacklisted)
    save_whitelist(router, service, ExpiringNumberSet([int(customer)]))
    with registry(router) as store, applied(router, "optouts_loaded"):
        store.add_optout(advertising, int(opted_out))
    update_line(router, suspended, status="suspended")

    cases = {  # log_id: (source, destination, status expected, reason recorded)
        "blacklisted": (advertising, blacklisted, RINVDSTADR, "blacklisted"),
        "opted-out": (advertising, opted_out, RINVDSTADR, "opted_out"),
        "not-customer": (service, anyone, RINVDSTADR, "not_in_whitelist"),
        "suspended": (suspended, anyone, RSUBMITFAIL, "line_suspended"),
        "not-own": (LINES["esme1"][0], anyone, RINVSRCADR, "not_own_line"),
        "accepted": (advertising, anyone, ROK, ""),
        "customer": (service, customer, ROK, ""),
    }
    messages = [SubmitSm(short_message=f"policy {log_id}", source=PhoneNumber(source),
                         destination=PhoneNumber(destination), log_id=log_id,
                         extra_data=log_id, registered_delivery=0)
                for log_id, (source, destination, _, _) in cases.items()]
    run = asyncio.run(run_aiosmpplib(
        router.port, messages, lambda hook: len(hook.responses) >= len(messages),
        system_id="esme3", settle=0.3))
    hook, problems, state = run.hook, run.problems, run.state_before_stop

    assert None not in hook.messages, "aiosmpplib could not parse a PDU: " + "; ".join(
        r.getMessage()[:300] for r in problems.records)
    assert [r.getMessage() for r in problems.records] == []
    assert hook.send_errors == []
    binds = [m for m in hook.messages if type(m) is BindTransceiverResp]
    assert len(binds) == 1, f"session was re-established: {len(binds)} binds"
    assert state == SmppSessionState.BOUND_TRX
    statuses = {r.log_id: int(r.command_status) for r in hook.responses}
    assert statuses == {log_id: case[2] for log_id, case in cases.items()}
    assert all(isinstance(r.command_status, SmppCommandStatus) for r in hook.responses)
    # the standard codes stand for the right reasons (0x0B is also "invalid number")
    expected = {(case[0], case[1], case[3]) for case in cases.values() if case[3]}
    recorded = wait_refusals(router, lambda entries: len(entries) >= len(expected))
    assert {(e[1], e[2], e[3]) for account, e in recorded if account == "esme3"} == expected


# --- 7: violations demote a service line -----------------------------------------------


def test_violations_demote_service_line(make_router: Callable[..., RouterProcess]) -> None:
    """requirements §2: a service line that keeps sending to non-customers is demoted (or
    suspended) past the threshold."""
    line = "30008000"
    router = make_router(policy={"violations_threshold": 3}, lines=lines_config(
        {"number": line, "account": "esme1", "kind": "service"}))
    blacklisted = "989121000069"
    save_blacklist(router, blacklisted)
    with esme(router) as session:
        assert session.status(line, "989121000061") == NOT_IN_WHITELIST
        assert session.status(line, "989121000062") == NOT_IN_WHITELIST
        session.idle(0.3)
        assert count_events(router, "line_demoted") == 0, "demoted before the threshold"
        with applied(router, "line_changed",
                     lambda e: e.get("line") == line and e.get("status") == "demoted"):
            assert session.status(line, "989121000063") == NOT_IN_WHITELIST
        demoted = router.wait_event("line_demoted", where=lambda e: e.get("line") == line)
        assert demoted["account"] == "esme1"
        with registry(router) as store:
            stored = store.get_line(line)
        assert stored is not None and stored.status == "demoted"
        assert stored.kind == "service" and stored.status_reason
        # now under the advertising rules: non-customers yes, the blacklist no
        assert session.status(line, "989121000064") == ROK
        assert session.status(line, blacklisted) == BLACKLISTED


# --- 8: refusals are recorded ----------------------------------------------------------


def test_refusal_recorded_in_journal(make_router: Callable[..., RouterProcess]) -> None:
    """requirements §2: every refusal is recorded with its reason."""
    router = make_router(lines=lines_config(
        {"number": SERVICE, "account": "esme1", "kind": "service"}))
    with esme(router) as session:
        seq = session.submit(SERVICE, STRANGER)
        session.pump(lambda: seq in session.responses)
        assert session.responses[seq].status == NOT_IN_WHITELIST
        recorded = wait_refusals(router, lambda entries: len(entries) >= 1)
    assert recorded == [("esme1", [seq, SERVICE, STRANGER, "not_in_whitelist"])]
