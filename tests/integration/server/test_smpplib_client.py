"""python-smpplib 2.2.4 as the ESME, over real TCP, against a real ``chapar run``.

smpplib has no window and raises PDUError on any non-zero status unless an error
handler is set (domain.md §e), so the helper below records every PDU instead, reads
only when the socket is readable, and bounds every wait in time.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
from conftest import LINES, PASSWORD, RouterProcess

ESME_ROK = 0x00
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RBINDFAIL = 0x0D

RECEIPT_DATES = re.compile(r"(submit date|done date):(\S*)")


class Esme:
    """One smpplib session that keeps every submit_sm_resp and deliver_sm it reads."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.client = smpplib.client.Client("127.0.0.1", port, timeout=timeout,
                                            allow_unknown_opt_params=True)
        self.responses: dict[int, Any] = {}  # sequence -> submit_sm_resp
        self.delivered: list[Any] = []
        self.client.set_message_sent_handler(self._on_sent)
        self.client.set_message_received_handler(self._on_deliver)
        self.client.set_error_pdu_handler(lambda pdu: None)  # keep going, status is checked

    def _on_sent(self, pdu: Any, **_: Any) -> None:
        self.responses[pdu.sequence] = pdu

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        self.delivered.append(pdu)
        return ESME_ROK

    def bind(self, kind: str, system_id: str = "esme1", password: str = PASSWORD) -> Any:
        self.source = LINES[system_id][0]
        self.client.connect()
        return getattr(self.client, f"bind_{kind}")(system_id=system_id, password=password)

    def submit(self, destination: str, text: bytes, registered_delivery: int = 0,
               data_coding: int = 0, esm_class: int = 0) -> int:
        pdu = self.client.send_message(
            source_addr_ton=1, source_addr_npi=1, source_addr=self.source,
            dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination,
            short_message=text, data_coding=data_coding, esm_class=esm_class,
            registered_delivery=registered_delivery)
        seq: int = pdu.sequence
        return seq

    def pump(self, until: Callable[[], bool], timeout: float = 10.0) -> None:
        """Read PDUs until ``until()`` holds; fail after ``timeout`` seconds."""
        sock = self.client._socket
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out: {len(self.responses)} responses, "
                    f"{len(self.delivered)} deliver_sm")
            readable, _, _ = select.select([sock], [], [], min(left, 0.5))
            if readable:
                self.client.read_once(auto_send_enquire_link=False)

    def idle(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds`` (for checks that nothing came)."""
        end = time.monotonic() + seconds
        self.pump(lambda: time.monotonic() >= end, timeout=seconds + 1.0)

    def close(self) -> None:
        if self.client._socket is None:
            return
        try:
            if self.client.state in (smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
                                     smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
                                     smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX):
                self.client.unbind()
        except (smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError, OSError):
            pass
        self.client.disconnect()


@contextmanager
def esme(port: int, kind: str = "transceiver", system_id: str = "esme1"
         ) -> Iterator[Esme]:
    session = Esme(port)
    try:
        resp = session.bind(kind, system_id)
        assert resp.status == ESME_ROK
        yield session
    finally:
        session.close()


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


def test_submit_then_receipt_with_same_id(router: RouterProcess) -> None:
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


def test_long_ucs2_persian_message(router: RouterProcess) -> None:
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


def test_ids_unique_across_500_messages(router: RouterProcess) -> None:
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


def test_unsupported_query_sm_is_answered_not_fatal(router: RouterProcess) -> None:
    """query_sm is decoded but not served: a failure status, and the session lives on."""
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
        assert answers[0].status != ESME_ROK
        seq = session.submit("989120000005", b"still alive")
        session.pump(lambda: seq in session.responses)
        assert session.responses[seq].status == ESME_ROK

