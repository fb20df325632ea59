"""The core's per-connection limits, without sockets (issue 9: D2, D3, D8d): frames per
feed (the rest kept as a backlog), the deadline of a started PDU, and buffers freed by
``abandon``."""

from __future__ import annotations

import struct

from router.smpp import codec
from router.smpp.framing import FrameReader
from router.smpp.pdu import BindTransceiver, CommandId, EnquireLink, SubmitSm
from router.smpp.session import (
    MustClose,
    Role,
    Session,
    SessionConfig,
    State,
    Submit,
)

C = CommandId
QUIET = SessionConfig(session_init_timeout=0, enquire_link_interval=0, inactivity_timeout=0,
                      response_timeout=0)


def enquire_links(first: int, count: int) -> bytes:
    return b"".join(codec.encode(EnquireLink(seq)) for seq in range(first, first + count))


def submit(seq: int) -> bytes:
    return codec.encode(SubmitSm(seq, source_addr="1000", destination_addr="989121234567",
                                 short_message=b"hi"))


def bound_smsc(config: SessionConfig) -> Session:
    smsc = Session(Role.SMSC, config)
    (bind,) = smsc.receive_data(codec.encode(BindTransceiver(1, 0, "esme1", "pw")), 0.0)
    assert isinstance(bind, BindTransceiver)
    smsc.accept_bind(bind, "chapar", 0.0)
    smsc.data_to_send()
    return smsc


def sequences(data: bytes) -> list[int]:
    return [seq for _, _, seq, _ in FrameReader().feed(data)]


# --- framing: at most max_frames per feed ------------------------------------------------


def test_reader_cap_keeps_the_rest_for_the_next_feed() -> None:
    reader = FrameReader(max_frames=3)
    ninth = enquire_links(9, 1)
    frames = reader.feed(enquire_links(1, 8) + ninth[:2])  # and a partial header
    assert [f[2] for f in frames] == [1, 2, 3]
    assert reader.backlog
    assert [f[2] for f in reader.feed(b"")] == [4, 5, 6]
    assert [f[2] for f in reader.feed(b"")] == [7, 8]
    assert not reader.backlog
    assert reader.buffered == 2
    assert [f[2] for f in reader.feed(ninth[2:])] == [9]  # the partial PDU goes on


def test_reader_cap_with_new_data_appends_behind_the_backlog() -> None:
    reader = FrameReader(max_frames=2)
    assert [f[2] for f in reader.feed(enquire_links(1, 3))] == [1, 2]
    assert [f[2] for f in reader.feed(enquire_links(4, 1))] == [3, 4]
    assert not reader.backlog and reader.buffered == 0


def test_reader_without_cap_parses_everything() -> None:
    reader = FrameReader()
    assert len(reader.feed(enquire_links(1, 5000))) == 5000
    assert not reader.backlog


def test_reader_copies_a_partial_tail_out_of_a_large_read() -> None:
    """A partial PDU left at the end of a large read is kept alone, not with the read."""
    reader = FrameReader()
    data = enquire_links(1, 4096) + struct.pack(">IIII", 100, 4, 0, 9)
    reader.feed(data)
    assert reader.buffered == 16
    assert len(reader._buf) == 16


def test_reader_clear_forgets_everything() -> None:
    reader = FrameReader(max_frames=1)
    reader.feed(enquire_links(1, 3) + b"\x00")
    assert reader.backlog
    reader.clear()
    assert (reader.buffered, reader.backlog, reader.feed(b"")) == (0, False, [])


# --- session: max_pdus_per_read ----------------------------------------------------------


def test_session_processes_at_most_max_pdus_per_read() -> None:
    smsc = bound_smsc(SessionConfig(max_pdus_per_read=4, **_quiet()))
    events = smsc.receive_data(b"".join(submit(n) for n in range(10, 20)), 1.0)
    assert [e.sequence for e in events if isinstance(e, Submit)] == [10, 11, 12, 13]
    assert smsc.backlog
    got: list[int] = []
    while smsc.backlog:
        got += [e.sequence for e in smsc.receive_data(b"", 1.0) if isinstance(e, Submit)]
    assert got == list(range(14, 20))


def test_session_answers_chores_per_turn_too() -> None:
    """enquire_links answered by the session itself are capped the same way: one turn
    writes at most max_pdus_per_read answers."""
    smsc = Session(Role.SMSC, SessionConfig(max_pdus_per_read=100, **_quiet()))
    assert smsc.receive_data(enquire_links(1, 1000), 0.0) == []
    assert sequences(smsc.data_to_send()) == list(range(1, 101))
    assert smsc.backlog


