"""Tests for the sans-IO SMPP session (router.smpp.session), both roles, driven in memory.

``SessionPair`` joins an ESME session and an SMSC session the way h11's ConnectionPair
joins a client and a server: bytes move only when a test says so, and time is a
number the test advances.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from router.smpp import codec
from router.smpp.framing import Frame, FrameReader
from router.smpp.pdu import (
    BIND_RESPONSE,
    BindReceiver,
    BindRequest,
    BindTransceiver,
    BindTransmitter,
    CommandId,
    CommandStatus,
    DecodeError,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    tlv_int,
)
from router.smpp.session import (
    Answered,
    Deliver,
    Delivered,
    Event,
    LocalProtocolError,
    MustClose,
    Role,
    Session,
    SessionConfig,
    State,
    Submit,
    Submitted,
    TimedOut,
    Unbound,
    Unmatched,
)

C = CommandId
S = CommandStatus
BIND_KINDS = [
    pytest.param(BindTransmitter, State.BOUND_TX, id="tx"),
    pytest.param(BindReceiver, State.BOUND_RX, id="rx"),
    pytest.param(BindTransceiver, State.BOUND_TRX, id="trx"),
]
# No timers unless a test asks for them.
QUIET = SessionConfig(session_init_timeout=0, enquire_link_interval=0, inactivity_timeout=0,
                      response_timeout=0)


def frames(data: bytes) -> list[Frame]:
    reader = FrameReader()
    out = reader.feed(data)
    assert reader.buffered == 0, "output ends inside a PDU"
    return out


def pdus(data: bytes) -> list[Pdu]:
    return [codec.decode(cid, status, seq, body) for cid, status, seq, body in frames(data)]


def state_of(session: Session) -> State:
    """The session's state, read through a call so mypy does not keep a stale narrowing."""
    return session.state


def submits(events: list[Event]) -> list[Submit]:
    """The events, which must all be submit_sm handed to the application (hot path)."""
    assert all(isinstance(e, Submit) for e in events), events
    return [e for e in events if isinstance(e, Submit)]


def header_only(command_id: int, status: int, sequence: int) -> bytes:
    return struct.pack(">IIII", 16, command_id, status, sequence)


def submit(sequence: int = 0, text: bytes = b"hello") -> SubmitSm:
    return SubmitSm(sequence, source_addr="30001234", destination_addr="989121234567",
                    short_message=text)


def deliver(sequence: int = 0) -> DeliverSm:
    return DeliverSm(sequence, source_addr="989121234567", destination_addr="30001234",
                     short_message=b"mo")


class SessionPair:
    """An ESME session and an SMSC session joined by two in-memory pipes and a clock."""

    def __init__(self, config: SessionConfig = QUIET, *, smsc_config: SessionConfig | None = None,
                 now: float = 0.0) -> None:
        self.now = now
        self.esme = Session(Role.ESME, config, now=now)
        self.smsc = Session(Role.SMSC, smsc_config or config, now=now)

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def to_smsc(self) -> list[Event]:
        """Move what the ESME wrote to the SMSC; the SMSC's events."""
        data = self.esme.data_to_send()
        return self.smsc.receive_data(data, self.now) if data else []

    def to_esme(self) -> list[Event]:
        data = self.smsc.data_to_send()
        return self.esme.receive_data(data, self.now) if data else []

    def bind(self, kind: type[BindRequest] = BindTransceiver) -> Answered:
        self.esme.bind(kind(system_id="esme1", password="secret12"), self.now, "bind")
        assert state_of(self.esme) is State.BIND_PENDING
        events = self.to_smsc()
        assert len(events) == 1
        request = events[0]
        assert isinstance(request, kind)
        assert state_of(self.smsc) is State.BIND_PENDING
        assert self.smsc.accept_bind(request, "chapar", self.now) == []
        answered = self.to_esme()
        assert len(answered) == 1
        assert isinstance(answered[0], Answered)
        return answered[0]


# --- bind -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "state"), BIND_KINDS)
def test_bind_accept_binds_both_sides(kind: type[BindRequest], state: State) -> None:
    pair = SessionPair()
    answered = pair.bind(kind)
    assert state_of(pair.esme) is state
    assert state_of(pair.smsc) is state
    assert pair.esme.bound
    assert pair.smsc.bound
    assert pair.smsc.system_id == "esme1"
    assert answered.context == "bind"
    resp = answered.response
    assert type(resp) is BIND_RESPONSE[kind.command_id]
    assert resp.status == 0
    assert resp.sequence == 1
    assert getattr(resp, "system_id") == "chapar"  # noqa: B009
    assert tlv_int(getattr(resp, "tlvs"), Tag.SC_INTERFACE_VERSION) == 0x34  # noqa: B009
    assert pair.esme.can_submit is (kind is not BindReceiver)
    assert pair.smsc.can_submit is (kind is not BindTransmitter)
    assert pair.esme.outstanding == 0


@pytest.mark.parametrize(("asked", "given"), [(0x50, 0x50), (0x51, 0x50), (0x34, 0x34),
                                              (0x33, 0x34), (0x00, 0x34)])
def test_bind_answers_the_interface_version_it_serves(asked: int, given: int) -> None:
    """issue 12 item 5: a 5.0 bind (0x50; node-smpp's default) is served as 5.0 and
    told so in sc_interface_version; anything older is served as 3.4."""
    pair = SessionPair()
    pair.esme.bind(BindTransceiver(system_id="esme1", password="secret12",
                                   interface_version=asked), pair.now, "bind")
    (request,) = pair.to_smsc()
    assert isinstance(request, BindTransceiver)
    pair.smsc.accept_bind(request, "chapar", pair.now)
    (answered,) = pair.to_esme()
    assert isinstance(answered, Answered)
    assert tlv_int(getattr(answered.response, "tlvs"), Tag.SC_INTERFACE_VERSION) == given  # noqa: B009
    assert pair.smsc.interface_version == given
    assert pair.smsc.v5 is (given == 0x50)


