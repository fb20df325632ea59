"""Journal rows -> record rows: the submit_sm bodies decoded once, off the ack path.

Pure functions (no I/O): the follower feeds them what it read from the journal.
"""

from __future__ import annotations

import re
from typing import Final, Literal, NamedTuple

from router.smpp.codec import decode_tlvs, walk_short_message
from router.smpp.pdu import DecodeError
from router.smpp.segments import parse_udh, segment_count
from router.smpp.text import decode_text, gsm7_joined_ascii

TextPolicy = Literal["full", "digits", "none"]
"""What a record keeps of a message's text: all of it, the text with every digit
replaced by ``#`` (codes and amounts hidden, wording kept), or nothing."""

_UDHI = 0x40
_MESSAGE_PAYLOAD = 0x0424
_SAR_TOTAL = 0x020E
_SAR_SEQ = 0x020F
_DIGITS = re.compile(r"\d")
# submit_sm up to short_message in one C-level match: service_type, (source), (dest),
# (esm_class), protocol_id, priority, schedule, validity, (registered_delivery), replace,
# (data_coding), default_msg_id, (sm_length).  The field walk is the fallback.
_LAYOUT = re.compile(rb"[^\0]{0,5}\0..([^\0]{0,20})\0..([^\0]{0,20})\0(.)..[^\0]{0,16}\0"
                     rb"[^\0]{0,16}\0(.).(.).(.)", re.DOTALL)


class Record(NamedTuple):
    """The part of a record fixed when it is written (the hash chain covers it), by
    name: what ``record_of`` returns.  The follower's records are ``Row`` s."""

    message_id: int
    received_at: float
    account: str
    peer: str
    line: str
    destination: str
    text: str
    segments: int
    part: int
    """This submit's part number in a concatenated message (0: the whole message)."""
    receipt: int
    decision: str
    reason: str


Row = tuple[int, float, str, str, str, str, str, int, int, int, str, str]
"""A ``Record`` as a plain tuple, its fields in the same order.  The chain hashes it
with orjson, which writes no tuple subclass: a NamedTuple cost a copy a record (and
its own allocation), ~0.15 µs of the follower's ~5."""
MESSAGE_ID: Final = 0
RECEIVED_AT: Final = 1
DECISION: Final = 10


def keep_text(text: str, policy: TextPolicy) -> str:
    if policy == "full":
        return text
    if policy == "digits":
        return _DIGITS.sub("#", text)
    return ""


def _text(body: bytes, short: bytes, esm_class: int, coding: int,
          sm_end: int) -> tuple[str, int, int]:
    """(text, segments, part) of a submit: UDH concatenation, SAR TLVs, message_payload."""
    total, part, payload = 0, 0, False
    if esm_class & _UDHI:
        info, short = parse_udh(short)
        if info is not None:
            total, part = info.total, info.seq
    if sm_end < len(body):
        tlvs = dict(decode_tlvs(body, sm_end))
        if not short and _MESSAGE_PAYLOAD in tlvs:
            short, payload = tlvs[_MESSAGE_PAYLOAD], True
        if _SAR_TOTAL in tlvs and _SAR_SEQ in tlvs:
            total, part = tlvs[_SAR_TOTAL][0], tlvs[_SAR_SEQ][0]
    text = decode_text(short, coding)
    if total or not payload:  # one short_message is one SMS
        return text, total or 1, part
    try:  # message_payload: the carrier splits it as we would
        return text, segment_count(text, coding), 0
    except ValueError:
        return text, 1, 0


def _usual(body: bytes) -> tuple[bytes, bytes, int, int, bytes] | None:
    """(source, destination, registered_delivery, data_coding, short_message) of the
    usual submit (one short_message, no UDH, no TLV), else None."""
    match = _LAYOUT.match(body)
    if match is None:
        return None
    source, dest, esm, reg, dcs, length = match.groups()
    start = match.end()
    end = start + length[0]
    if esm[0] & _UDHI or end != len(body):
        return None
    return source, dest, reg[0], dcs[0], body[start:end]


