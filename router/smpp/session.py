"""The SMPP session state machine, sans-IO.

One class serves both ends: ``Role.SMSC`` (Chapar towards its ESMEs, and the simulator)
and ``Role.ESME`` (Chapar towards a carrier).  It never touches a socket or a clock:
``receive_data(data, now)`` returns every event of a read at once, ``data_to_send()``
returns the bytes to write, and timers are deadlines (``next_deadline()`` /
``handle_timer(now)``).  Everything that changes the session state lives here, which is
why this module is over 400 lines (h11's rule 1: one place for the state machine).

Protocol chores never reach the application: enquire_link and unbind are answered,
PDUs not allowed in the current state get ESME_RINVBNDSTS, unknown commands get
generic_nack, undecodable bodies get their response with the decoder's status, and
too many of those in a row ask for the connection to close.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from router.smpp import codec
from router.smpp.codec import Submit as Submit  # an event of this session
from router.smpp.deliver import Deliver as Deliver  # an event of this session
from router.smpp.deliver import scan_deliver
from router.smpp.framing import FrameReader
from router.smpp.pdu import (
    BIND_RESPONSE,
    RESPONSE_BIT,
    BindRequest,
    CommandId,
    CommandStatus,
    DecodeError,
    FramingError,
    Pdu,
    Tag,
)

C = CommandId
S = CommandStatus


class Role(Enum):
    SMSC = "smsc"
    ESME = "esme"


class State(Enum):
    OPEN = "open"
    BIND_PENDING = "bind_pending"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"


BOUND_STATE = {
    C.BIND_TRANSMITTER: State.BOUND_TX,
    C.BIND_RECEIVER: State.BOUND_RX,
    C.BIND_TRANSCEIVER: State.BOUND_TRX,
}
BOUND = frozenset(BOUND_STATE.values())
_BINDS = frozenset(BOUND_STATE)

# Requests a peer may send us, by (our role, our state).  enquire_link and unbind are
# handled by the session in every bound state and are not listed.
_MT = frozenset({C.SUBMIT_SM, C.SUBMIT_MULTI, C.DATA_SM, C.QUERY_SM, C.CANCEL_SM,
                 C.REPLACE_SM})
_MO = frozenset({C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION})
ALLOWED_REQUESTS: dict[tuple[Role, State], frozenset[int]] = {
    (Role.SMSC, State.OPEN): _BINDS,
    (Role.SMSC, State.BOUND_TX): _MT,
    (Role.SMSC, State.BOUND_RX): frozenset(),
    (Role.SMSC, State.BOUND_TRX): _MT,
    (Role.ESME, State.OPEN): frozenset({C.OUTBIND}),
    (Role.ESME, State.BOUND_TX): frozenset(),
    (Role.ESME, State.BOUND_RX): _MO,
    (Role.ESME, State.BOUND_TRX): _MO,
}
# Requests we may send, by (our role, our state).
ALLOWED_SENDS: dict[tuple[Role, State], frozenset[int]] = {
    (Role.SMSC, State.BOUND_RX): frozenset({C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION}),
    (Role.SMSC, State.BOUND_TRX): frozenset({C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION}),
    (Role.ESME, State.BOUND_TX): _MT,
    (Role.ESME, State.BOUND_TRX): _MT,
}
_NO_RESPONSE = frozenset({C.OUTBIND, C.ALERT_NOTIFICATION, C.GENERIC_NACK})
# NamedTuple(...) runs a Python-level __new__ (~0.2 µs); tuple.__new__ builds the same
# instance in C.  Used on the hot path only, with the fields in declaration order.
_new_tuple = tuple.__new__
# Plain ints for the hot path: comparing with an IntEnum member costs a lookup each time.
_SUBMIT_SM = int(C.SUBMIT_SM)
_SUBMIT_SM_RESP = int(C.SUBMIT_SM_RESP)
_DELIVER_SM = int(C.DELIVER_SM)
_DELIVER_SM_RESP = int(C.DELIVER_SM_RESP)
_INLINE_ANSWERS = {_SUBMIT_SM_RESP: _SUBMIT_SM, _DELIVER_SM_RESP: _DELIVER_SM}
"""Answers matched to their request in ``_process`` itself: one per message each way."""
V50 = 0x50
"""interface_version of SMPP 5.0 (node-smpp binds with it by default)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """Limits and timers; seconds.  0 disables a timer."""

    max_pdu_length: int = 64 * 1024
    """A longer command_length is answered ESME_RINVCMDLEN and the session closed."""
    window: int = 64
    """Our requests outstanding at most (submit_sm upstream, deliver_sm to ESMEs)."""
    inbound_window: int = 1024
    """Peer requests we hold unanswered before answering ESME_RMSGQFUL."""
    session_init_timeout: float = 30.0
    """From connect to a bind (SMSC side)."""
    enquire_link_interval: float = 30.0
    """Idle time after which we send enquire_link."""
    inactivity_timeout: float = 5 * 60.0
    """Idle time after which the session is closed."""
    response_timeout: float = 60.0
    """How long a request of ours waits for its answer."""
    unbind_timeout: float = 5.0
    """How long our unbind waits for unbind_resp before closing anyway."""
    max_consecutive_errors: int = 8
    """Malformed or unknown PDUs in a row before the session is closed."""
    pdu_timeout: float = 10.0
    """A PDU begun must be complete within this time while we read (a peer trickling
    bytes is closed; inactivity_timeout never sees it idle)."""
    max_pdus_per_read: int = 0
    """PDUs processed per ``receive_data`` at most (0: all); the rest wait in the framing
    buffer (``backlog``) for a later call, so one connection cannot hold the loop."""


