"""deliver_sm read and rebuilt without building a ``DeliverSm`` (the receipt hot path).

A carrier sends about one receipt per message, so a deliver_sm costs as much as a
submit_sm: the session hands back a ``Deliver`` tuple from one compiled match plus a
TLV walk, and a receipt for an ESME is the carrier's body with its leading fields
copied as bytes and only short_message and receipted_message_id replaced.
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

from router.smpp import codec
from router.smpp.pdu import TLV_INT_SIZE, CommandId, CommandStatus, DecodeError, DeliverSm, Tag

_DELIVER_SM = int(CommandId.DELIVER_SM)
_RECEIPTED_MESSAGE_ID = int(Tag.RECEIPTED_MESSAGE_ID)
_MESSAGE_STATE = int(Tag.MESSAGE_STATE)
_TLV_HEAD = struct.Struct(">HH")
_unpack_head = _TLV_HEAD.unpack_from
_new_tuple = tuple.__new__
_LENGTH = [bytes((n,)) for n in range(256)]  # one-octet lengths, prebuilt
_RMI_TAG = b"\x00\x1e"  # receipted_message_id
_pack_u16 = struct.Struct(">H").pack

# The deliver_sm mandatory fields up to sm_length (the submit_sm layout): service_type,
# (source TON)(NPI)(source_addr), (dest TON)(NPI)(destination_addr), (esm_class),
# protocol_id, priority_flag, schedule, validity, registered_delivery, replace flag,
# (data_coding), default_msg_id, (sm_length).
_LAYOUT = re.compile(
    rb"[^\0]{0,5}\0(.)(.)([^\0]{0,20})\0(.)(.)([^\0]{0,20})\0(.)..[^\0]{0,16}\0[^\0]{0,16}\0"
    rb"..(.).(.)", re.DOTALL)

# The usual receipt TLVs, receipted_message_id then message_state (checked: the id's
# length octet covers exactly its C string); any other TLV list takes the walk.
_USUAL_TLVS = re.compile(rb"\x00\x1e\x00(.)([^\0]*)\0\x04\x27\x00\x01(.)", re.DOTALL)
# The usual receipt whole: the layout of _LAYOUT capturing only what the receipt path
# reads (esm_class, sm_length), a text without NUL, then those two TLVs; taken when
# sm_length and the id's length octet agree with what matched (one match, not two).
# Capturing the addresses too cost ~0.25 µs a receipt that almost never reads them.
_USUAL = re.compile(
    rb"[^\0]{0,5}\0..[^\0]{0,20}\0..[^\0]{0,20}\0(.)..[^\0]{0,16}\0[^\0]{0,16}\0"
    rb"....(.)([^\0]*)" + _USUAL_TLVS.pattern, re.DOTALL)


class Fields(NamedTuple):
    """A deliver_sm's leading fields that ``Deliver`` leaves in the body."""

    esm_class: int
    source_addr_ton: int
    source_addr_npi: int
    source_addr: bytes
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: bytes
    data_coding: int


class Deliver(NamedTuple):
    """A peer's deliver_sm, validated but not decoded into a ``DeliverSm``.

    ``sm_start``/``sm_end`` delimit short_message in ``body`` (the bytes before
    ``sm_start - 1`` are the leading fields, copied as they are into a rebuilt body);
    ``rmi_start``/``rmi_end`` delimit the receipted_message_id TLV, header included
    (both 0 without one).  The addresses and data_coding stay in the body until asked
    for (``fields()``, as bytes; ``decode()`` gives the strings).
    """

    sequence: int
    body: bytes
    esm_class: int
    short_message: bytes
    receipted_message_id: str | None
    message_state: int | None
    sm_start: int
    sm_end: int
    rmi_start: int
    rmi_end: int

    def fields(self) -> Fields:
        """The addresses and data_coding, read from the body now (the receipt path
        never needs them: it copies them as bytes)."""
        return Fields._make(_fields(self.body)[0])

    def decode(self) -> DeliverSm:
        pdu = codec.decode(_DELIVER_SM, 0, self.sequence, self.body)
        assert isinstance(pdu, DeliverSm)
        return pdu