def test_backlog_behind_a_pending_bind_waits_for_the_decision() -> None:
    smsc = Session(Role.SMSC, SessionConfig(max_pdus_per_read=2, **_quiet()))
    stream = codec.encode(BindTransceiver(1, 0, "esme1", "pw")) + b"".join(
        submit(n) for n in range(2, 7))
    (bind,) = smsc.receive_data(stream, 0.0)
    assert isinstance(bind, BindTransceiver)
    assert smsc.receive_data(b"", 0.0) == []  # held behind the bind
    events = smsc.accept_bind(bind, "chapar", 0.0)
    while smsc.backlog:
        events += smsc.receive_data(b"", 0.0)
    assert [e.sequence for e in events if isinstance(e, Submit)] == [2, 3, 4, 5, 6]


def test_a_closed_session_has_no_backlog() -> None:
    smsc = Session(Role.SMSC, SessionConfig(max_pdus_per_read=1, **_quiet()))
    smsc.receive_data(enquire_links(1, 3), 0.0)
    assert smsc.backlog
    smsc.abandon()
    assert not smsc.backlog
    assert smsc.receive_data(b"", 0.0) == []


# --- session: pdu_timeout ----------------------------------------------------------------


def _quiet() -> dict[str, float]:
    return {"session_init_timeout": 0, "enquire_link_interval": 0, "inactivity_timeout": 0,
            "response_timeout": 0}


def test_a_started_pdu_has_a_deadline() -> None:
    smsc = bound_smsc(SessionConfig(pdu_timeout=5, **_quiet()))
    assert smsc.next_deadline() is None
    data = submit(2)
    smsc.receive_data(data[:1], 10.0)
    assert smsc.next_deadline() == 15.0
    for n, byte in enumerate(data[1:10], 1):  # trickled: the deadline does not move
        smsc.receive_data(bytes([byte]), 10.0 + n * 0.4)
    assert smsc.next_deadline() == 15.0
    assert smsc.handle_timer(14.9) == []
    assert smsc.handle_timer(15.0) == [MustClose("PDU incomplete after 5 s")]
    assert smsc.state is State.CLOSED
    assert smsc.next_deadline() is None


def test_a_completed_pdu_clears_the_deadline_and_the_next_one_starts_anew() -> None:
    smsc = bound_smsc(SessionConfig(pdu_timeout=5, **_quiet()))
    first, second = submit(2), submit(3)
    smsc.receive_data(first[:10], 1.0)
    assert smsc.next_deadline() == 6.0
    events = smsc.receive_data(first[10:], 4.0)
    assert len(events) == 1 and smsc.next_deadline() is None
    smsc.receive_data(second[:5], 8.0)
    assert smsc.next_deadline() == 13.0
    # a read that completes one PDU and begins another restarts the clock
    smsc.receive_data(second[5:] + first[:3], 12.0)
    assert smsc.next_deadline() == 17.0


def test_the_pdu_clock_stops_while_the_transport_does_not_read() -> None:
    """The peer cannot finish a PDU while we do not read it (backpressure, a bind
    decision): no deadline then, and a whole pdu_timeout again after."""
    smsc = bound_smsc(SessionConfig(pdu_timeout=5, **_quiet()))
    smsc.receive_data(submit(2)[:7], 1.0)
    smsc.set_reading(False, 2.0)
    assert smsc.next_deadline() is None
    assert smsc.handle_timer(100.0) == []
    smsc.set_reading(True, 100.0)
    assert smsc.next_deadline() == 105.0


def test_pdu_timeout_zero_is_off() -> None:
    smsc = bound_smsc(SessionConfig(pdu_timeout=0, **_quiet()))
    smsc.receive_data(submit(2)[:7], 1.0)
    assert smsc.next_deadline() is None
    assert smsc.handle_timer(1e9) == []


def test_an_open_session_trickling_a_bind_is_closed_before_session_init() -> None:
    smsc = Session(Role.SMSC, SessionConfig(pdu_timeout=5, session_init_timeout=30,
                                            enquire_link_interval=0, inactivity_timeout=0,
                                            response_timeout=0))
    smsc.receive_data(codec.encode(BindTransceiver(1, 0, "esme1", "pw"))[:3], 0.0)
    assert smsc.next_deadline() == 5.0
    assert smsc.handle_timer(5.0) == [MustClose("PDU incomplete after 5 s")]


# --- session: buffers freed on close -------------------------------------------------------


def test_abandon_frees_the_partial_pdu_and_the_output() -> None:
    smsc = bound_smsc(SessionConfig(**_quiet()))
    smsc.receive_data(enquire_links(1, 10) + struct.pack(">IIII", 60000, 4, 0, 9)
                      + b"\x00" * 40000, 0.0)
    assert smsc._reader.buffered == 40016
    assert smsc._out
    smsc.abandon()
    assert smsc._reader.buffered == 0
    assert smsc.data_to_send() == b""
    assert smsc.state is State.CLOSED