class Answered(NamedTuple):
    """The peer answered a request we sent with ``send_request``."""

    context: object
    response: Pdu


class Submitted(NamedTuple):
    """A carrier answered one of our submit_sm (the hot path's ``Answered``)."""

    context: object
    status: int
    message_id: str


class Delivered(NamedTuple):
    """A peer answered one of our deliver_sm (the receipt path's ``Answered``; a
    generic_nack still comes as ``Answered``)."""

    context: object
    status: int


class TimedOut(NamedTuple):
    """A request of ours got no answer within response_timeout.  On the ESME side the
    session still remembers it until the session ends (``late``): an answer that comes
    after all is reported as usual, and the request keeps its place in the window."""

    context: object
    command_id: int
    sequence: int


class Unbound(NamedTuple):
    """The session ended cleanly; close the transport once the output is written."""

    by_peer: bool


class MustClose(NamedTuple):
    """The connection cannot go on (framing lost, timers, repeated garbage)."""

    reason: str


class Unmatched(NamedTuple):
    """A response whose sequence number matches no request of ours outstanding (late,
    unsolicited, or of the wrong kind).  Nothing waits for it; count it and log samples."""

    command_id: int
    sequence: int
    status: int


Event = (Pdu | Submit | Deliver | Submitted | Delivered | Answered | TimedOut | Unbound
         | MustClose | Unmatched)


# The hot path's events, built without decoding a PDU: requests scanned into a tuple of
# the fields the relay needs, and the answers to our own submit_sm / deliver_sm.
_SCANNERS: dict[int, Callable[[int, bytes], Submit | Deliver]] = {
    _SUBMIT_SM: codec.scan_submit, _DELIVER_SM: scan_deliver}


class LocalProtocolError(Exception):
    """The application asked the session for something SMPP does not allow now."""


