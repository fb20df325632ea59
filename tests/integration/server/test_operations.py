"""The rest of SMPP (issue 12 item 5) end to end: a real ``chapar run``, real TCP, smpplib
where it has the command (bind at 5.0, query_sm, data_sm), exact bytes otherwise
(cancel_sm, replace_sm, submit_multi: smpplib and aiosmpplib have none of them).

Messages are kept waiting for a carrier by pointing the router at a port where nothing
listens; the C sink is started there later and records what reached it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import smpplib.consts
import smpplib.smpp

from tests.clients import Esme, bound
from tests.conftest import PASSWORD, RouterProcess, Sink, free_port
from tests.integration.policy.test_throttle_policy import chapar_set
from tests.raw import (
    bind_body,
    call,
    cancel_body,
    connect,
    data_body,
    multi_body,
    pdu,
    query_body,
    read_pdu,
    replace_body,
    submit_body,
    tlv,
)
from tests.raw import bound as raw_bound

ROK, RINVMSGID, RCANCELFAIL, RREPLACEFAIL = 0x00, 0x0C, 0x11, 0x13
ENROUTE, DELIVERED, DELETED, REJECTED = 1, 2, 4, 8
QUERY, CANCEL, REPLACE, MULTI, DATA, SUBMIT = 0x03, 0x08, 0x07, 0x21, 0x103, 0x04


def submit(s: Any, seq: int, text: bytes, destination: str = "989121234567",
           tlvs: bytes = b"", registered_delivery: int = 0) -> tuple[str, bytes]:
    """One submit_sm on a raw session: (our id, the whole answer body)."""
    status, body = call(s, SUBMIT, seq, submit_body(text, destination=destination, tlvs=tlvs,
                                                    registered_delivery=registered_delivery))
    assert status == ROK
    return body[:body.index(0)].decode(), body


def query(s: Any, seq: int, message_id: str) -> tuple[int, int, str, int]:
    """(status, message_state, final_date, error_code) of a raw query_sm."""
    status, body = call(s, QUERY, seq, query_body(message_id))
    if status:
        return status, 0, "", 0
    rest = body[body.index(0) + 1:]
    end = rest.index(0)
    return status, rest[end + 1], rest[:end].decode(), rest[end + 2]


def texts(sink: Sink) -> list[bytes]:
    return [bytes.fromhex(r["short_message"]) or bytes.fromhex(r["tlvs"])
            for r in sink.records()]


def wait_texts(sink: Sink, want: set[bytes], timeout: float = 20.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    seen = texts(sink)
    while not want <= set(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = texts(sink)
    assert want <= set(seen), seen
    return seen


def down_router(make_router: Callable[..., RouterProcess]) -> tuple[RouterProcess, int]:
    """A router whose only carrier is down: accepted messages wait in its queue."""
    port = free_port()
    router = make_router(simulator={"enabled": False}, upstreams=[
        {"name": "late", "port": port, "reconnect_min": 0.1, "reconnect_max": 0.3}])
    router.wait_event("upstream_connect_failed")
    return router, port


# --- SMPP 5.0 binds -----------------------------------------------------------------


def test_v5_bind_gets_congestion_state_and_a_34_bind_never(router: RouterProcess) -> None:
    """issue 11 item 1, issue 12 item 5: a bind at interface_version 0x50 is answered
    with sc_interface_version 0x50 and its submit_sm_resp carry congestion_state
    (0x0428, one octet 0-100); a 3.4 bind gets 0x34 and bare ids, nothing of 5.0."""
    for version, resp_version in ((0x50, 0x50), (0x34, 0x34)):
        s = connect(router)
        s.sendall(pdu(0x09, 1, bind_body(version=version)))
        command_id, status, _, body = read_pdu(s)
        assert (command_id, status) == (0x80000009, ROK)
        assert body[body.index(0) + 1:] == tlv(0x0210, bytes([resp_version]))
        _, answer = submit(s, 2, b"hello")
        tail = answer[answer.index(0) + 1:]
        if version == 0x50:
            tag, length = struct.unpack(">HH", tail[:4])
            assert (tag, length, len(tail)) == (0x0428, 1, 5)
            assert 0 <= tail[4] <= 100
        else:
            assert tail == b""
        s.close()


def test_congestion_state_follows_the_throttle_bucket(
        make_router: Callable[..., RouterProcess]) -> None:
    """issue 11 item 1: congestion_state is 0-100 from the bucket fill: with a burst of
    10 and (almost) no refill, each submit spends a tenth: 10, 20 … 100, then 0x58."""
    router = make_router(policy={"stages": ["lines", "throttle"]})
    chapar_set(router, "accounts", "set", "esme1", "--rate", "0.001", "--burst", "10")
    s = raw_bound(router, version=0x50)
    levels = []
    for seq in range(2, 12):
        _, answer = submit(s, seq, b"x")
        levels.append(answer[-1])
    assert levels == list(range(10, 101, 10))
    assert call(s, SUBMIT, 20, submit_body(b"x")) == (0x58, b"")


def test_smpplib_binds_at_v5_and_relays_billing_identification(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """node-smpp binds at 0x50 by default: smpplib with interface_version 0x50 binds,
    submits with billing_identification (0x060B) and gets ESME_ROK; the carrier gets
    the TLV exactly as sent."""
    sink = make_sink(record=True)
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port}])
    router.wait_event("upstream_bound")
    esme = Esme(router.port)
    try:
        esme.client.connect()
        bind = smpplib.smpp.make_pdu("bind_transmitter", client=esme.client,
                                     system_id="esme1", password=PASSWORD)
        bind.interface_version = 0x50
        esme.client.send_pdu(bind)
        resp = esme.client.read_pdu()
        assert (resp.status, resp.sc_interface_version) == (ROK, 0x50)
        esme.client.state = smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX
        s = raw_bound(router, version=0x50)  # smpplib cannot add a TLV it does not know
        billing = tlv(0x060B, b"\x01cost-centre-7")
        submit(s, 2, b"billed", tlvs=billing)
        seq = esme.send("1000", "989121234567", b"plain")
        esme.pump(lambda: seq in esme.responses)
        assert esme.responses[seq].status == ROK
        wait_texts(sink, {b"billed", b"plain"})
        billed = [r for r in sink.records() if bytes.fromhex(r["short_message"]) == b"billed"]
        assert billed[0]["tlvs"] == billing.hex()
    finally:
        esme.close()


# --- query_sm -----------------------------------------------------------------------


def test_query_sm_with_smpplib(router_each_store: RouterProcess) -> None:
    """query_sm is answered from Chapar's state: once the carrier's receipt is in, the
    message is DELIVERED (2) with its final date (ENROUTE before: see the cancel test);
    an id of another account, or one never given, is ESME_RINVMSGID; the session goes
    on.  On both store backends: a message no longer queued is read from the journal."""
    router = router_each_store
    answers: list[Any] = []
    with bound(Esme(router.port)) as esme, bound(Esme(router.port), system_id="esme2") as other:
        for session in (esme, other):
            session.client.set_query_resp_handler(answers.append)
        seq = esme.send("1000", "989121234567", b"to query", registered_delivery=1)
        esme.pump(lambda: seq in esme.responses and bool(esme.delivered))
        our_id = esme.responses[seq].message_id.decode()

        def ask(session: Esme, message_id: str) -> Any:
            before = len(answers)
            session.client.query_message(message_id=message_id, source_addr_ton=1,
                                         source_addr_npi=1, source_addr="1000")
            session.pump(lambda: len(answers) > before)
            return answers[-1]

        deadline = time.monotonic() + 10
        mine = ask(esme, our_id)
        while mine.message_state == ENROUTE and time.monotonic() < deadline:
            time.sleep(0.2)  # the receipt's journal row rides a later commit
            mine = ask(esme, our_id)
        assert (mine.status, mine.message_state) == (ROK, DELIVERED)
        assert mine.message_id.decode() == our_id and len(mine.final_date) == 16
        assert [(a.status, a.message_state) for a in (ask(other, our_id),
                                                       ask(esme, "ffffffffff"))] == [
            (RINVMSGID, None), (RINVMSGID, None)]


def test_query_sm_of_a_message_the_carrier_refused(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        store_backend: dict[str, Any]) -> None:
    """A carrier's final refusal is REJECTED (8) with its final date (16 characters,
    SMPP absolute time) and the carrier status's low octet as error_code (both store
    backends: the outcome is read from the journal)."""
    sink = make_sink("--error-rate", "1", "--error-status", "0x45")
    router = make_router(simulator={"enabled": False}, store=store_backend,
                         upstreams=[{"name": "sink", "port": sink.port}])
    router.wait_event("upstream_bound")
    s = raw_bound(router)
    our_id, _ = submit(s, 2, b"refused")
    deadline = time.monotonic() + 10
    answer = query(s, 3, our_id)
    while answer[1] == ENROUTE and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = query(s, 4, our_id)
    status, state, final_date, error = answer
    assert (status, state, error) == (ROK, REJECTED, 0x45)
    assert len(final_date) == 16 and final_date.endswith("000+")


# --- cancel_sm ----------------------------------------------------------------------


def test_cancel_sm_while_queued_never_sends(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """cancel_sm works only while the message still waits for a carrier: then it never
    goes out and ends DELETED (4); by id, or (no id) every waiting message from a
    source to a destination.  Another account's id is ESME_RINVMSGID; a message already
    sent is ESME_RCANCELFAIL.  A cancelled message that asked for a receipt gets one,
    stat:DELETED, after the cancel_sm_resp."""
    router, port = down_router(make_router)
    s = raw_bound(router)
    first, _ = submit(s, 2, b"cancel me", registered_delivery=1)
    kept, _ = submit(s, 3, b"keep me")
    submit(s, 4, b"cancel by address", destination="989120000077")
    s.sendall(pdu(CANCEL, 5, cancel_body(first)))
    got = {command_id: (status, seq, body)
           for command_id, status, seq, body in (read_pdu(s), read_pdu(s))}
    assert got[0x80000008][:2] == (ROK, 5)
    _, deliver_seq, receipt = got[0x00000005]  # its one final receipt (in either order)
    assert b"stat:DELETED" in receipt and f"id:{first} ".encode() in receipt
    s.sendall(pdu(0x80000005, deliver_seq, b"\0"))
    assert query(s, 6, first)[:2] == (ROK, DELETED)
    assert call(s, CANCEL, 7, cancel_body(first))[0] == RCANCELFAIL  # not waiting now
    other = raw_bound(router, "esme2")
    assert call(other, CANCEL, 2, cancel_body(kept, source="98200"))[0] == RINVMSGID
    assert call(s, CANCEL, 8, cancel_body("", destination="989120000077"))[0] == ROK
    assert call(s, CANCEL, 9, cancel_body("", destination="989120000077"))[0] == RCANCELFAIL
    sink = make_sink("--port", str(port), record=True)
    seen = wait_texts(sink, {b"keep me"})
    time.sleep(1.0)  # anything else would have come with it
    assert texts(sink) == seen == [b"keep me"]
    assert call(s, CANCEL, 10, cancel_body(kept))[0] == RCANCELFAIL
    assert query(s, 11, kept)[:2] == (ROK, ENROUTE)


# --- replace_sm ---------------------------------------------------------------------


def test_replace_sm_while_queued_and_after_a_restart(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """replace_sm changes a message still waiting: the carrier gets the new text, also
    when the router was killed after answering (the new body is journalled before
    ESME_ROK).  A text needing more segments than were accepted, another account's
    id, and a message already sent are refused."""
    router, port = down_router(make_router)
    s = raw_bound(router)
    our_id, _ = submit(s, 2, b"before")
    assert call(s, REPLACE, 3, replace_body(our_id, b"after"))[0] == ROK
    assert call(s, REPLACE, 4, replace_body(our_id, b"x" * 200))[0] == RREPLACEFAIL
    other = raw_bound(router, "esme2")
    assert call(other, REPLACE, 2, replace_body(our_id, b"theirs", source="98200"))[0] \
        == RINVMSGID
    s.close()
    router.kill()
    again = RouterProcess(router.workdir, router.config).start()
    sink = make_sink("--port", str(port), record=True)
    assert wait_texts(sink, {b"after"}) == [b"after"]
    s = raw_bound(again)
    assert call(s, REPLACE, 2, replace_body(our_id, b"too late"))[0] == RREPLACEFAIL
    again.stop()


# --- data_sm, submit_multi ----------------------------------------------------------


def test_data_sm_with_smpplib_takes_the_submit_path(router: RouterProcess) -> None:
    """data_sm (message_payload) is a message like a submit_sm: journalled, ESME_ROK in
    data_sm_resp with our id, relayed, and its receipt comes back with that id; a
    source that is not the account's line is refused as a submit would be (0x0A)."""
    with bound(Esme(router.port)) as esme:
        client = esme.client
        sent = smpplib.smpp.make_pdu(
            "data_sm", client=client, source_addr_ton=1, source_addr_npi=1,
            source_addr="1000", dest_addr_ton=1, dest_addr_npi=1,
            destination_addr="989121234567", esm_class=0, registered_delivery=1,
            data_coding=0, message_payload=b"data sm text")
        client.send_pdu(sent)
        resp = client.read_pdu()
        assert (resp.command, resp.status, resp.sequence) == ("data_sm_resp", ROK,
                                                               sent.sequence)
        our_id = resp.message_id.decode()
        esme.pump(lambda: bool(esme.delivered))
        assert esme.delivered[0].receipted_message_id.decode() == our_id
        refused = smpplib.smpp.make_pdu(
            "data_sm", client=client, source_addr_ton=1, source_addr_npi=1,
            source_addr="77777", dest_addr_ton=1, dest_addr_npi=1,
            destination_addr="989121234567", esm_class=0, registered_delivery=0,
            data_coding=0, message_payload=b"not my line")
        client.send_pdu(refused)
        resp = client.read_pdu()
        assert (resp.command, resp.status) == ("data_sm_resp", 0x0A)