@pytest.mark.parametrize(("kind", "state"), BIND_KINDS)
@pytest.mark.parametrize("status", [S.ESME_RINVPASWD, S.ESME_RBINDFAIL, 0x401])
def test_bind_reject_answers_header_only_and_closes(kind: type[BindRequest], state: State,
                                                    status: int) -> None:
    pair = SessionPair()
    pair.esme.bind(kind(system_id="esme1", password="wrong"), pair.now, "bind")
    (request,) = pair.to_smsc()
    assert isinstance(request, kind)
    pair.smsc.reject_bind(request, status)
    assert state_of(pair.smsc) is State.CLOSED
    assert pair.smsc.next_deadline() is None
    out = pair.smsc.data_to_send()
    assert out == header_only(kind.command_id | 0x80000000, status, request.sequence)

    events = pair.esme.receive_data(out, pair.now)
    assert len(events) == 1
    assert isinstance(events[0], Answered)
    assert events[0].response.status == status
    assert state_of(pair.esme) is State.OPEN
    # whatever the peer sends after the refusal is ignored
    assert pair.smsc.receive_data(codec.encode(submit(2)), pair.now) == []
    assert pair.smsc.data_to_send() == b""


def test_accept_or_reject_needs_a_pending_bind() -> None:
    smsc = Session(Role.SMSC, QUIET)
    bind = BindTransceiver(1, 0, "esme1", "pw")
    with pytest.raises(LocalProtocolError):
        smsc.accept_bind(bind, "chapar", 0.0)
    with pytest.raises(LocalProtocolError):
        smsc.reject_bind(bind, S.ESME_RBINDFAIL)
    with pytest.raises(LocalProtocolError):
        smsc.bind(bind, 0.0)  # only an ESME binds


def test_pdus_pipelined_after_bind_are_held_until_accept() -> None:
    smsc = Session(Role.SMSC, QUIET)
    stream = (codec.encode(BindTransceiver(1, 0, "esme1", "secret12"))
              + codec.encode(submit(2, b"first")) + codec.encode(EnquireLink(3))
              + codec.encode(submit(4, b"second")))
    events = smsc.receive_data(stream, 0.0)
    assert len(events) == 1
    bind = events[0]
    assert isinstance(bind, BindTransceiver)
    assert state_of(smsc) is State.BIND_PENDING
    assert smsc.data_to_send() == b""  # nothing answered while the bind is pending
    # more arrives while the application is still authenticating
    assert smsc.receive_data(codec.encode(submit(5, b"third")), 0.1) == []
    assert smsc.data_to_send() == b""

    held = submits(smsc.accept_bind(bind, "chapar", 0.2))
    assert [(type(p), p.sequence) for p in held] == [(Submit, 2), (Submit, 4), (Submit, 5)]
    assert [p.decode().short_message for p in held] == [b"first", b"second", b"third"]
    out = frames(smsc.data_to_send())
    assert [(cid, status, seq) for cid, status, seq, _ in out] == [
        (C.BIND_TRANSCEIVER_RESP, 0, 1), (C.ENQUIRE_LINK_RESP, 0, 3)]
    assert smsc.unanswered_inbound == 3


def test_pipelined_pdus_are_dropped_with_a_rejected_bind() -> None:
    smsc = Session(Role.SMSC, QUIET)
    stream = codec.encode(BindTransmitter(1, 0, "esme1", "bad")) + codec.encode(submit(2))
    (bind,) = smsc.receive_data(stream, 0.0)
    assert isinstance(bind, BindTransmitter)
    smsc.reject_bind(bind, S.ESME_RINVPASWD)
    assert frames(smsc.data_to_send()) == [(C.BIND_TRANSMITTER_RESP, S.ESME_RINVPASWD, 1, b"")]


def test_too_many_pdus_behind_a_pending_bind_close_the_session() -> None:
    smsc = Session(Role.SMSC, SessionConfig(inbound_window=2))
    (bind,) = smsc.receive_data(codec.encode(BindTransceiver(1, 0, "esme1", "pw")), 0.0)
    assert isinstance(bind, BindTransceiver)
    assert smsc.receive_data(codec.encode(submit(2)) + codec.encode(submit(3)), 0.0) == []
    events = smsc.receive_data(codec.encode(submit(4)), 0.0)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert state_of(smsc) is State.CLOSED


def test_esme_bind_needs_open_state() -> None:
    pair = SessionPair()
    pair.bind()
    with pytest.raises(LocalProtocolError):
        pair.esme.bind(BindTransmitter(system_id="again"), pair.now)


# --- requests in the wrong state ------------------------------------------------------


def test_submit_before_bind_gets_rinvbndsts() -> None:
    smsc = Session(Role.SMSC, QUIET)
    assert smsc.receive_data(codec.encode(submit(5)), 0.0) == []
    assert smsc.data_to_send() == header_only(C.SUBMIT_SM_RESP, S.ESME_RINVBNDSTS, 5)
    assert state_of(smsc) is State.OPEN
    assert smsc.unanswered_inbound == 0


