"""Hostile and broken input gets a clear SMPP answer and never takes the router down."""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable

import pytest

from tests.conftest import RouterProcess
from tests.raw import (
    GENERIC_NACK,
    HEADER,
    assert_alive,
    assert_closed,
    bind_body,
    bound,
    connect,
    cstr,
    no_crash_in_log,
    pdu,
    read_pdu,
    submit_body,
)

RINVCMDLEN, RINVCMDID, RINVBNDSTS, RINVMSGLEN, RMSGQFUL = 0x02, 0x03, 0x04, 0x01, 0x14


@pytest.mark.parametrize("length", [0, 8, 15, 65537, 0x7FFFFFFF])
def test_command_length_out_of_bounds_is_nacked_and_closed(router: RouterProcess,
                                                           length: int) -> None:
    """A command_length below 16 or above max_pdu_length loses the framing: generic_nack
    ESME_RINVCMDLEN with the sequence, then close (nothing after it can be trusted)."""
    s = connect(router)
    s.sendall(HEADER.pack(length, 0x04, 0, 42) + b"\0" * 16)
    command_id, status, seq, _ = read_pdu(s)
    assert (command_id, status, seq) == (GENERIC_NACK, RINVCMDLEN, 42)
    assert_closed(s)
    assert_alive(router)


def test_unknown_command_id_gets_generic_nack(router: RouterProcess) -> None:
    """An unknown command_id is answered generic_nack ESME_RINVCMDID and the session goes
    on (SMPP 3.4 §2.8.2)."""
    s = bound(router)
    s.sendall(pdu(0x00000777, 5))
    assert read_pdu(s)[:3] == (GENERIC_NACK, RINVCMDID, 5)
    s.sendall(pdu(0x04, 6, submit_body()))  # the session goes on
    assert read_pdu(s)[:3] == (0x80000004, 0, 6)


def test_submit_before_bind_is_refused(router: RouterProcess) -> None:
    """A submit on an open (unbound) session is ESME_RINVBNDSTS, not processed."""
    s = connect(router)
    s.sendall(pdu(0x04, 3, submit_body()))
    assert read_pdu(s)[:3] == (0x80000004, RINVBNDSTS, 3)


def test_truncated_submit_body_gets_invalid_length(router: RouterProcess) -> None:
    """A submit_sm body cut at every possible byte gets exactly ESME_RINVMSGLEN (README:
    "body ends early"), each answered with its own sequence; a valid submit after each
    one keeps the bad-PDU counter from closing the session, and is accepted."""
    s = bound(router)
    whole = submit_body()
    for cut in range(len(whole)):
        s.sendall(pdu(0x04, 100 + cut, whole[:cut]) + pdu(0x04, 1000 + cut, whole))
        assert read_pdu(s)[:3] == (0x80000004, RINVMSGLEN, 100 + cut), f"cut at {cut}"
        assert read_pdu(s)[:3] == (0x80000004, 0, 1000 + cut)


SOURCE = b"\x01\x01" + cstr("1000")
DEST = b"\x01\x01" + cstr("989121234567")


ID = cstr("17a3f0c2b8d4e01")