def scan_deliver(sequence: int, body: bytes) -> Deliver:
    """Validate a deliver_sm body as ``codec.decode`` does (same DecodeError statuses)
    and pick out what the receipt path needs."""
    usual = _USUAL.fullmatch(body)
    if usual is not None:
        esm_b, length_b, text, rmi_length_b, receipted_b, state_b = usual.groups()
        rmi_length = rmi_length_b[0]
        if length_b[0] == len(text) and rmi_length == len(receipted_b) + 1:
            sm_end = usual.end(3)
            return _new_tuple(Deliver, (
                sequence, body, esm_b[0], text, receipted_b.decode("latin-1"), state_b[0],
                sm_end - length_b[0], sm_end, sm_end, sm_end + 4 + rmi_length))
    fields, sm_start, sm_end = _fields(body)
    receipted, state, rmi_start, rmi_end = _receipt_tlvs(body, sm_end)
    return _new_tuple(Deliver, (
        sequence, body, fields[0], body[sm_start:sm_end], receipted, state, sm_start, sm_end,
        rmi_start, rmi_end))


def _fields(body: bytes) -> tuple[tuple[int, int, int, bytes, int, int, bytes, int], int, int]:
    """(esm_class, the addresses with their TON/NPI, data_coding), where short_message
    starts and ends: one match, or the field walk that raises with the field's status."""
    match = _LAYOUT.match(body)
    if match is None:
        e1, e2, e3, _, e5, sm_end = codec.walk_short_message(body)
        sm_start = e5 + 6
        fields = (body[e3 + 1], body[e1 + 1], body[e1 + 2], body[e1 + 3:e2], body[e2 + 1],
                  body[e2 + 2], body[e2 + 3:e3], body[e5 + 3])
    else:
        (src_ton_b, src_npi_b, source, dst_ton_b, dst_npi_b, destination, esm_b, coding_b,
         length_b) = match.groups()
        fields = (esm_b[0], src_ton_b[0], src_npi_b[0], source, dst_ton_b[0], dst_npi_b[0],
                  destination, coding_b[0])
        sm_start = match.end()
        sm_end = sm_start + length_b[0]
    if sm_end > len(body):
        raise DecodeError(CommandStatus.ESME_RINVMSGLEN, "short_message runs past the PDU")
    return fields, sm_start, sm_end


def _receipt_tlvs(body: bytes, pos: int) -> tuple[str | None, int | None, int, int]:
    """The TLV walk of ``codec.decode_tlvs`` from ``pos``, keeping two tags: the
    receipted_message_id (and where its TLV starts and ends) and message_state."""
    end = len(body)
    usual = _USUAL_TLVS.fullmatch(body, pos) if pos < end else None
    if usual is not None:
        length_b, value, state_b = usual.groups()
        if length_b[0] == len(value) + 1:
            return value.decode("latin-1"), state_b[0], pos, pos + 4 + length_b[0]
    receipted: str | None = None
    state: int | None = None
    rmi_start = rmi_end = 0
    while pos < end:
        if end - pos < 4:
            raise DecodeError(CommandStatus.ESME_RINVOPTPARSTREAM, "truncated TLV header")
        tag, length = _unpack_head(body, pos)
        start = pos
        pos += 4
        if end - pos < length:
            raise DecodeError(CommandStatus.ESME_RINVOPTPARSTREAM,
                              f"TLV 0x{tag:04x} runs past the PDU")
        size = TLV_INT_SIZE.get(tag)
        if size is not None and size != length:
            raise DecodeError(CommandStatus.ESME_RINVPARLEN,
                              f"TLV 0x{tag:04x} must be {size} octets")
        if tag == _RECEIPTED_MESSAGE_ID and receipted is None:
            receipted = body[pos:pos + length].rstrip(b"\0").decode("latin-1")
            rmi_start, rmi_end = start, pos + length
        elif tag == _MESSAGE_STATE and state is None:
            state = body[pos]
        pos += length
    return receipted, state, rmi_start, rmi_end


def rebuild(deliver: Deliver, short_message: bytes, receipted_id: bytes) -> bytes:
    """The body with a new short_message (at most 255 octets) and receipted_message_id
    (``receipted_id`` without its NUL) first among the TLVs; every other field and TLV
    is copied as bytes."""
    body = deliver[1]
    sm_start, sm_end, rmi_start, rmi_end = deliver[6:10]
    rest = body[sm_end:rmi_start] + body[rmi_end:] if rmi_start else body[sm_end:]
    return b"".join((body[:sm_start - 1], _LENGTH[len(short_message)], short_message,
                     _RMI_TAG, _pack_u16(len(receipted_id) + 1), receipted_id, b"\0", rest))