def test_submit_on_receiver_bind_gets_rinvbndsts() -> None:
    pair = SessionPair()
    pair.bind(BindReceiver)
    with pytest.raises(LocalProtocolError):
        pair.esme.send_request(submit(), pair.now)
    assert pair.smsc.receive_data(codec.encode(submit(9)), pair.now) == []
    assert pair.smsc.data_to_send() == header_only(C.SUBMIT_SM_RESP, S.ESME_RINVBNDSTS, 9)
    assert state_of(pair.smsc) is State.BOUND_RX


def test_deliver_sm_to_transmitter_esme_gets_rinvbndsts() -> None:
    pair = SessionPair()
    pair.bind(BindTransmitter)
    with pytest.raises(LocalProtocolError):
        pair.smsc.send_request(deliver(), pair.now)
    assert pair.esme.receive_data(codec.encode(deliver(3)), pair.now) == []
    assert pair.esme.data_to_send() == header_only(C.DELIVER_SM_RESP, S.ESME_RINVBNDSTS, 3)


@pytest.mark.parametrize(("kind", "state"), BIND_KINDS)
def test_second_bind_gets_ralybnd(kind: type[BindRequest], state: State) -> None:
    pair = SessionPair()
    pair.bind(BindTransceiver)
    again = kind(7, 0, "esme1", "secret12")
    assert pair.smsc.receive_data(codec.encode(again), pair.now) == []
    assert pair.smsc.data_to_send() == header_only(kind.command_id | 0x80000000,
                                                   S.ESME_RALYBND, 7)
    assert state_of(pair.smsc) is State.BOUND_TRX


@pytest.mark.parametrize("bound", [False, True])
@pytest.mark.parametrize("side", ["smsc", "esme"])
def test_unknown_command_id_gets_generic_nack(side: str, bound: bool) -> None:
    pair = SessionPair()
    if bound:
        pair.bind()
    session = pair.smsc if side == "smsc" else pair.esme
    raw = codec.encode_frame(0x00000099, 0, 0x1234, b"whatever")
    assert session.receive_data(raw, pair.now) == []
    assert session.data_to_send() == header_only(C.GENERIC_NACK, S.ESME_RINVCMDID, 0x1234)


def test_malformed_request_answered_with_decoder_status() -> None:
    pair = SessionPair()
    pair.bind()
    body = codec.encode_body(submit(1)).replace(b"30001234\0", b"3" * 25 + b"\0")
    raw = codec.encode_frame(C.SUBMIT_SM, 0, 11, body)
    assert pair.smsc.receive_data(raw, pair.now) == []
    assert pair.smsc.data_to_send() == header_only(C.SUBMIT_SM_RESP, S.ESME_RINVSRCADR, 11)
    assert pair.smsc.unanswered_inbound == 0


def test_framing_error_nacks_and_closes() -> None:
    pair = SessionPair()
    pair.bind()
    events = pair.smsc.receive_data(struct.pack(">IIII", 8, C.SUBMIT_SM, 0, 44), pair.now)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert pair.smsc.data_to_send() == header_only(C.GENERIC_NACK, S.ESME_RINVCMDLEN, 44)
    assert state_of(pair.smsc) is State.CLOSED
    assert pair.smsc.next_deadline() is None


# --- enquire_link ---------------------------------------------------------------------


def _open_smsc(pair: SessionPair) -> Session:
    return pair.smsc


def _open_esme(pair: SessionPair) -> Session:
    return pair.esme


def _pending_esme(pair: SessionPair) -> Session:
    pair.esme.bind(BindTransceiver(system_id="esme1"), pair.now)
    pair.esme.data_to_send()
    return pair.esme


def _bound(kind: type[BindRequest], side: str) -> Callable[[SessionPair], Session]:
    def make(pair: SessionPair) -> Session:
        pair.bind(kind)
        return pair.smsc if side == "smsc" else pair.esme
    return make


def _unbinding(side: str) -> Callable[[SessionPair], Session]:
    def make(pair: SessionPair) -> Session:
        pair.bind()
        session = pair.smsc if side == "smsc" else pair.esme
        session.unbind(pair.now)
        assert frames(session.data_to_send())[0][0] == C.UNBIND
        return session
    return make


STATES: list[tuple[str, Callable[[SessionPair], Session], State]] = [
    ("smsc-open", _open_smsc, State.OPEN),
    ("esme-open", _open_esme, State.OPEN),
    ("esme-bind_pending", _pending_esme, State.BIND_PENDING),
    *[(f"{side}-{name}", _bound(kind, side), state)
      for side in ("smsc", "esme")
      for kind, state, name in ((BindTransmitter, State.BOUND_TX, "tx"),
                                (BindReceiver, State.BOUND_RX, "rx"),
                                (BindTransceiver, State.BOUND_TRX, "trx"))],
    ("smsc-unbinding", _unbinding("smsc"), State.UNBINDING),
    ("esme-unbinding", _unbinding("esme"), State.UNBINDING),
]


@pytest.mark.parametrize(("make", "state"), [(m, s) for _, m, s in STATES],
                         ids=[name for name, _, _ in STATES])
def test_enquire_link_answered_without_reaching_the_app(
        make: Callable[[SessionPair], Session], state: State) -> None:
    pair = SessionPair()
    session = make(pair)
    assert state_of(session) is state
    assert session.receive_data(codec.encode(EnquireLink(77)), pair.now) == []
    assert session.data_to_send() == header_only(C.ENQUIRE_LINK_RESP, 0, 77)
    assert state_of(session) is state