class Session:
    __slots__ = (
        "_allowed",
        "_allowed_in",
        "_enquiring",
        "_errors",
        "_held",
        "_inbound",
        "_last_rx",
        "_late",
        "_next_seq",
        "_opened_at",
        "_out",
        "_outstanding",
        "_pdu_started",
        "_reader",
        "_reading",
        "_sendable",
        "_unbind_sent_at",
        "config",
        "interface_version",
        "role",
        "state",
        "system_id",
    )

    def __init__(self, role: Role, config: SessionConfig | None = None, *,
                 now: float = 0.0) -> None:
        self.role = role
        self.config = config or SessionConfig()
        self.state = State.OPEN
        self.system_id = ""
        self.interface_version = 0x34
        """The bind's (SMSC side): 0x50 and above is an SMPP 5.0 session, which may get
        5.0 TLVs (congestion_state); a 3.4 one never does."""
        self._reader = FrameReader(self.config.max_pdu_length, self.config.max_pdus_per_read)
        self._out: list[bytes] = []
        self._next_seq = 1
        self._outstanding: dict[int, tuple[float, int, object]] = {}
        self._late: dict[int, tuple[float, int, object]] = {}
        """ESME side: requests past response_timeout, by sequence, with when they timed
        out; kept until the session ends so that a late answer still counts."""
        self._inbound = 0
        self._opened_at = now
        self._last_rx = now
        self._errors = 0
        self._held: list[tuple[int, int, int, bytes]] | None = None
        self._enquiring = False
        self._unbind_sent_at = 0.0
        self._pdu_started: float | None = None
        self._reading = True
        self._allowed_in: State | None = None
        """The state ``_allowed`` and ``_sendable`` (the requests it takes and may send)
        were looked up for: hashing the (role, state) key runs two Python-level
        ``Enum.__hash__`` calls, now once per state instead of per read and batch."""
        self._allowed: frozenset[int] = frozenset()
        self._sendable: frozenset[int] = frozenset()

    # --- inspection -----------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self.state in BOUND

    @property
    def v5(self) -> bool:
        return self.interface_version >= V50

    @property
    def can_submit(self) -> bool:
        return bool(self._sends_allowed())  # no state allows an empty set of sends

    @property
    def window_free(self) -> int:
        return self.config.window - len(self._outstanding) - len(self._late)

    @property
    def outstanding(self) -> int:
        """Requests sent and not answered, not yet past response_timeout."""
        return len(self._outstanding)

    @property
    def late(self) -> int:
        """Requests past response_timeout and still unanswered (ESME side)."""
        return len(self._late)

    @property
    def unanswered_inbound(self) -> int:
        return self._inbound

    @property
    def backlog(self) -> bool:
        """Complete PDUs wait behind ``max_pdus_per_read``: call ``receive_data(b"", now)``."""
        return self._reader.backlog

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    # --- input ----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        self._last_rx = now
        if self.state is State.CLOSED:
            self._reader.clear()
            return []
        reader = self._reader
        try:
            frames = reader.feed(data)
        except FramingError as exc:
            self._nack(exc.sequence, exc.status)
            self.state = State.CLOSED
            return [MustClose(str(exc))]
        if not reader.buffered:
            self._pdu_started = None
        elif frames or self._pdu_started is None:
            self._pdu_started = now
        if self._held is not None:
            self._held.extend(frames)
            if len(self._held) > self.config.inbound_window:
                self.state = State.CLOSED
                return [MustClose("too many PDUs pipelined behind a pending bind")]
            return []
        return self._process(frames, now)

    def _process(self, frames: list[tuple[int, int, int, bytes]], now: float
                 ) -> list[Event]:
        events: list[Event] = []
        add = events.append
        allowed = self._requests_allowed()
        outstanding = self._outstanding
        late = self._late
        inbound_window = self.config.inbound_window
        for index, (command_id, status, seq, body) in enumerate(frames):
            sent = _INLINE_ANSWERS.get(command_id)
            if sent is not None:  # submit_sm_resp, deliver_sm_resp: the hot answers, inline
                entry = outstanding.get(seq) or late.get(seq)  # late: past its timeout
                if entry is not None and entry[1] == sent:
                    del (outstanding if seq in outstanding else late)[seq]
                    if sent == _SUBMIT_SM:
                        end = body.find(0)
                        add(_new_tuple(Submitted, (entry[2], status, (
                            body[:end] if end >= 0 else body).decode("latin-1"))))
                    else:  # our receipts and MO: no PDU built per answer
                        add(_new_tuple(Delivered, (entry[2], status)))
                    continue
            elif command_id in allowed and command_id in _SCANNERS:  # submit_sm, deliver_sm
                if self._inbound >= inbound_window:
                    self._reject(command_id, seq, S.ESME_RMSGQFUL)
                    continue
                try:
                    event = _SCANNERS[command_id](seq, body)
                except DecodeError as exc:
                    if self._malformed(command_id, seq, exc, events):
                        break
                    continue
                self._errors = 0
                self._inbound += 1
                add(event)
                continue
            if command_id & RESPONSE_BIT:
                if self._on_response(command_id, status, seq, body, events):
                    break
                # a bind_resp may have changed the state: what follows may be allowed now
                allowed = self._requests_allowed()
                continue
            if self._on_request(command_id, status, seq, body, command_id in allowed, events):
                self._hold_behind_bind(frames, index)
                break
        return events

    def _hold_behind_bind(self, frames: list[tuple[int, int, int, bytes]], index: int
                          ) -> None:
        """Reading stopped at ``frames[index]``: behind a bind, the rest wait for it."""
        if self.state is State.BIND_PENDING:
            self._held = frames[index + 1:]

    def _requests_allowed(self) -> frozenset[int]:
        state = self.state
        if state is not self._allowed_in:
            self._allowed_in = state
            key = (self.role, state)
            self._allowed = ALLOWED_REQUESTS.get(key, frozenset())
            self._sendable = ALLOWED_SENDS.get(key, frozenset())
        return self._allowed

    def _sends_allowed(self) -> frozenset[int]:
        if self.state is not self._allowed_in:
            self._requests_allowed()
        return self._sendable

    def _on_request(self, command_id: int, status: int, seq: int, body: bytes,
                    allowed: bool, events: list[Event]) -> bool:
        """A request other than submit_sm; True when reading must stop here (a bind to
        decide, an unbind, or too much garbage)."""
        if allowed:
            if self._inbound >= self.config.inbound_window and command_id not in _BINDS:
                self._reject(command_id, seq, S.ESME_RMSGQFUL)
                return False
            try:
                pdu = codec.decode(command_id, status, seq, body)
            except DecodeError as exc:
                return self._malformed(command_id, seq, exc, events)
            self._errors = 0
            events.append(pdu)
            if command_id in _BINDS:
                self.state = State.BIND_PENDING
                return True
            if command_id not in _NO_RESPONSE:
                self._inbound += 1
        elif command_id == C.ENQUIRE_LINK:
            self._out.append(codec.encode_frame(C.ENQUIRE_LINK_RESP, 0, seq, b""))
        elif command_id == C.UNBIND and self.state is not State.OPEN:
            self._out.append(codec.encode_frame(C.UNBIND_RESP, 0, seq, b""))
            self.state = State.CLOSED
            events.append(Unbound(by_peer=True))
            return True
        elif command_id not in codec.FIELDS:
            if self._error(C.GENERIC_NACK, seq, S.ESME_RINVCMDID):
                events.append(MustClose("repeated unknown command ids"))
                return True
        elif command_id in _BINDS and self.state is not State.OPEN:
            self._reject(command_id, seq, S.ESME_RALYBND)
        else:
            self._reject(command_id, seq, S.ESME_RINVBNDSTS)
        return False

    def _on_response(self, command_id: int, status: int, seq: int, body: bytes,
                     events: list[Event]) -> bool:
        """An answer to one of our requests; True when the session has just closed."""
        table = self._outstanding
        entry = table.get(seq)
        if entry is None and self._late:
            table = self._late
            entry = table.get(seq)
        if entry is None or (command_id != (entry[1] | RESPONSE_BIT)
                             and command_id != C.GENERIC_NACK):
            if command_id == C.ENQUIRE_LINK_RESP:
                self._enquiring = False
            # late (after its timeout), unsolicited, or the wrong kind (the request stays
            # outstanding and may time out): the transport counts and logs it
            events.append(_new_tuple(Unmatched, (command_id, seq, status)))
            return False
        _, sent_id, context = entry
        del table[seq]
        try:
            pdu = codec.decode(command_id, status, seq, body)
        except DecodeError:
            pdu = codec.decode(command_id, status, seq, b"")  # keep the status we got
        if sent_id == C.ENQUIRE_LINK:
            self._enquiring = False
            return False
        if sent_id in _BINDS and self.role is Role.ESME:
            self.state = BOUND_STATE[CommandId(sent_id)] if status == 0 else State.OPEN
        elif sent_id == C.UNBIND:
            self.state = State.CLOSED
            events.append(Unbound(by_peer=False))
            return True
        events.append(Answered(context, pdu))
        return False

    def _malformed(self, command_id: int, seq: int, exc: DecodeError, events: list[Event]
                   ) -> bool:
        """A request that does not decode; True (and a MustClose) after too many."""
        if self._error(command_id, seq, exc.status):
            events.append(MustClose(f"repeated malformed PDUs: {exc}"))
            return True
        return False

    def _error(self, command_id: int, seq: int, status: int) -> bool:
        """Answer a bad request; True when the peer has sent too many in a row."""
        self._reject(command_id, seq, status)
        self._errors += 1
        if self._errors >= self.config.max_consecutive_errors:
            self.state = State.CLOSED
            return True
        return False

    def _reject(self, command_id: int, seq: int, status: int) -> None:
        if command_id in _NO_RESPONSE or command_id not in codec.FIELDS:
            self._nack(seq, status)
        else:
            self._out.append(codec.encode_frame(command_id | RESPONSE_BIT, status, seq, b""))

    def _nack(self, seq: int, status: int) -> None:
        self._out.append(codec.encode_frame(C.GENERIC_NACK, status, seq, b""))

    # --- bind (SMSC side) -----------------------------------------------------------

    def accept_bind(self, bind: BindRequest, system_id: str, now: float) -> list[Event]:
        """Answer the pending bind with ROK and process what was pipelined behind it."""
        self._expect(State.BIND_PENDING)
        self.state = BOUND_STATE[bind.command_id]
        self.system_id = bind.system_id
        self.interface_version = V50 if bind.interface_version >= V50 else 0x34
        resp = BIND_RESPONSE[bind.command_id](
            bind.sequence, 0, system_id,
            [(Tag.SC_INTERFACE_VERSION, bytes((self.interface_version,)))])
        self._out.append(codec.encode(resp))
        held, self._held = self._held or [], None
        return self._process(held, now)

    def reject_bind(self, bind: BindRequest, status: int) -> None:
        """Refuse the pending bind; the caller closes once the answer is written."""
        self._expect(State.BIND_PENDING)
        self._out.append(codec.encode_frame(bind.command_id | RESPONSE_BIT, status,
                                            bind.sequence, b""))
        self._held = None
        self.state = State.CLOSED

    # --- output ---------------------------------------------------------------------

    def bind(self, pdu: BindRequest, now: float, context: object = None) -> int:
        """ESME side: send a bind; its answer comes back as ``Answered``."""
        if self.role is not Role.ESME:
            raise LocalProtocolError("only an ESME session binds")
        self._expect(State.OPEN)
        self.state = State.BIND_PENDING
        return self._send(pdu, now, context)

    def send_request(self, pdu: Pdu, now: float, context: object = None) -> int:
        """Queue a request; returns its sequence number.  Check ``window_free`` first."""
        if pdu.command_id not in self._sends_allowed():
            raise LocalProtocolError(f"{pdu.command_id.name} not allowed in {self.state.value}")
        return self._send(pdu, now, context)

    def send_frame(self, command_id: int, body: bytes, now: float, context: object) -> int:
        """Like send_request for a body already encoded (a relayed submit_sm)."""
        return self.send_frames(command_id, (body,), (context,), now)

    def send_frames(self, command_id: int, bodies: Sequence[bytes],
                    contexts: Sequence[object], now: float) -> int:
        """Many requests with encoded bodies, one context each; the first sequence."""
        if command_id not in self._sends_allowed():
            raise LocalProtocolError(f"0x{command_id:08x} not allowed in {self.state.value}")
        first = seq = self._next_seq
        outstanding = self._outstanding
        add = self._out.append
        pack = codec.HEADER.pack
        for body, context in zip(bodies, contexts, strict=True):
            outstanding[seq] = (now, command_id, context)
            add(pack(16 + len(body), command_id, 0, seq))
            add(body)
            seq = 1 if seq >= 0x7FFFFFFF else seq + 1
        self._next_seq = seq
        return first

    def _send(self, pdu: Pdu, now: float, context: object) -> int:
        seq = self._take_seq()
        pdu.sequence = seq
        self._outstanding[seq] = (now, pdu.command_id, context)
        self._out.append(codec.encode(pdu))
        return seq

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = 1 if seq >= 0x7FFFFFFF else seq + 1
        return seq

    def respond(self, pdu: Pdu) -> None:
        """Answer a request the application received; ``pdu.sequence`` is the request's."""
        self._inbound -= 1
        self._out.append(codec.encode(pdu))

    def respond_frames(self, frames: list[bytes]) -> None:
        """Answer many requests with responses already encoded (the hot path)."""
        self._inbound -= len(frames)
        self._out.extend(frames)

    def unbind(self, now: float) -> None:
        """Start a clean close: the ``Unbound`` event follows the peer's unbind_resp."""
        if self.state not in BOUND:
            self.state = State.CLOSED
            return
        self._send(codec.decode(C.UNBIND, 0, 0, b""), now, None)
        self.state = State.UNBINDING
        self._unbind_sent_at = now

    def outstanding_contexts(self) -> list[object]:
        """Every request still unanswered, late ones included."""
        return [context for table in (self._outstanding, self._late)
                for _, _, context in table.values()]

    def abandon(self) -> list[object]:
        """The connection is gone: the contexts of requests that will never be answered.
        Every buffer is freed (what was read and not parsed, what was not written)."""
        contexts = self.outstanding_contexts()
        self._outstanding.clear()
        self._late.clear()
        self._reader.clear()
        self._out.clear()
        self._held = None
        self._pdu_started = None
        self.state = State.CLOSED
        return contexts

    def set_reading(self, reading: bool, now: float) -> None:
        """The transport stopped or resumed reading: a PDU begun before a pause is given
        a whole ``pdu_timeout`` again from ``now`` (the peer could not send meanwhile)."""
        self._reading = reading
        if reading and self._pdu_started is not None:
            self._pdu_started = now

    def _expect(self, state: State) -> None:
        if self.state is not state:
            raise LocalProtocolError(f"session is {self.state.value}, not {state.value}")

    # --- timers ---------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        cfg = self.config
        state = self.state
        if state is State.CLOSED:
            return None
        if state is State.UNBINDING:
            return self._unbind_sent_at + cfg.unbind_timeout
        deadlines: list[float] = []
        if state is State.OPEN and self.role is Role.SMSC and cfg.session_init_timeout:
            deadlines.append(self._opened_at + cfg.session_init_timeout)
        if state in BOUND:
            if cfg.enquire_link_interval and not self._enquiring:
                deadlines.append(self._last_rx + cfg.enquire_link_interval)
            if cfg.inactivity_timeout:
                deadlines.append(self._last_rx + cfg.inactivity_timeout)
        if self._outstanding and cfg.response_timeout:
            oldest = next(iter(self._outstanding.values()))[0]
            deadlines.append(oldest + cfg.response_timeout)
        if self._stuck():
            deadlines.append(next(reversed(self._late.values()))[0] + cfg.response_timeout)
        if self._pdu_started is not None and self._reading and cfg.pdu_timeout:
            deadlines.append(self._pdu_started + cfg.pdu_timeout)
        return min(deadlines) if deadlines else None

    def _stuck(self) -> bool:
        """Every place in the window is held by a request past its timeout."""
        return bool(self._late) and not self._outstanding and self.window_free <= 0

    def handle_timer(self, now: float) -> list[Event]:
        cfg = self.config
        events: list[Event] = []
        if self.state is State.UNBINDING:
            if now >= self._unbind_sent_at + cfg.unbind_timeout:
                self.state = State.CLOSED
                events.append(MustClose("no unbind_resp"))
            return events
        if (self.state is State.OPEN and self.role is Role.SMSC and cfg.session_init_timeout
                and now >= self._opened_at + cfg.session_init_timeout):
            self.state = State.CLOSED
            return [MustClose("session_init_timer: no bind")]
        if (self._pdu_started is not None and self._reading and cfg.pdu_timeout
                and now >= self._pdu_started + cfg.pdu_timeout):
            self.state = State.CLOSED
            return [MustClose(f"PDU incomplete after {cfg.pdu_timeout:g} s")]
        if cfg.response_timeout:
            if self._expire(now, events):
                return events
            if self._stuck() and now >= (next(reversed(self._late.values()))[0]
                                         + cfg.response_timeout):
                self.state = State.CLOSED
                return [*events, MustClose("window full of requests past response_timeout")]
        if self.state in BOUND:
            idle = now - self._last_rx
            if cfg.inactivity_timeout and idle >= cfg.inactivity_timeout:
                self.unbind(now)
            elif cfg.enquire_link_interval and idle >= cfg.enquire_link_interval \
                    and not self._enquiring:
                self._enquiring = True
                self._send(codec.decode(C.ENQUIRE_LINK, 0, 0, b""), now, None)
        return events

    def _expire(self, now: float, events: list[Event]) -> bool:
        """Requests past response_timeout become ``TimedOut`` events; True when the
        session must close (an unanswered bind or enquire_link).  The ESME side keeps
        the others as late and checks the peer with an enquire_link at once: a carrier
        that has stopped answering is found one response_timeout later."""
        timeout = self.config.response_timeout
        expired = [(seq, entry) for seq, entry in self._outstanding.items()
                   if now >= entry[0] + timeout]
        keep = self.role is Role.ESME
        for seq, (_, command_id, context) in expired:
            del self._outstanding[seq]
            if command_id == C.ENQUIRE_LINK or command_id in _BINDS:
                self.state = State.CLOSED
                events.append(MustClose(f"no answer to {CommandId(command_id).name}"))
                return True
            events.append(TimedOut(context, command_id, seq))
            if keep:
                self._late[seq] = (now, command_id, context)
        if keep and expired and self.state in BOUND and not self._enquiring:
            self._enquiring = True
            self._send(codec.decode(C.ENQUIRE_LINK, 0, 0, b""), now, None)
        return False
