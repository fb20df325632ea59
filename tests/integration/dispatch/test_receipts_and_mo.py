"""Receipts and MO through a real router with a fake carrier that sends them byte for
byte (issue 12): an MO for an offline line owner waits in the journal across a
restart, opt-out keywords still apply, and a receipt that comes before its
submit_sm_resp still reaches the ESME, once."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import raw
from tests.carrier import FakeCarrier, mo, receipt
from tests.clients import Esme, bound
from tests.conftest import LINES, RouterProcess
from tests.inbox import queued_in_journal, restart, wait_for

ROK = 0
OPTED_OUT = 0x0405  # vendor status of an opted-out destination (model/status.py)


@pytest.fixture
def carrier() -> Iterator[FakeCarrier]:
    fake = FakeCarrier().start()
    yield fake
    fake.stop()


def fake_router(make_router: Callable[..., RouterProcess], carrier: FakeCarrier,
                **overrides: Any) -> RouterProcess:
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "fake", "port": carrier.port,
                                     "reconnect_min": 0.1, "reconnect_max": 0.3}],
                         **overrides)
    carrier.wait(lambda c: c.binds >= 1)
    return router


def mo_to_a_silent_owner(router: RouterProcess, carrier: FakeCarrier, subscriber: str,
                         text: bytes) -> socket.socket:
    """The line owner bound as a transceiver that reads the MO and never answers it."""
    silent = raw.bound(router)
    carrier.deliver(mo(subscriber, LINES["esme1"][0], text))
    assert raw.read_pdu(silent)[0] == 0x00000005  # the MO reached the session
    return silent


def replayed(router: RouterProcess) -> list[bytes]:
    """Start the stopped router again: what its queue hands the line owner."""
    restart(router)
    with bound(Esme(router.port), "receiver") as rx:
        rx.pump(lambda: len(rx.delivered) >= 1)
    return [pdu.short_message for pdu in rx.delivered]


def test_the_carrier_hears_rok_only_once_what_it_sent_is_stored(
        carrier: FakeCarrier, make_router: Callable[..., RouterProcess]) -> None:
    """A message acknowledged with ESME_ROK is never lost (the brief), a carrier's too:
    its deliver_sm is answered once the MO it carried is stored or taken.  Here the
    owner's session takes the MO and never answers it, so the MO is stored by the commit
    ``receipt_write_delay`` (1 s) later and only then does the carrier hear ESME_ROK; a
    kill -9 at once after that loses nothing.  (It used to be answered at once: a kill
    in that second lost the MO.)"""
    router = fake_router(make_router, carrier, dispatch={"receipt_write_delay": 1.0})
    sent = time.monotonic()
    silent = mo_to_a_silent_owner(router, carrier, "989121000079", b"kept across kill -9")
    carrier.wait(lambda c: len(c.deliver_resps) == 1)
    assert time.monotonic() - sent >= 0.9, "the carrier was answered before the store"
    assert set(carrier.deliver_resps.values()) == {ROK}
    router.kill()
    silent.close()
    assert replayed(router) == [b"kept across kill -9"]


def test_sigterm_answers_the_carrier_before_unbinding_it(
        carrier: FakeCarrier, make_router: Callable[..., RouterProcess]) -> None:
    """A clean stop stores what ESMEs had not taken yet and answers its carriers before
    unbinding them (else they would send it all again after the restart)."""
    router = fake_router(make_router, carrier, dispatch={"receipt_write_delay": 30.0})
    silent = mo_to_a_silent_owner(router, carrier, "989121000082", b"answered on stop")
    assert carrier.deliver_resps == {}  # it waits 30 s to be written
    assert router.stop() == 0
    assert set(carrier.deliver_resps.values()) == {ROK}
    silent.close()
    assert replayed(router) == [b"answered on stop"]


def test_with_nobody_bound_the_carrier_is_answered_after_the_next_commit(
        carrier: FakeCarrier, make_router: Callable[..., RouterProcess]) -> None:
    """No session to take it: waiting the write delay would save nothing, so the next
    commit stores the MO and the carrier is answered then; a kill -9 right after the
    answer loses nothing."""
    router = fake_router(make_router, carrier, dispatch={"receipt_write_delay": 5.0})
    sent = time.monotonic()
    carrier.deliver(mo("989121000081", LINES["esme1"][0], b"stored at once"))
    carrier.wait(lambda c: len(c.deliver_resps) == 1)
    assert time.monotonic() - sent < 4.0, "the carrier waited for the write delay"
    router.kill()
    assert replayed(router) == [b"stored at once"]


def test_with_the_owner_bound_the_carrier_is_answered_when_the_esme_took_it(
        carrier: FakeCarrier, make_router: Callable[..., RouterProcess]) -> None:
    """The usual case costs no write: the ESME answers the MO's deliver_sm ESME_ROK long
    before ``receipt_write_delay``, and that answer is what releases the carrier's."""
    router = fake_router(make_router, carrier, dispatch={"receipt_write_delay": 5.0})
    line, subscriber = LINES["esme1"][0], "989121000080"
    with bound(Esme(router.port), "receiver") as rx:
        sent = time.monotonic()
        carrier.deliver(mo(subscriber, line, b"taken at once"))
        rx.pump(lambda: len(rx.delivered) >= 1)
        carrier.wait(lambda c: len(c.deliver_resps) == 1)
        assert time.monotonic() - sent < 4.0, "the carrier waited for the write delay"
    assert set(carrier.deliver_resps.values()) == {ROK}