def test_enquire_link_behind_pending_bind_answered_on_accept() -> None:
    smsc = Session(Role.SMSC, QUIET)
    (bind,) = smsc.receive_data(codec.encode(BindReceiver(1, 0, "esme1", "pw")), 0.0)
    assert isinstance(bind, BindReceiver)
    assert smsc.receive_data(codec.encode(EnquireLink(2)), 0.0) == []
    assert smsc.accept_bind(bind, "chapar", 0.0) == []
    assert [f[:3] for f in frames(smsc.data_to_send())] == [
        (C.BIND_RECEIVER_RESP, 0, 1), (C.ENQUIRE_LINK_RESP, 0, 2)]


def test_enquire_link_answered_when_inbound_window_is_full() -> None:
    pair = SessionPair(SessionConfig(inbound_window=1, enquire_link_interval=0))
    pair.bind()
    pair.esme.send_request(submit(), pair.now)
    assert len(pair.to_smsc()) == 1
    assert pair.smsc.receive_data(codec.encode(EnquireLink(50)), pair.now) == []
    assert pair.smsc.data_to_send() == header_only(C.ENQUIRE_LINK_RESP, 0, 50)


# --- unbind ---------------------------------------------------------------------------


@pytest.mark.parametrize("initiator", ["esme", "smsc"])
def test_unbind_handshake(initiator: str) -> None:
    pair = SessionPair()
    pair.bind()
    ours, peer = ((pair.esme, pair.smsc) if initiator == "esme" else (pair.smsc, pair.esme))
    forward, back = ((pair.to_smsc, pair.to_esme) if initiator == "esme"
                     else (pair.to_esme, pair.to_smsc))
    ours.unbind(pair.now)
    assert state_of(ours) is State.UNBINDING
    assert ours.outstanding == 1

    assert forward() == [Unbound(by_peer=True)]
    assert state_of(peer) is State.CLOSED
    out = peer.data_to_send()
    unbind_seq = 2 if initiator == "esme" else 1  # the ESME's bind used sequence 1
    assert out == header_only(C.UNBIND_RESP, 0, unbind_seq)

    assert ours.receive_data(out, pair.now) == [Unbound(by_peer=False)]
    assert state_of(ours) is State.CLOSED
    assert ours.outstanding == 0
    assert ours.next_deadline() is None
    assert peer.next_deadline() is None
    assert back() == []


def test_unbind_when_not_bound_just_closes() -> None:
    esme = Session(Role.ESME, QUIET)
    esme.unbind(0.0)
    assert state_of(esme) is State.CLOSED
    assert esme.data_to_send() == b""


def test_pdus_after_peer_unbind_in_the_same_read_are_dropped() -> None:
    pair = SessionPair()
    pair.bind()
    events = pair.smsc.receive_data(codec.encode(Unbind(5)) + codec.encode(submit(6)), pair.now)
    assert events == [Unbound(by_peer=True)]
    assert frames(pair.smsc.data_to_send()) == [(C.UNBIND_RESP, 0, 5, b"")]


# --- windows --------------------------------------------------------------------------


def test_window_accounting() -> None:
    pair = SessionPair(SessionConfig(window=3, enquire_link_interval=0))
    pair.bind()
    assert pair.esme.window_free == 3
    seqs = []
    for n in range(3):
        seqs.append(pair.esme.send_request(submit(), pair.now, f"m{n}"))
        assert pair.esme.window_free == 2 - n
    assert pair.esme.outstanding == 3
    assert seqs == [2, 3, 4]

    received = submits(pair.to_smsc())
    assert [(type(p), p.sequence) for p in received] == [(Submit, s) for s in seqs]
    assert pair.smsc.unanswered_inbound == 3

    pair.smsc.respond(SubmitSmResp(seqs[1], 0, "id-1"))
    assert pair.smsc.unanswered_inbound == 2
    assert pair.to_esme() == [Submitted("m1", 0, "id-1")]
    assert pair.esme.window_free == 1

    # responses nobody waits for change nothing and are reported: unknown sequence, or a
    # duplicate
    stray = codec.encode(SubmitSmResp(999, 0, "x")) + codec.encode(SubmitSmResp(seqs[1], 0, "x"))
    assert pair.esme.receive_data(stray, pair.now) == [
        Unmatched(C.SUBMIT_SM_RESP, 999, 0), Unmatched(C.SUBMIT_SM_RESP, seqs[1], 0)]
    assert pair.esme.window_free == 1
    assert pair.esme.outstanding == 2

    pair.smsc.respond_frames([codec.encode(SubmitSmResp(seqs[2], 0, "id-2")),
                              codec.encode(SubmitSmResp(seqs[0], S.ESME_RTHROTTLED))])
    assert pair.smsc.unanswered_inbound == 0
    assert pair.to_esme() == [Submitted("m2", 0, "id-2"),
                              Submitted("m0", S.ESME_RTHROTTLED, "")]
    assert pair.esme.window_free == 3
    assert pair.esme.outstanding == 0


def test_smsc_window_counts_deliver_sm() -> None:
    pair = SessionPair(SessionConfig(window=2, enquire_link_interval=0))
    pair.bind(BindReceiver)
    seq = pair.smsc.send_request(deliver(), pair.now, "dlr-1")
    assert pair.smsc.window_free == 1
    (mo,) = pair.to_esme()
    assert isinstance(mo, Deliver)
    assert mo.sequence == seq
    assert mo.decode() == deliver(seq)
    pair.esme.respond(DeliverSmResp(seq, 0, ""))
    assert pair.to_smsc() == [Delivered("dlr-1", 0)]
    assert pair.smsc.window_free == 2


