"""python-smpplib 2.2.4 as the ESME, over real TCP, against a real ``chapar run``.

smpplib has no window and raises PDUError on any non-zero status unless an error
handler is set (domain.md §e), so the session helper (tests/clients.py) records every
PDU instead, reads only when the socket is readable, and bounds every wait in time.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from tests import clients
from tests.clients import ESME_ROK
from tests.conftest import LINES, PASSWORD, RouterProcess

ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RBINDFAIL = 0x0D

RECEIPT_DATES = re.compile(r"(submit date|done date):(\S*)")


class Esme(clients.Esme):
    """A session that submits from its account's first line."""

    def bind(self, kind: str = "transceiver", system_id: str = "esme1",
             password: str = PASSWORD) -> Any:
        self.source = LINES[system_id][0]
        return super().bind(kind, system_id, password)

    def submit(self, destination: str, text: bytes, registered_delivery: int = 0,
               data_coding: int = 0, esm_class: int = 0) -> int:
        return self.send(self.source, destination, text, data_coding=data_coding,
                         esm_class=esm_class, registered_delivery=registered_delivery)


def esme(port: int, kind: str = "transceiver", system_id: str = "esme1"
         ) -> AbstractContextManager[Esme]:
    return clients.bound(Esme(port), kind, system_id)


def receipt_fields(pdu: Any) -> dict[str, str]:
    text = pdu.short_message.decode("latin-1")
    fields = dict(re.findall(r"(id|sub|dlvrd|stat|err):(\S*)", text))
    fields.update(RECEIPT_DATES.findall(text))
    return fields


def assert_receipt_for(pdu: Any, message_id: str) -> None:
    assert pdu.esm_class & 0x3C == 0x04, f"not a delivery receipt: esm_class={pdu.esm_class:#x}"
    fields = receipt_fields(pdu)
    assert fields["id"] == message_id
    assert pdu.receipted_message_id.decode() == message_id
    for key in ("submit date", "done date"):
        assert re.fullmatch(r"\d{10}", fields[key]), f"{key} not 10 digits: {fields[key]!r}"


def refused_bind(port: int, kind: str, system_id: str, password: str) -> tuple[int, bytes]:
    """Bind with bad credentials; return the status and what the socket reads next."""
    session = Esme(port)
    session.client.connect()
    with pytest.raises(smpplib.exceptions.PDUError) as info:
        getattr(session.client, f"bind_{kind}")(system_id=system_id, password=password)
    sock = session.client._socket
    sock.settimeout(3.0)
    try:
        rest = sock.recv(64)  # b"" once the server has closed its end
    except TimeoutError:
        rest = b"<still open>"
    finally:
        session.client.disconnect()
    status: int = info.value.args[1]
    return status, rest


# --- binds ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transceiver", "transmitter", "receiver"])
def test_bind_each_type(router: RouterProcess, kind: str) -> None:
    session = Esme(router.port)
    try:
        resp = session.bind(kind)
        assert resp.status == ESME_ROK
        assert resp.command == f"bind_{kind}_resp"
        assert resp.system_id == b"chapar"
    finally:
        session.close()
    event = router.wait_event("bind", where=lambda e: e.get("outcome") == "accepted")
    assert event["system_id"] == "esme1"
    assert event["bind_type"] == {"transceiver": "trx", "transmitter": "tx",
                                  "receiver": "rx"}[kind]


def test_wrong_password_is_bindfail_and_closed(router: RouterProcess) -> None:
    status, rest = refused_bind(router.port, "transceiver", "esme1", "wrongpw1")
    assert status == ESME_RBINDFAIL
    assert rest == b"", "server kept the socket open after a refused bind"
    event = router.wait_event("bind", where=lambda e: e.get("outcome") == "refused")
    assert event["reason"] == "wrong password"
    assert "wrongpw1" not in router.log_text()


def test_unknown_system_id_is_bindfail(router: RouterProcess) -> None:
    status, rest = refused_bind(router.port, "transmitter", "nobody", PASSWORD)
    assert status == ESME_RBINDFAIL
    assert rest == b""