def test_mo_for_an_offline_owner_survives_a_restart_and_opt_out_still_applies(
        carrier: FakeCarrier, make_router: Callable[..., RouterProcess]) -> None:
    """requirements §2 (opt-out by MO) and issue 12 item 4: an MO to a line goes to the
    line owner's RX session; while the owner is offline it waits in the journal, and a
    restart loses none; the opt-out keyword takes effect at once all the same."""
    router = fake_router(make_router, carrier)
    line, subscriber = LINES["esme1"][0], "989121000077"
    carrier.deliver(mo(subscriber, line, b"hello line"))
    carrier.deliver(mo(subscriber, line, b"11"))  # opt-out keyword
    carrier.wait(lambda c: len(c.deliver_resps) == 2)
    assert set(carrier.deliver_resps.values()) == {ROK}
    assert wait_for(lambda: len(queued_in_journal(router)) == 2, 10)
    router.wait_event("optout", where=lambda e: e.get("line") == line)
    assert router.stop() == 0
    restart(router)
    carrier.wait(lambda c: c.binds >= 2)
    with bound(Esme(router.port), "receiver") as rx:
        rx.pump(lambda: len(rx.delivered) >= 2)
        rx.idle(0.3)
    assert [pdu.short_message for pdu in rx.delivered] == [b"hello line", b"11"]
    assert all(pdu.esm_class == 0 and pdu.source_addr == subscriber.encode()
               for pdu in rx.delivered)
    assert wait_for(lambda: queued_in_journal(router) == [], 5)
    with bound(Esme(router.port), "transmitter") as tx:
        seq = tx.send(line, subscriber, b"after opt-out")
        tx.pump(lambda: seq in tx.responses)
        assert tx.responses[seq].status == OPTED_OUT


def test_receipt_before_its_submit_sm_resp_reaches_the_esme_once(
        carrier: FakeCarrier, make_router: Callable[..., RouterProcess]) -> None:
    """issue 12: a receipt arriving before its submit_sm_resp is handled (held, matched
    when the response comes), and the carrier repeating it is dropped."""
    router = fake_router(make_router, carrier)
    line = LINES["esme1"][0]
    # the fake carrier answers the n-th submit with id hex(n): the first gets "1"
    carrier.deliver(receipt("1", "989121000078", line))
    carrier.wait(lambda c: len(c.deliver_resps) == 1)
    with bound(Esme(router.port), "transceiver") as trx:
        seq = trx.send(line, "989121000078", b"early receipt", registered_delivery=1)
        trx.pump(lambda: seq in trx.responses and len(trx.delivered) >= 1)
        our_id = trx.responses[seq].message_id
        assert trx.delivered[0].receipted_message_id == our_id
        carrier.deliver(receipt("0001", "989121000078", line))  # a repeat, other form
        carrier.wait(lambda c: len(c.deliver_resps) == 2)
        trx.idle(0.5)
    assert len(trx.delivered) == 1
    assert router.wait_event("receipt_duplicate_dropped")["total"] == 1


def test_per_message_account_gets_one_receipt_for_a_long_message(
        make_router: Callable[..., RouterProcess], password_hash: str) -> None:
    """issue 12: ``receipts: per_message``: a three-part message (UDH) sent by smpplib,
    a receipt per part from the carrier (the simulator), one receipt at the ESME with
    part 1's id; ``per_part`` (esme2) keeps one per part."""
    accounts = [{"system_id": name, "password_hash": password_hash,
                 "allowed_ips": ["127.0.0.0/8", "::1"], "domestic_exempt": True,
                 "status_style": "vendor", "receipts": policy}
                for name, policy in (("esme1", "per_message"), ("esme2", "per_part"))]
    router = make_router(accounts=accounts)
    for system_id, line, want in (("esme1", LINES["esme1"][0], 1),
                                  ("esme2", LINES["esme2"][0], 3)):
        with bound(Esme(router.port), "transceiver", system_id) as trx:
            seqs = [trx.send(line, "989121000079",
                             bytes([5, 0, 3, 0x2A, 3, n]) + b"part %d" % n,
                             esm_class=0x40, registered_delivery=1) for n in (1, 2, 3)]
            trx.pump(lambda s=trx, q=seqs: all(x in s.responses for x in q))
            ids = [trx.responses[s].message_id for s in seqs]
            trx.pump(lambda s=trx, n=want: len(s.delivered) >= n)
            trx.idle(0.5)
        got = sorted(pdu.receipted_message_id for pdu in trx.delivered)
        assert got == (ids[:1] if want == 1 else sorted(ids)), system_id