def test_inbound_window_exceeded_gets_rmsgqful() -> None:
    pair = SessionPair(SessionConfig(inbound_window=2, enquire_link_interval=0))
    pair.bind()
    seqs = [pair.esme.send_request(submit(), pair.now, f"m{n}") for n in range(3)]
    received = submits(pair.to_smsc())
    assert [p.sequence for p in received] == seqs[:2]
    assert pair.smsc.unanswered_inbound == 2
    assert pair.to_esme() == [Submitted("m2", S.ESME_RMSGQFUL, "")]

    pair.smsc.respond(SubmitSmResp(seqs[0], 0, "a"))
    later = pair.esme.send_request(submit(), pair.now, "m3")
    assert [p.sequence for p in submits(pair.to_smsc())] == [later]
    assert pair.smsc.unanswered_inbound == 2


def test_inbound_window_applies_to_pdus_held_behind_the_bind() -> None:
    smsc = Session(Role.SMSC, SessionConfig(inbound_window=2))
    stream = b"".join(codec.encode(p) for p in [BindTransceiver(1, 0, "e", "p"), submit(2),
                                                 submit(3), submit(4)])
    (bind,) = smsc.receive_data(stream, 0.0)
    assert isinstance(bind, BindTransceiver)
    held = submits(smsc.accept_bind(bind, "chapar", 0.0))
    assert [p.sequence for p in held] == [2, 3]
    assert [f[:3] for f in frames(smsc.data_to_send())] == [
        (C.BIND_TRANSCEIVER_RESP, 0, 1), (C.SUBMIT_SM_RESP, S.ESME_RMSGQFUL, 4)]


# --- repeated garbage -----------------------------------------------------------------


def _bad_submit(seq: int) -> bytes:
    body = codec.encode_body(submit(seq)).replace(b"989121234567\0", b"9" * 30 + b"\0")
    return codec.encode_frame(C.SUBMIT_SM, 0, seq, body)


def test_max_consecutive_errors_closes() -> None:
    pair = SessionPair(SessionConfig(max_consecutive_errors=3, enquire_link_interval=0))
    pair.bind()
    smsc = pair.smsc
    assert smsc.receive_data(_bad_submit(10) + _bad_submit(11), pair.now) == []
    # a good PDU resets the count
    (good,) = submits(smsc.receive_data(codec.encode(submit(12)), pair.now))
    assert good.sequence == 12
    assert smsc.receive_data(_bad_submit(13) + _bad_submit(14), pair.now) == []
    assert state_of(smsc) is State.BOUND_TRX
    events = smsc.receive_data(_bad_submit(15) + codec.encode(submit(16)), pair.now)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert state_of(smsc) is State.CLOSED
    assert [f[:3] for f in frames(smsc.data_to_send())] == [
        (C.SUBMIT_SM_RESP, S.ESME_RINVDSTADR, s) for s in (10, 11, 13, 14, 15)]
    assert smsc.next_deadline() is None


def test_repeated_unknown_commands_close() -> None:
    smsc = Session(Role.SMSC, SessionConfig(max_consecutive_errors=2))
    raw = codec.encode_frame(0x77, 0, 1, b"") + codec.encode_frame(0x78, 0, 2, b"")
    events = smsc.receive_data(raw, 0.0)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert state_of(smsc) is State.CLOSED


# --- timers ---------------------------------------------------------------------------


def test_session_init_timeout() -> None:
    smsc = Session(Role.SMSC, SessionConfig(session_init_timeout=30), now=100.0)
    assert smsc.next_deadline() == 130.0
    assert smsc.handle_timer(129.9) == []
    assert state_of(smsc) is State.OPEN
    events = smsc.handle_timer(130.0)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert state_of(smsc) is State.CLOSED
    assert smsc.next_deadline() is None


def test_session_init_timer_is_smsc_only_and_stops_at_bind() -> None:
    cfg = SessionConfig(session_init_timeout=30, enquire_link_interval=0, inactivity_timeout=0)
    assert Session(Role.ESME, cfg).next_deadline() is None
    pair = SessionPair(cfg)
    pair.advance(10)
    pair.bind()
    assert pair.smsc.next_deadline() is None
    assert pair.smsc.handle_timer(1000.0) == []
    assert state_of(pair.smsc) is State.BOUND_TRX


def test_enquire_link_sent_after_idle_interval() -> None:
    cfg = SessionConfig(enquire_link_interval=30, inactivity_timeout=300, response_timeout=60)
    pair = SessionPair(cfg)
    pair.bind()
    smsc = pair.smsc
    assert smsc.next_deadline() == 30.0
    assert smsc.handle_timer(29.0) == []
    assert smsc.data_to_send() == b""

    pair.now = 20.0  # traffic from the peer pushes the deadline back
    assert smsc.receive_data(codec.encode(EnquireLink(9)), pair.now) == []
    smsc.data_to_send()
    assert smsc.next_deadline() == 50.0

    pair.now = 50.0
    assert smsc.handle_timer(pair.now) == []
    out = frames(smsc.data_to_send())
    assert [(cid, status) for cid, status, _, _ in out] == [(C.ENQUIRE_LINK, 0)]
    assert smsc.outstanding == 1
    # only one probe at a time; the next deadline is its response timeout
    assert smsc.next_deadline() == 110.0
    assert smsc.handle_timer(60.0) == []
    assert smsc.data_to_send() == b""

    pair.now = 51.0
    reply = pair.esme.receive_data(codec.encode_frame(C.ENQUIRE_LINK, 0, out[0][2], b""),
                                   pair.now)
    assert reply == []
    assert smsc.receive_data(pair.esme.data_to_send(), pair.now) == []  # not for the app
    assert smsc.outstanding == 0
    assert smsc.next_deadline() == 81.0


