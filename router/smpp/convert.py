"""The other message commands as submit_sm bodies, and their answers.

data_sm, each destination of a submit_multi and a replace_sm's new text become the
submit_sm body the relay already knows: one policy pipeline, one journal layout, one
carrier path.  Sans-IO: bytes in, bytes out; refusals raise ``DecodeError`` with the
status to answer.
"""

from __future__ import annotations

import struct

from router.smpp.codec import decode_tlvs, encode, encode_tlvs, walk_short_message
from router.smpp.pdu import (
    CommandStatus,
    DataSm,
    DecodeError,
    ReplaceSm,
    SubmitMulti,
    SubmitMultiResp,
    Tag,
    UnsuccessfulSme,
    tlv_get,
)

S = CommandStatus
_TLV_HEAD = struct.Struct(">HH")
_ADDRESS_MAX = 20  # submit_sm addresses: 21 octets with the NUL


def _address(value: str, status: int, name: str) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) > _ADDRESS_MAX:
        raise DecodeError(status, f"{name} is longer than {_ADDRESS_MAX} characters")
    return raw + b"\0"


def data_sm_body(pdu: DataSm) -> bytes:
    """A data_sm as the submit_sm body it asks for (or, from a carrier, the deliver_sm
    body: the same layout): sm_length 0, the text in its message_payload TLV (SMPP 3.4
    §4.7: data_sm carries no short_message)."""
    if tlv_get(pdu.tlvs, Tag.MESSAGE_PAYLOAD) is None:
        raise DecodeError(S.ESME_RMISSINGOPTPARAM, "data_sm without message_payload")
    return b"".join((
        pdu.service_type.encode("latin-1"), b"\0",
        bytes((pdu.source_addr_ton, pdu.source_addr_npi)),
        _address(pdu.source_addr, S.ESME_RINVSRCADR, "source_addr"),
        bytes((pdu.dest_addr_ton, pdu.dest_addr_npi)),
        _address(pdu.destination_addr, S.ESME_RINVDSTADR, "destination_addr"),
        # esm_class, protocol_id, priority_flag, schedule, validity
        bytes((pdu.esm_class, 0, 0, 0, 0)),
        # registered_delivery, replace_if_present, data_coding, sm_default_msg_id, sm_length
        bytes((pdu.registered_delivery, 0, pdu.data_coding, 0, 0)),
        encode_tlvs(pdu.tlvs)))


def multi_as_submits(pdu: SubmitMulti) -> tuple[list[bytes], list[UnsuccessfulSme]]:
    """One submit_sm body per SME destination, in order; distribution lists (which
    Chapar does not keep) come back refused with ESME_RINVDLNAME."""
    if not pdu.destinations:
        raise DecodeError(S.ESME_RINVNUMDESTS, "submit_multi with no destination")
    head = b"".join((pdu.service_type.encode("latin-1"), b"\0",
                     bytes((pdu.source_addr_ton, pdu.source_addr_npi)),
                     _address(pdu.source_addr, S.ESME_RINVSRCADR, "source_addr")))
    tail = b"".join((
        bytes((pdu.esm_class, pdu.protocol_id, pdu.priority_flag)),
        pdu.schedule_delivery_time.encode("latin-1"), b"\0",
        pdu.validity_period.encode("latin-1"), b"\0",
        bytes((pdu.registered_delivery, pdu.replace_if_present_flag, pdu.data_coding,
               pdu.sm_default_msg_id, len(pdu.short_message))),
        pdu.short_message, encode_tlvs(pdu.tlvs)))
    bodies: list[bytes] = []
    refused: list[UnsuccessfulSme] = []
    for dest in pdu.destinations:
        if dest.dl_name is not None:
            refused.append(UnsuccessfulSme(0, 0, dest.dl_name, S.ESME_RINVDLNAME))
            continue
        bodies.append(b"".join((head, bytes((dest.ton, dest.npi)),
                                dest.address.encode("latin-1"), b"\0", tail)))
    return bodies, refused


def replaced_body(body: bytes, pdu: ReplaceSm) -> bytes:
    """A journalled submit_sm body with what a replace_sm changes (SMPP 3.4 §4.10):
    the text and registered_delivery always, schedule and validity when given.  The
    new text replaces a message_payload too (the TLV is dropped)."""
    _, _, e3, e4, e5, sm_end = walk_short_message(body)
    schedule = pdu.schedule_delivery_time.encode("latin-1") or body[e3 + 4:e4]
    validity = pdu.validity_period.encode("latin-1") or body[e4 + 1:e5]
    tlvs = b""
    if sm_end < len(body):
        tlvs = encode_tlvs([(tag, value) for tag, value in decode_tlvs(body, sm_end)
                            if tag != Tag.MESSAGE_PAYLOAD])
    return b"".join((
        body[:e3 + 4], schedule, b"\0", validity, b"\0",
        bytes((pdu.registered_delivery, body[e5 + 2], body[e5 + 3], pdu.sm_default_msg_id,
               len(pdu.short_message))),
        pdu.short_message, tlvs))


def is_part(body: bytes) -> bool:
    """A submit_sm body that is one part of a long message (UDHI or SAR TLVs)."""
    _, _, e3, _, _, sm_end = walk_short_message(body)
    if body[e3 + 1] & 0x40:
        return True
    return (sm_end < len(body)
            and tlv_get(decode_tlvs(body, sm_end), Tag.SAR_MSG_REF_NUM) is not None)


def congestion_tlv(level: int) -> bytes:
    """SMPP 5.0 congestion_state (0x0428): 0 idle … 100 congested."""
    return _TLV_HEAD.pack(Tag.CONGESTION_STATE, 1) + bytes((max(0, min(100, level)),))


def submit_multi_resp(sequence: int, message_id: str,
                      unsuccessful: list[UnsuccessfulSme]) -> bytes:
    return encode(SubmitMultiResp(sequence, 0, message_id, unsuccessful))