def test_distinct_bind_failures_when_configured(
        make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(auth={"uniform_bind_failure": False})
    status, rest = refused_bind(router.port, "transceiver", "esme1", "wrongpw1")
    assert status == ESME_RINVPASWD
    assert rest == b""
    status, rest = refused_bind(router.port, "receiver", "nobody", PASSWORD)
    assert status == ESME_RINVSYSID
    assert rest == b""


# --- submit and receipts -------------------------------------------------------------


def test_submit_then_receipt_with_same_id(router_each_store: RouterProcess) -> None:
    router = router_each_store
    with esme(router.port) as session:
        seq = session.submit("989120000001", b"hello chapar", registered_delivery=1)
        session.pump(lambda: seq in session.responses)
        resp = session.responses[seq]
        assert resp.status == ESME_ROK
        message_id = resp.message_id.decode()
        assert 0 < len(message_id) <= 16
        session.pump(lambda: len(session.delivered) >= 1)
        receipt = session.delivered[0]
        assert_receipt_for(receipt, message_id)
        assert receipt_fields(receipt)["stat"] == "DELIVRD"
        # receipt addresses are the submit's, swapped
        assert receipt.source_addr == b"989120000001"
        assert receipt.destination_addr == b"98100"
        session.idle(0.3)
        assert len(session.delivered) == 1, "more than one receipt for one message"


def test_long_ucs2_persian_message(router_each_store: RouterProcess) -> None:
    router = router_each_store
    text = "سلام، این یک پیام طولانی آزمایشی از چاپار است. " * 5
    parts, encoding, esm_class = smpplib.gsm.make_parts(text)
    assert encoding == smpplib.consts.SMPP_ENCODING_ISO10646
    assert esm_class & 0x40 and len(parts) >= 3
    with esme(router.port) as session:
        seqs = [session.submit("989120000002", part, registered_delivery=1,
                               data_coding=encoding, esm_class=esm_class) for part in parts]
        session.pump(lambda: all(s in session.responses for s in seqs))
        statuses = [session.responses[s].status for s in seqs]
        assert statuses == [ESME_ROK] * len(parts)
        ids = [session.responses[s].message_id.decode() for s in seqs]
        assert len(set(ids)) == len(parts), f"part ids not distinct: {ids}"
        assert all(0 < len(i) <= 16 for i in ids)
        session.pump(lambda: len(session.delivered) >= len(parts))
        by_id = {p.receipted_message_id.decode(): p for p in session.delivered}
        assert set(by_id) == set(ids)
        for message_id, receipt in by_id.items():
            assert_receipt_for(receipt, message_id)


def test_receipt_for_tx_submit_arrives_on_rx_session(router: RouterProcess) -> None:
    with esme(router.port, "receiver") as rx, esme(router.port, "transmitter") as tx:
        seq = tx.submit("989120000003", b"tx then rx", registered_delivery=1)
        tx.pump(lambda: seq in tx.responses)
        assert tx.responses[seq].status == ESME_ROK
        message_id = tx.responses[seq].message_id.decode()
        rx.pump(lambda: len(rx.delivered) >= 1)
        assert_receipt_for(rx.delivered[0], message_id)
        tx.idle(0.2)
        assert tx.delivered == []


def test_receipt_waits_for_a_receiver_to_bind(router: RouterProcess) -> None:
    """Submitted on TX with no receiver bound: the receipt is kept and relayed later."""
    with esme(router.port, "transmitter") as tx:
        seq = tx.submit("989120000004", b"later", registered_delivery=1)
        tx.pump(lambda: seq in tx.responses)
        message_id = tx.responses[seq].message_id.decode()
        time.sleep(0.3)  # the simulator's receipt (0.05 s) reaches the router meanwhile
        with esme(router.port, "receiver") as rx:
            rx.pump(lambda: len(rx.delivered) >= 1)
            assert_receipt_for(rx.delivered[0], message_id)


def test_ids_unique_across_500_messages(router_each_store: RouterProcess) -> None:
    router = router_each_store
    with esme(router.port, system_id="esme1") as one, \
            esme(router.port, "transmitter", system_id="esme2") as two:
        ids: list[str] = []
        for chunk in range(10):  # 10 x 50, alternating sessions, pipelined per chunk
            session = one if chunk % 2 == 0 else two
            seqs = [session.submit(f"98912{chunk:02d}{i:05d}", f"m{chunk}-{i}".encode())
                    for i in range(50)]
            session.pump(lambda s=session, q=seqs: all(x in s.responses for x in q))
            for s in seqs:
                resp = session.responses[s]
                assert resp.status == ESME_ROK
                ids.append(resp.message_id.decode())
        assert len(ids) == 500
        assert len(set(ids)) == 500, "duplicate message ids"
        assert all(0 < len(i) <= 16 for i in ids)


def test_query_sm_of_an_unknown_id_is_answered_not_fatal(router: RouterProcess) -> None:
    """query_sm of an id Chapar never gave: a failure status (ESME_RINVMSGID), and the
    session lives on (tests/integration/server/test_operations.py has the rest)."""
    with esme(router.port) as session:
        answers: list[Any] = []
        session.client.set_query_resp_handler(answers.append)
        session.client.query_message(message_id="abc", source_addr_ton=1,
                                     source_addr_npi=1, source_addr="98100")
        sock = session.client._socket
        deadline = time.monotonic() + 5
        while not answers and time.monotonic() < deadline:
            if select.select([sock], [], [], 0.5)[0]:
                session.client.read_once(auto_send_enquire_link=False)
        assert answers, "no query_sm_resp"
        assert answers[0].status == 0x0C
        seq = session.submit("989120000005", b"still alive")
        session.pump(lambda: seq in session.responses)
        assert session.responses[seq].status == ESME_ROK

