"""One bad PDU costs one error answer, never the connection (issue 9, D1).

``str.isdigit()`` is true for characters ``int()`` refuses ('²' U+00B2, which an SMPP
C-octet string decoded as Latin-1 can carry).  Parsing such an address or receipt id used
to raise out of ``data_received``: asyncio logged "Fatal error on transport" and closed
the connection with everything on it unanswered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests import clients
from tests.carrier import FakeCarrier, mo, receipt
from tests.clients import ESME_ROK
from tests.conftest import RouterProcess
from tests.raw import bound, no_crash_in_log, pdu, read_pdu, submit_body

RINVSRCADR, RINVDSTADR = 0x0A, 0x0B


def test_bad_digits_in_one_write_cost_one_answer_each(router: RouterProcess) -> None:
    """A valid submit and submits whose addresses hold '²' in the same write: each gets
    exactly one answer (ROK; ESME_RINVDSTADR / ESME_RINVSRCADR), and the session goes on.
    Before the fix the canonical fast path called int('9891²0000000') and the whole write,
    the valid submit included, went unanswered as the connection died."""
    s = bound(router)
    s.sendall(pdu(0x04, 2, submit_body())
              + pdu(0x04, 3, submit_body(destination=b"9891\xb20000000"))  # canonical length
              + pdu(0x04, 4, submit_body(destination=b"0912\xb2234567", dest_ton=0))
              + pdu(0x04, 5, submit_body(source=b"10\xb200"))
              + pdu(0x04, 6, submit_body(destination=b"98912123456\xb9")))
    answers = {seq: status for command_id, status, seq, _ in (read_pdu(s) for _ in range(5))
               if command_id == 0x80000004}
    assert answers == {2: ESME_ROK, 3: RINVDSTADR, 4: RINVDSTADR, 5: RINVSRCADR,
                       6: RINVDSTADR}
    s.sendall(pdu(0x04, 7, submit_body()))  # the same connection: the next answer is 7's
    assert read_pdu(s)[:3] == (0x80000004, ESME_ROK, 7)
    s.close()
    no_crash_in_log(router)


@pytest.fixture
def carrier() -> Iterator[FakeCarrier]:
    fake = FakeCarrier(message_id=lambda n: f"{0xA000 + n:x}").start()
    yield fake
    fake.stop()


@pytest.fixture
def esme() -> Iterator[Callable[[int], clients.Esme]]:
    opened: list[clients.Esme] = []

    def make(port: int) -> clients.Esme:
        session = clients.Esme(port)
        assert session.bind("transceiver", "esme1").status == ESME_ROK
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


def test_bad_receipt_and_mo_from_carrier_keep_the_connector_up(
        make_router: Callable[..., RouterProcess], carrier: FakeCarrier,
        esme: Callable[[int], clients.Esme]) -> None:
    """A carrier sends a receipt with id '1²3' and an opt-out MO ("11") from
    '9891²0000000', then a good receipt.  Each is answered deliver_sm_resp ROK, the one
    carrier connection stays up (1 bind: the router never reconnected), the message was
    submitted once, and the good receipt and the MO reach the ESME.  Before the fix both
    bad PDUs raised out of data_received and the connector reconnected after each."""
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "fake", "port": carrier.port,
                                     "reconnect_min": 0.1, "reconnect_max": 0.5}])
    router.wait_event("upstream_bound")
    session = esme(router.port)
    seq = session.send("1000", "989121234567", b"hello", registered_delivery=1)
    session.pump(lambda: seq in session.responses)
    our_id = session.responses[seq].message_id.decode()
    carrier.wait(lambda c: len(c.submits) == 1)
    carrier_id = carrier.submits[0][1]

    sent = [carrier.deliver(receipt("1\xb23", "989121234567", "1000")),
            carrier.deliver(mo("9891\xb20000000", "1000", b"11")),
            carrier.deliver(receipt(carrier_id, "989121234567", "1000"))]
    carrier.wait(lambda c: all(s in c.deliver_resps for s in sent))
    assert [carrier.deliver_resps[s] for s in sent] == [0, 0, 0]

    session.pump(lambda: len(session.delivered) >= 2)
    receipts = [p for p in session.delivered if p.esm_class & 0x3C]
    mos = [p for p in session.delivered if not p.esm_class & 0x3C]
    assert [p.receipted_message_id.decode() for p in receipts] == [our_id]
    assert [p.source_addr for p in mos] == [b"9891\xb20000000"]
    assert (carrier.binds, carrier.connections_made, carrier.open_connections) == (1, 1, 1)
    assert len(carrier.submits) == 1, "the message was sent to the carrier again"
    router.wait_event("receipt_unmatched", where=lambda e: e.get("carrier_id") == "1\xb23")
    router.wait_event("mo_optout_bad_sender")
    assert not [e for e in router.events() if e.get("event") == "upstream_disconnected"]
    no_crash_in_log(router)


@pytest.mark.parametrize(("resp_id", "receipt_id"), [
    (lambda n: f"{0xA1B2C3D4 + n:x}", lambda hex_id: str(int(hex_id, 16))),  # hex -> dec
    (lambda n: str(4_000_000_000 + n), lambda dec_id: f"{int(dec_id):X}"),  # dec -> HEX
    (lambda n: f"{0xBEEF + n:08x}", lambda hex_id: hex_id.lstrip("0").upper()),  # case, zeros
], ids=["hex-resp-decimal-receipt", "decimal-resp-hex-receipt", "zeros-and-case"])
def test_receipt_id_in_another_base_than_the_submit_sm_resp(
        make_router: Callable[..., RouterProcess], carrier: FakeCarrier,
        esme: Callable[[int], clients.Esme],
        resp_id: Callable[[int], str], receipt_id: Callable[[str], str]) -> None:
    """Carriers give an id in hex in submit_sm_resp and in decimal in the receipt (or the
    reverse, or with other case and zeros).  Each receipt must still reach the ESME with
    the id the ESME got in its submit_sm_resp, in the text and in receipted_message_id,
    and none may be left unmatched.  The carrier here is not Chapar's simulator, whose
    receipts are written by the module that parses them."""
    carrier.message_id = resp_id
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "fake", "port": carrier.port,
                                     "reconnect_min": 0.1}])
    router.wait_event("upstream_bound")
    session = esme(router.port)
    seqs = [session.send("1000", f"98912123{i:04d}", b"hi", registered_delivery=1)
            for i in range(5)]
    session.pump(lambda: all(s in session.responses for s in seqs))
    ours = {f"98912123{i:04d}": session.responses[s].message_id.decode()
            for i, s in enumerate(seqs)}
    carrier.wait(lambda c: len(c.submits) == 5)
    for sm, carrier_id in carrier.submits:
        carrier.deliver(receipt(receipt_id(carrier_id), sm.destination_addr, sm.source_addr,
                                tlv_id=sm.destination_addr.endswith(("0", "2", "4"))))
    session.pump(lambda: len(session.delivered) >= 5)
    got = {p.source_addr.decode(): p for p in session.delivered}
    assert {dst: p.receipted_message_id.decode() for dst, p in got.items()} == ours
    for dst, p in got.items():
        assert f"id:{ours[dst]} " in p.short_message.decode("latin-1")
    assert not [e for e in router.events() if e.get("event") == "receipt_unmatched"]