def records_of(first_id: int, account: str, received_at: float, peer: str,
               bodies: list[bytes], policy: TextPolicy) -> list[Row]:
    """A journal batch's submits as records (ids from ``first_id``).  The usual submits'
    texts are decoded together (``gsm7_joined_ascii``: one C call, not three Python
    calls a message, ~0.24 µs a record less); the others one by one (``record_of``)."""
    layouts = [_usual(body) for body in bodies]
    usual = [layout for layout in layouts if layout is not None]
    joined = gsm7_joined_ascii([u[4] for u in usual], [u[3] for u in usual]) if usual else None
    texts = iter(joined.split("\0")) if joined is not None else None
    out: list[Row] = []
    append = out.append
    for offset, layout in enumerate(layouts):
        if layout is None:
            append(_record_of(first_id + offset, account, received_at, peer, bodies[offset],
                              policy))
            continue
        source, dest, registered, coding, short = layout
        text = next(texts) if texts is not None else decode_text(short, coding)
        if policy != "full":
            text = keep_text(text, policy)
        append((first_id + offset, received_at, account, peer, source.decode("latin-1"),
                dest.decode("latin-1"), text, 1, 0, 1 if registered & 3 else 0, "accepted",
                ""))
    return out


def record_of(message_id: int, account: str, received_at: float, peer: str, body: bytes,
              policy: TextPolicy) -> Record:
    """One accepted submit_sm as a record (``records_of`` of one)."""
    return Record._make(records_of(message_id, account, received_at, peer, [body], policy)[0])


def _record_of(message_id: int, account: str, received_at: float, peer: str, body: bytes,
               policy: TextPolicy) -> Row:
    """Any submit_sm as a record.  A body that does not decode (it was checked when
    accepted, so only a bug gets here) keeps its addresses empty, never raises."""
    try:
        match = _LAYOUT.match(body)
        if match is not None:
            source, dest, esm, reg, dcs, length = match.groups()
            line, destination = source.decode("latin-1"), dest.decode("latin-1")
            esm_class, registered, coding = esm[0], reg[0], dcs[0]
            start = match.end()
            sm_end = start + length[0]
        else:
            e1, e2, e3, _, e5, sm_end = walk_short_message(body)
            line = body[e1 + 3:e2].decode("latin-1")
            destination = body[e2 + 3:e3].decode("latin-1")
            esm_class, registered, coding = body[e3 + 1], body[e5 + 1], body[e5 + 3]
            start = e5 + 6
        if esm_class & _UDHI or sm_end < len(body):
            text, segments, part = _text(body, body[start:sm_end], esm_class, coding, sm_end)
        else:  # the usual submit: one short_message, one SMS
            text, segments, part = decode_text(body[start:sm_end], coding), 1, 0
    except (DecodeError, IndexError, ValueError):
        return (message_id, received_at, account, peer, "", "", "", 1, 0, 1, "accepted",
                "undecodable body")
    if policy != "full":
        text = keep_text(text, policy)
    return (message_id, received_at, account, peer, line, destination, text, segments, part,
            1 if registered & 3 else 0, "accepted", "")


def refusal_ids(seq: int, count: int) -> range:
    """Refused submits got no id of ours: their records (a table of their own) are keyed
    by the journal's refusals row and their place in it, growing as they are written."""
    return range(seq << 16, (seq << 16) + count)


def refused_records(seq: int, at: float, account: str, peer: str,
                    entries: list[list[object]]) -> list[Row]:
    """A refusals row's entries ([sequence, source, destination, reason]) as records."""
    return [(key, at, account, peer, str(source), str(destination), "", 0, 0, 0, "refused",
             str(reason))
            for key, (_, source, destination, reason) in zip(refusal_ids(seq, len(entries)),
                                                             entries, strict=True)]