@pytest.mark.parametrize(("command_id", "body", "status"), [
    (0x03, cstr("17a3f0c2b8d4e0z") + SOURCE, 0x0C),  # not one of our (hex) ids
    (0x03, b"f" * 70, 0x0C),  # message_id longer than 64: ESME_RINVMSGID
    (0x03, ID + b"\x01", 0x01),  # ends inside source_addr: ESME_RINVMSGLEN
    (0x03, ID + SOURCE, 0x0C),  # an id never given
    (0x08, cstr("") + ID + SOURCE, 0x01),  # no destination
    (0x08, cstr("") + ID + SOURCE + DEST, 0x0C),
    (0x08, cstr("") + cstr("") + SOURCE + DEST, 0x11),  # nothing waiting from/to those
    (0x07, ID + SOURCE + cstr("") + cstr("") + b"\x01\x00\x09abc", 0x01),  # sm past end
    (0x07, ID + SOURCE + cstr("") + cstr("") + b"\x01\x00\x03abc", 0x0C),
    (0x21, cstr("") + SOURCE + b"\x00" + b"\x00\x00\x00" + cstr("") + cstr("")
     + b"\x00\x00\x00\x00\x03abc", 0x33),  # number_of_dests 0: ESME_RINVNUMDESTS
    (0x21, cstr("") + SOURCE + b"\x01\x03" + DEST + b"\x00\x00\x00" + cstr("") + cstr("")
     + b"\x00\x00\x00\x00\x03abc", 0x40),  # dest_flag 3: ESME_RINVDESTFLAG
    (0x21, cstr("") + SOURCE + b"\x01\x02" + b"d" * 30, 0x34),  # dl_name too long
    (0x21, cstr("") + SOURCE + b"\x02\x01" + DEST, 0x01),  # 2 announced, 1 there
    (0x103, cstr("") + SOURCE + DEST + b"\x00\x00\x00", 0xC3),  # no message_payload
    (0x103, cstr("") + SOURCE + DEST + b"\x00", 0x01),  # ends in the mandatory fields
    (0x103, cstr("") + SOURCE + DEST + b"\x00\x00\x00\x04\x24\x00\x09abc", 0xC0),
], ids=["query-not-hex", "query-id-too-long", "query-truncated", "query-unknown",
        "cancel-truncated", "cancel-unknown", "cancel-nothing-waiting",
        "replace-sm-past-end", "replace-unknown", "multi-no-dests", "multi-dest-flag",
        "multi-dl-name-too-long", "multi-truncated", "data-no-payload", "data-truncated",
        "data-tlv-past-end"])
def test_malformed_operations_get_exact_statuses(
        router: RouterProcess, command_id: int, body: bytes, status: int) -> None:
    """issue 12 item 5: every malformed or impossible query_sm, cancel_sm, replace_sm,
    submit_multi and data_sm gets its own *_resp (not a generic_nack) with the exact
    SMPP status, and the session goes on (a valid submit right after is accepted)."""
    s = bound(router)
    s.sendall(pdu(command_id, 21, body))
    assert read_pdu(s)[:3] == (command_id | 0x80000000, status, 21)
    s.sendall(pdu(0x04, 22, submit_body()))
    assert read_pdu(s)[:3] == (0x80000004, 0, 22)
    no_crash_in_log(router)


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


@pytest.mark.parametrize(("tlvs", "status"), [
    (b"\x02\x0c\x00", 0xC0),  # 3 bytes: not even a TLV header
    (b"\x02\x0c\x00\x05\x00", 0xC0),  # the length runs past the PDU
    (tlv(0x020C, b"\x01"), 0xC2),  # sar_msg_ref_num is 2 octets
    (tlv(0x0427, b"\x01\x02"), 0xC2),  # message_state is 1 octet
    (tlv(0x020A, b"\x01"), 0xC2),  # source_port is 2 octets
], ids=["short-header", "past-end", "sar_msg_ref_num", "message_state", "source_port"])
def test_bad_tlvs_get_exact_statuses(router: RouterProcess, tlvs: bytes, status: int) -> None:
    """A malformed TLV stream is ESME_RINVOPTPARSTREAM 0xC0, a known TLV with the wrong
    length ESME_RINVPARLEN 0xC2 (SMPP 3.4 Table 5-2; README); the session goes on."""
    s = bound(router)
    s.sendall(pdu(0x04, 31, submit_body(tlvs=tlvs)))
    assert read_pdu(s)[:3] == (0x80000004, status, 31)
    s.sendall(pdu(0x04, 32, submit_body(tlvs=tlv(0x1234, b"ok"))))  # unknown: ignored
    assert read_pdu(s)[:3] == (0x80000004, 0, 32)


def test_inbound_window_answers_msgqful(make_router: Callable[..., RouterProcess]) -> None:
    """More than smpp.inbound_window requests unanswered at once get ESME_RMSGQFUL 0x14
    (README), never a silent drop: 200 submits in one write against a window of 4; the
    router answers at most 4 per read before its commit, so most of them are refused."""
    router = make_router(smpp={"inbound_window": 4})
    s = bound(router)
    s.sendall(b"".join(pdu(0x04, n, submit_body()) for n in range(100, 300)))
    answers = {}
    for _ in range(200):
        command_id, status, seq, _ = read_pdu(s)
        assert command_id == 0x80000004
        answers[seq] = status
    assert set(answers) == set(range(100, 300)), "a submit was not answered, or twice"
    assert set(answers.values()) <= {0, RMSGQFUL}
    assert list(answers.values()).count(RMSGQFUL) >= 100
    assert answers[100] == 0, "the first request of a write is within the window"
    s.sendall(pdu(0x04, 400, submit_body()))  # the window frees once answered
    assert read_pdu(s)[:3] == (0x80000004, 0, 400)