def test_missing_enquire_link_resp_closes() -> None:
    pair = SessionPair(SessionConfig(enquire_link_interval=30, response_timeout=60))
    pair.bind()
    esme = pair.esme
    assert esme.handle_timer(30.0) == []
    assert frames(esme.data_to_send())[0][0] == C.ENQUIRE_LINK
    assert esme.next_deadline() == 90.0
    assert esme.handle_timer(89.9) == []
    events = esme.handle_timer(90.0)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert state_of(esme) is State.CLOSED
    assert esme.next_deadline() is None


def test_response_timeout_reports_timed_out_and_keeps_the_request() -> None:
    pair = SessionPair(SessionConfig(enquire_link_interval=0, inactivity_timeout=0,
                                     response_timeout=60))
    pair.bind()
    esme = pair.esme
    assert esme.next_deadline() is None
    s1 = esme.send_request(submit(), 5.0, "msg-1")
    s2 = esme.send_request(submit(), 20.0, "msg-2")
    esme.data_to_send()
    assert esme.next_deadline() == 65.0
    assert esme.handle_timer(64.9) == []
    assert esme.handle_timer(65.0) == [TimedOut("msg-1", C.SUBMIT_SM, s1)]
    # still in the window, and the carrier is asked at once whether it is alive
    assert (esme.outstanding, esme.late) == (2, 1)  # msg-2 and the enquire_link; msg-1
    assert esme.window_free == esme.config.window - 3
    assert [f[0] for f in frames(esme.data_to_send())] == [C.ENQUIRE_LINK]
    assert esme.outstanding_contexts() == ["msg-2", None, "msg-1"]
    assert esme.next_deadline() == 80.0
    assert esme.handle_timer(80.0) == [TimedOut("msg-2", C.SUBMIT_SM, s2)]
    assert esme.data_to_send() == b""  # one enquire_link outstanding is enough
    assert state_of(esme) is State.BOUND_TRX
    # the late answers still count, as the in-time ones do
    assert esme.receive_data(codec.encode(SubmitSmResp(s1, 0, "late")), 81.0) == [
        Submitted("msg-1", 0, "late")]
    assert esme.receive_data(codec.encode(GenericNack(s2, S.ESME_RSYSERR)), 82.0) == [
        Answered("msg-2", GenericNack(s2, S.ESME_RSYSERR))]
    assert esme.late == 0
    # a second answer to the same request matches nothing
    assert esme.receive_data(codec.encode(SubmitSmResp(s1, 0, "late")), 83.0) == [
        Unmatched(C.SUBMIT_SM_RESP, s1, 0)]


def test_unanswered_probe_after_a_timeout_closes() -> None:
    """A carrier frozen with TCP up: found one response_timeout after the first
    unanswered submit_sm, however long enquire_link_interval is."""
    esme = SessionPair(SessionConfig(enquire_link_interval=300, inactivity_timeout=0,
                                     response_timeout=10))
    esme.bind()
    session = esme.esme
    seq = session.send_request(submit(), 0.0, "msg")
    session.data_to_send()
    assert session.handle_timer(10.0) == [TimedOut("msg", C.SUBMIT_SM, seq)]
    assert [f[0] for f in frames(session.data_to_send())] == [C.ENQUIRE_LINK]
    assert session.next_deadline() == 20.0
    events = session.handle_timer(20.0)
    assert events == [MustClose("no answer to ENQUIRE_LINK")]
    assert state_of(session) is State.CLOSED
    assert session.abandon() == ["msg"]  # sent again elsewhere: never lost


def test_answered_probe_keeps_the_session_and_the_late_request() -> None:
    pair = SessionPair(SessionConfig(enquire_link_interval=300, inactivity_timeout=0,
                                     response_timeout=10))
    pair.bind()
    seq = pair.esme.send_request(submit(), 0.0, "msg")
    pair.to_smsc()
    pair.smsc.data_to_send()  # the carrier is slow: no submit_sm_resp yet
    pair.now = 10.0
    assert pair.esme.handle_timer(10.0) == [TimedOut("msg", C.SUBMIT_SM, seq)]
    assert pair.to_smsc() == []  # enquire_link, answered by the core
    assert pair.to_esme() == []
    assert pair.esme.next_deadline() == 310.0
    assert pair.esme.handle_timer(25.0) == []
    assert state_of(pair.esme) is State.BOUND_TRX
    assert pair.esme.receive_data(codec.encode(SubmitSmResp(seq, 0, "c1")), 26.0) == [
        Submitted("msg", 0, "c1")]


def test_window_full_of_late_requests_closes() -> None:
    """The carrier answers enquire_link but not these: once every place in the window
    has waited a response_timeout past its own, the session ends and they go elsewhere."""
    pair = SessionPair(SessionConfig(window=2, enquire_link_interval=300,
                                     inactivity_timeout=0, response_timeout=10))
    pair.bind()
    seqs = [pair.esme.send_request(submit(), 0.0, f"m{n}") for n in range(2)]
    pair.to_smsc()
    pair.smsc.data_to_send()
    pair.now = 10.0
    assert pair.esme.handle_timer(10.0) == [TimedOut(f"m{n}", C.SUBMIT_SM, s)
                                            for n, s in enumerate(seqs)]
    assert pair.esme.window_free == -1  # the enquire_link probe takes a place too
    pair.now = 11.0
    assert pair.to_smsc() == [] and pair.to_esme() == []  # the probe is answered
    assert pair.esme.next_deadline() == 20.0
    assert pair.esme.handle_timer(19.9) == []
    assert pair.esme.handle_timer(20.0) == [
        MustClose("window full of requests past response_timeout")]
    assert pair.esme.abandon() == ["m0", "m1"]