def test_submit_multi_per_destination_results(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """submit_multi is fanned out: each SME destination is decided like a submit_sm;
    submit_multi_resp carries the first id and lists each refused destination with its
    status from the status table (an invalid number 0x0B; a distribution list, which
    Chapar does not keep, ESME_RINVDLNAME 0x34).  None accepted: one status."""
    sink = make_sink(record=True)
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port}])
    router.wait_event("upstream_bound")
    s = raw_bound(router)
    status, body = call(s, MULTI, 2, multi_body(
        ["989121234567", "12", ("dl", "friends"), "989351234567"], b"to many"))
    assert status == ROK
    end = body.index(0)
    our_id = body[:end].decode()
    count, rest = body[end + 1], body[end + 2:]
    unsuccessful = []
    for _ in range(count):
        ton, npi = rest[0], rest[1]
        name_end = rest.index(0, 2)
        unsuccessful.append((ton, npi, rest[2:name_end].decode(),
                             struct.unpack(">I", rest[name_end + 1:name_end + 5])[0]))
        rest = rest[name_end + 5:]
    assert rest == b""
    assert sorted(unsuccessful, key=str) == sorted(
        [(1, 1, "12", 0x0B), (0, 0, "friends", 0x34)], key=str)
    records = []
    deadline = time.monotonic() + 10
    while len(records) < 2 and time.monotonic() < deadline:
        records = sink.records()
    assert sorted(r["dst"] for r in records) == ["989121234567", "989351234567"]
    assert query(s, 3, our_id)[:2] == (ROK, ENROUTE)
    assert call(s, MULTI, 4, multi_body(["12", "13"]))[0] == 0x0B


def test_data_sm_refusals_are_clear(router: RouterProcess) -> None:
    """data_sm without message_payload is ESME_RMISSINGOPTPARAM (0xC3); an address
    longer than a submit_sm can carry is ESME_RINVSRCADR / ESME_RINVDSTADR."""
    s = raw_bound(router)
    assert call(s, DATA, 2, data_body(None))[0] == 0xC3
    assert call(s, DATA, 3, data_body(source="1" * 30))[0] == 0x0A
    assert call(s, DATA, 4, data_body(destination="9" * 30))[0] == 0x0B
    status, body = call(s, DATA, 5, data_body(b"fine"))
    assert status == ROK and body.endswith(b"\0")