def test_short_message_longer_than_pdu(router: RouterProcess) -> None:
    """sm_length pointing past the PDU is ESME_RINVMSGLEN, not a read past the body."""
    s = bound(router)
    body = submit_body(b"abc")
    body = body[:-4] + bytes([200]) + b"abc"  # sm_length says 200, 3 bytes follow
    s.sendall(pdu(0x04, 9, body))
    assert read_pdu(s)[:3] == (0x80000004, RINVMSGLEN, 9)


def test_garbage_bytes_close_the_connection_only(router: RouterProcess) -> None:
    """Random bytes: the router answers (a generic_nack at most) and closes that connection
    within 10 s; a read timeout fails the test.  Other sessions go on."""
    rng = random.Random(1234)
    for _ in range(5):
        s = connect(router)
        s.sendall(bytes(rng.randrange(256) for _ in range(4096)))
        s.settimeout(10)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
                assert len(received) < 65536, "the router keeps answering garbage"
        except ConnectionResetError:
            pass
        s.close()
        if received:  # what it said before closing: one generic_nack ESME_RINVCMDLEN
            assert HEADER.unpack(received[:16])[1:3] == (GENERIC_NACK, RINVCMDLEN)
    assert_alive(router)


def test_repeated_bad_pdus_close_the_session(router: RouterProcess) -> None:
    """A peer sending nothing but bad PDUs is answered a few times, then closed: garbage
    costs it its session, never the router more than a few answers."""
    s = bound(router)
    for seq in range(100, 120):
        try:
            s.sendall(pdu(0x00000777, seq))
        except (BrokenPipeError, ConnectionResetError):
            break
    s.settimeout(5)
    nacks = 0
    try:
        while True:
            command_id, status, _, _ = read_pdu(s)
            assert (command_id, status) == (GENERIC_NACK, RINVCMDID)
            nacks += 1
    except (ConnectionError, ConnectionResetError):
        pass
    assert 1 <= nacks < 20
    assert_alive(router)


def test_slow_partial_header_does_not_block_others(router: RouterProcess) -> None:
    """Half a header held open must not stop another session from binding and submitting."""
    idle = connect(router)
    idle.sendall(b"\x00\x00")  # half a header, then nothing
    assert_alive(router)
    idle.close()


def test_bind_twice_is_already_bound(router: RouterProcess) -> None:
    """A second bind on a bound session is ESME_RALYBND (0x05), not a second session."""
    s = bound(router)
    s.sendall(pdu(0x09, 2, bind_body()))
    assert read_pdu(s)[:3] == (0x80000009, 0x05, 2)


def test_pipelined_submits_right_after_bind_are_answered(router: RouterProcess) -> None:
    """Submits written together with the bind wait for the bind decision and are all
    answered in order after it (design: reading pauses while argon2id runs)."""
    s = connect(router)
    s.sendall(pdu(0x09, 1, bind_body()) + b"".join(pdu(0x04, n, submit_body())
                                                     for n in range(2, 12)))
    answers = [read_pdu(s)[:3] for _ in range(11)]
    assert answers[0] == (0x80000009, 0, 1)
    assert answers[1:] == [(0x80000004, 0, n) for n in range(2, 12)]


def test_connections_beyond_the_limit_are_closed(
        make_router: Callable[..., RouterProcess]) -> None:
    """smpp.max_connections bounds memory: one connection more is closed at once, and a
    freed place can be taken again (polled with a generous deadline, no fixed sleep)."""
    router = make_router(smpp={"max_connections": 3})
    held = [connect(router) for _ in range(3)]
    for s in held:  # each one is registered by the router once it answers on it
        s.sendall(pdu(0x15, 1))
        assert read_pdu(s)[:3] == (0x80000015, 0, 1)
    extra = connect(router)
    assert_closed(extra)
    router.wait_event("connection_limit")
    held.pop().close()
    deadline = time.monotonic() + 15
    while True:  # the router sees the close a moment later: retry until it has room
        try:
            assert_alive(router)  # room again: a new session binds and submits
            break
        except (ConnectionError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