def test_smsc_side_forgets_timed_out_requests() -> None:
    """Towards ESMEs a deliver_sm past its timeout is handed back at once (the receipt is
    queued again); its late answer matches nothing."""
    pair = SessionPair(SessionConfig(enquire_link_interval=0, inactivity_timeout=0,
                                     response_timeout=10))
    pair.bind()
    seq = pair.smsc.send_request(deliver(), 0.0, "dlr")
    pair.smsc.data_to_send()
    assert pair.smsc.handle_timer(10.0) == [TimedOut("dlr", C.DELIVER_SM, seq)]
    assert (pair.smsc.outstanding, pair.smsc.late) == (0, 0)
    assert pair.smsc.data_to_send() == b""
    assert pair.smsc.receive_data(codec.encode(DeliverSmResp(seq, 0)), 11.0) == [
        Unmatched(C.DELIVER_SM_RESP, seq, 0)]


def test_bind_response_timeout_closes() -> None:
    esme = Session(Role.ESME, SessionConfig(response_timeout=10))
    esme.bind(BindTransmitter(system_id="esme1"), 0.0, "bind")
    assert esme.next_deadline() == 10.0
    events = esme.handle_timer(10.0)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert state_of(esme) is State.CLOSED


def test_inactivity_unbinds_then_closes_without_unbind_resp() -> None:
    pair = SessionPair(SessionConfig(enquire_link_interval=0, inactivity_timeout=300,
                                     unbind_timeout=5))
    pair.bind()
    smsc = pair.smsc
    assert smsc.next_deadline() == 300.0
    assert smsc.handle_timer(299.0) == []
    assert smsc.handle_timer(300.0) == []
    assert state_of(smsc) is State.UNBINDING
    assert [f[0] for f in frames(smsc.data_to_send())] == [C.UNBIND]
    assert smsc.next_deadline() == 305.0
    assert smsc.handle_timer(304.9) == []
    events = smsc.handle_timer(305.0)
    assert len(events) == 1
    assert isinstance(events[0], MustClose)
    assert state_of(smsc) is State.CLOSED
    assert smsc.next_deadline() is None


def test_inactivity_unbind_answered_is_clean() -> None:
    pair = SessionPair(SessionConfig(enquire_link_interval=0, inactivity_timeout=300))
    pair.bind()
    pair.now = 300.0
    assert pair.smsc.handle_timer(pair.now) == []
    assert pair.to_esme() == [Unbound(by_peer=True)]
    assert pair.to_smsc() == [Unbound(by_peer=False)]


def test_next_deadline_is_none_when_closed() -> None:
    session = Session(Role.SMSC, SessionConfig(session_init_timeout=30))
    assert session.next_deadline() is not None
    session.abandon()
    assert session.next_deadline() is None
    assert session.handle_timer(1e9) == []


# --- abandon, sequences ---------------------------------------------------------------


def test_abandon_returns_outstanding_contexts() -> None:
    pair = SessionPair()
    pair.bind()
    for n in range(4):
        pair.esme.send_request(submit(), pair.now, f"ctx-{n}")
    pair.to_smsc()
    pair.smsc.respond(SubmitSmResp(3, 0, "done"))  # the second request (ctx-1)
    assert len(pair.to_esme()) == 1
    assert pair.esme.abandon() == ["ctx-0", "ctx-2", "ctx-3"]
    assert state_of(pair.esme) is State.CLOSED
    assert pair.esme.outstanding == 0
    assert pair.esme.abandon() == []


def test_sequence_numbers_start_at_1_and_wrap_to_1() -> None:
    pair = SessionPair()
    answered = pair.bind()
    assert answered.response.sequence == 1
    # 2**31 requests are not practical; start from the last valid sequence number
    pair.esme._next_seq = 0x7FFFFFFF
    seqs = [pair.esme.send_request(submit(), pair.now, n) for n in range(3)]
    assert seqs == [0x7FFFFFFF, 1, 2]
    received = submits(pair.to_smsc())
    assert [p.sequence for p in received] == seqs
    for p in received:
        pair.smsc.respond(SubmitSmResp(p.sequence, 0, f"id{p.sequence}"))
    # each answer reaches the request of its sequence number, across the wrap
    assert pair.to_esme() == [Submitted(0, 0, f"id{0x7FFFFFFF}"), Submitted(1, 0, "id1"),
                              Submitted(2, 0, "id2")]
    assert pair.esme.outstanding == 0


def test_send_frame_relays_an_encoded_body() -> None:
    pair = SessionPair()
    pair.bind()
    original = submit(0, b"relayed")
    seq = pair.esme.send_frame(C.SUBMIT_SM, codec.encode_body(original), pair.now, "relay")
    (got,) = pair.to_smsc()
    assert isinstance(got, Submit)
    assert got.sequence == seq
    assert got.body == codec.encode_body(original)
    assert got.decode().short_message == b"relayed"
    assert pair.esme.window_free == pair.esme.config.window - 1
    pair.smsc.respond(SubmitSmResp(seq, 0, "relay-id"))
    assert pair.to_esme() == [Submitted("relay", 0, "relay-id")]
    assert pair.esme.window_free == pair.esme.config.window
    with pytest.raises(LocalProtocolError):
        pair.esme.send_frame(C.DELIVER_SM, b"", pair.now, None)


