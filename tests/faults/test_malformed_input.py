"""Hostile and broken input gets a clear SMPP answer and never takes the router down."""

from __future__ import annotations

import random
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
    pdu,
    read_pdu,
    submit_body,
)

RINVCMDLEN, RINVCMDID, RINVBNDSTS, RINVMSGLEN = 0x02, 0x03, 0x04, 0x01


@pytest.mark.parametrize("length", [0, 8, 15, 65537, 0x7FFFFFFF])
def test_command_length_out_of_bounds_is_nacked_and_closed(router: RouterProcess,
                                                           length: int) -> None:
    s = connect(router)
    s.sendall(HEADER.pack(length, 0x04, 0, 42) + b"\0" * 16)
    command_id, status, seq, _ = read_pdu(s)
    assert (command_id, status, seq) == (GENERIC_NACK, RINVCMDLEN, 42)
    assert_closed(s)
    assert_alive(router)


def test_unknown_command_id_gets_generic_nack(router: RouterProcess) -> None:
    s = bound(router)
    s.sendall(pdu(0x00000777, 5))
    assert read_pdu(s)[:3] == (GENERIC_NACK, RINVCMDID, 5)
    s.sendall(pdu(0x04, 6, submit_body()))  # the session goes on
    assert read_pdu(s)[:3] == (0x80000004, 0, 6)


def test_submit_before_bind_is_refused(router: RouterProcess) -> None:
    s = connect(router)
    s.sendall(pdu(0x04, 3, submit_body()))
    assert read_pdu(s)[:3] == (0x80000004, RINVBNDSTS, 3)


def test_truncated_submit_body_gets_invalid_length(router: RouterProcess) -> None:
    s = bound(router)
    whole = submit_body()
    for cut, seq in ((3, 10), (12, 11), (len(whole) - 2, 12)):
        s.sendall(pdu(0x04, seq, whole[:cut]))
        command_id, status, got_seq, _ = read_pdu(s)
        assert (command_id, got_seq) == (0x80000004, seq)
        assert status in (RINVMSGLEN, 0x0A, 0x0B, 0x61, 0x62), hex(status)
    s.sendall(pdu(0x04, 13, whole))
    assert read_pdu(s)[:3] == (0x80000004, 0, 13)


def test_short_message_longer_than_pdu(router: RouterProcess) -> None:
    s = bound(router)
    body = submit_body(b"abc")
    body = body[:-4] + bytes([200]) + b"abc"  # sm_length says 200, 3 bytes follow
    s.sendall(pdu(0x04, 9, body))
    assert read_pdu(s)[:3] == (0x80000004, RINVMSGLEN, 9)


def test_garbage_bytes_close_the_connection_only(router: RouterProcess) -> None:
    rng = random.Random(1234)
    for _ in range(5):
        s = connect(router)
        s.sendall(bytes(rng.randrange(256) for _ in range(4096)))
        s.settimeout(5)
        try:
            while s.recv(65536):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
        s.close()
    assert_alive(router)


def test_repeated_bad_pdus_close_the_session(router: RouterProcess) -> None:
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
    idle = connect(router)
    idle.sendall(b"\x00\x00")  # half a header, then nothing
    assert_alive(router)
    idle.close()


def test_bind_twice_is_already_bound(router: RouterProcess) -> None:
    s = bound(router)
    s.sendall(pdu(0x09, 2, bind_body()))
    assert read_pdu(s)[:3] == (0x80000009, 0x05, 2)


def test_pipelined_submits_right_after_bind_are_answered(router: RouterProcess) -> None:
    s = connect(router)
    s.sendall(pdu(0x09, 1, bind_body()) + b"".join(pdu(0x04, n, submit_body())
                                                     for n in range(2, 12)))
    answers = [read_pdu(s)[:3] for _ in range(11)]
    assert answers[0] == (0x80000009, 0, 1)
    assert answers[1:] == [(0x80000004, 0, n) for n in range(2, 12)]


def test_connections_beyond_the_limit_are_closed(
        make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(smpp={"max_connections": 3})
    held = [connect(router) for _ in range(3)]
    time.sleep(0.2)
    extra = connect(router)
    assert_closed(extra)
    router.wait_event("connection_limit")
    held.pop().close()
    time.sleep(0.2)
    assert_alive(router)  # room again: a new session binds and submits