# --- the hot-path events: Submit and Submitted ----------------------------------------


def test_submit_fields_match_the_decoded_submit_sm() -> None:
    pair = SessionPair()
    pair.bind()
    original = SubmitSm(0, service_type="CMT", source_addr_ton=5, source_addr_npi=0,
                        source_addr="Chapar", dest_addr_ton=1, dest_addr_npi=1,
                        destination_addr="989121234567", esm_class=0x40,
                        registered_delivery=1, data_coding=8,
                        short_message="\u0633\u0644\u0627\u0645".encode("utf-16-be"),
                        tlvs=[(Tag.SAR_MSG_REF_NUM, b"\x00\x07"),
                              (Tag.SAR_TOTAL_SEGMENTS, b"\x02"),
                              (Tag.SAR_SEGMENT_SEQNUM, b"\x01"),
                              (0x1400, b"vendor")])
    seq = pair.esme.send_request(original, pair.now, "m")
    (got,) = submits(pair.to_smsc())
    decoded = got.decode()
    assert decoded == original  # send_request set original.sequence
    assert (got.sequence, got.source_addr, got.destination_addr, got.registered_delivery) == (
        decoded.sequence, decoded.source_addr, decoded.destination_addr,
        decoded.registered_delivery)
    assert got.sequence == seq
    assert got.body == decoded.wire == codec.encode_body(original)
    assert pair.smsc.unanswered_inbound == 1


def _cut_body() -> bytes:
    return codec.encode_body(submit(0, b"a longer text"))[:-3]


def _with_tlvs(tlvs: bytes) -> bytes:
    return codec.encode_body(submit(0)) + tlvs


@pytest.mark.parametrize(("body", "status"), [
    pytest.param(_cut_body(), S.ESME_RINVMSGLEN, id="short_message-cut"),
    pytest.param(codec.encode_body(submit(0))[:20], S.ESME_RINVMSGLEN, id="mandatory-cut"),
    pytest.param(_with_tlvs(b"\x02\x04\x00"), S.ESME_RINVOPTPARSTREAM, id="tlv-header-cut"),
    pytest.param(_with_tlvs(b"\x02\x04\x00\x05ab"), S.ESME_RINVOPTPARSTREAM,
                 id="tlv-runs-past"),
    pytest.param(_with_tlvs(b"\x02\x04\x00\x01a"), S.ESME_RINVPARLEN, id="tlv-wrong-size"),
])
def test_malformed_submit_gets_the_decoder_status_not_a_submit(body: bytes,
                                                              status: int) -> None:
    pair = SessionPair()
    pair.bind()
    with pytest.raises(DecodeError) as caught:  # the full decoder agrees
        codec.decode(C.SUBMIT_SM, 0, 21, body)
    assert caught.value.status == status
    raw = codec.encode_frame(C.SUBMIT_SM, 0, 21, body)
    assert pair.smsc.receive_data(raw, pair.now) == []
    assert pair.smsc.data_to_send() == header_only(C.SUBMIT_SM_RESP, status, 21)
    assert pair.smsc.unanswered_inbound == 0
    # a good one right after still comes through as a Submit
    assert [p.sequence for p in submits(pair.smsc.receive_data(codec.encode(submit(22)),
                                                               pair.now))] == [22]


@pytest.mark.parametrize("via", ["send_request", "send_frame"])
def test_generic_nack_to_a_submit_sm_is_answered_with_the_context(via: str) -> None:
    pair = SessionPair(SessionConfig(window=2, enquire_link_interval=0))
    pair.bind()
    if via == "send_request":
        seq = pair.esme.send_request(submit(), pair.now, "ctx")
    else:
        seq = pair.esme.send_frame(C.SUBMIT_SM, codec.encode_body(submit()), pair.now, "ctx")
    assert [p.sequence for p in submits(pair.to_smsc())] == [seq]
    assert pair.esme.window_free == 1
    pair.smsc.respond(GenericNack(seq, S.ESME_RSYSERR))
    assert pair.to_esme() == [Answered("ctx", GenericNack(seq, S.ESME_RSYSERR))]
    assert pair.esme.window_free == 2
    assert pair.esme.outstanding == 0


# --- defects found while writing these tests (see the report) -------------------------


def test_deliver_sm_in_the_same_read_as_bind_resp_reaches_the_esme() -> None:
    pair = SessionPair()
    pair.esme.bind(BindTransceiver(system_id="esme1", password="secret12"), pair.now, "bind")
    (bind,) = pair.to_smsc()
    assert isinstance(bind, BindTransceiver)
    pair.smsc.accept_bind(bind, "chapar", pair.now)
    pair.smsc.send_request(deliver(), pair.now, "dlr")  # a queued receipt, right away
    events = pair.to_esme()  # one TCP read carries both PDUs
    assert [type(e) for e in events] == [Answered, Deliver]
    assert pair.esme.data_to_send() == b""


def test_response_of_the_wrong_type_does_not_lose_the_context() -> None:
    pair = SessionPair(SessionConfig(enquire_link_interval=0, inactivity_timeout=0,
                                     response_timeout=60))
    pair.bind()
    seq = pair.esme.send_request(submit(), pair.now, "msg")
    events = pair.esme.receive_data(codec.encode(DeliverSmResp(seq, 0, "")), pair.now)
    events += pair.esme.handle_timer(pair.now + 60)
    assert [e.context for e in events if isinstance(e, Answered | TimedOut)] == ["msg"]
