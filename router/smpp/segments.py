"""Splitting long texts into parts and joining parts back: UDH (8- and 16-bit
references), SAR TLVs or message_payload, with capacities counted in the alphabet the
text is sent in (text.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from router.smpp.pdu import SubmitSm, Tag, tlv_get
from router.smpp.text import (
    ESC,
    DataCoding,
    alphabet_for,
    choose_coding,
    decode_text,
    encode_text,
)

__all__ = [
    "Concat",
    "ConcatInfo",
    "Segment",
    "SplitMethod",
    "concat_of",
    "join_parts",
    "parse_udh",
    "segment_count",
    "split_message",
]


SplitMethod = Literal["udh8", "udh16", "sar", "payload"]

_MAX_PARTS: Final = 255
_MAX_PAYLOAD: Final = 0xFFFF  # message_payload TLV length is 16 bits
_IEI_CONCAT8: Final = 0x00
_IEI_CONCAT16: Final = 0x08

# (single, with 8-bit-ref UDH, with 16-bit-ref UDH), in units of the encoded
# short_message: septets for GSM (carried unpacked) and octets otherwise.
# 6 UDH octets + 1 fill bit = 7 septets; 7 UDH octets = 8 septets. UCS2 limits
# are rounded down to whole code units.
_CAPACITY: Final[dict[DataCoding, tuple[int, int, int]]] = {
    DataCoding.DEFAULT: (160, 153, 152),
    DataCoding.UCS2: (140, 134, 132),
}
_OCTET_CAPACITY: Final = (140, 134, 133)
# IA5 uses octet limits: whether an SMSC packs it to 7 bits is not knowable,
# and 140 is safe either way.

# SAR parts reuse the udh8 capacity: many SMSCs add a concatenation UDH on the
# air interface themselves, so a full 160/140 part would not fit.
_REF_LIMIT: Final[dict[str, int]] = {"udh8": 0xFF, "udh16": 0xFFFF, "sar": 0xFFFF}


@dataclass(frozen=True, slots=True)
class Segment:
    """One submit_sm worth of message content.

    short_message holds UDH + payload for UDH methods, the bare payload for SAR
    and b"" for the payload method; esm_class_udhi says whether to set 0x40.
    """

    short_message: bytes
    esm_class_udhi: bool
    sar: tuple[int, int, int] | None  # (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum)
    message_payload: bytes | None
    data_coding: int


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Concatenation IE contents, whether from an 8- or 16-bit reference IE."""

    ref: int
    total: int
    seq: int


def _chunk(data: bytes, size: int, alpha: DataCoding) -> list[bytes]:
    """Split encoded bytes into size-limited chunks without breaking a character.

    Our encoders only emit ESC as the first octet of a pair and only emit valid
    surrogate pairs, so one look-back at the cut point is sufficient.
    """
    chunks: list[bytes] = []
    start = 0
    length = len(data)
    while start < length:
        end = start + size
        if end >= length:
            end = length
        elif alpha is DataCoding.DEFAULT:
            if data[end - 1] == ESC:
                end -= 1
        elif alpha is DataCoding.UCS2 and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2  # high surrogate would be separated from its low half
        chunks.append(data[start:end])
        start = end
    return chunks


def _capacity(alpha: DataCoding) -> tuple[int, int, int]:
    return _CAPACITY.get(alpha, _OCTET_CAPACITY)


def _resolve(text: str, coding: int | None) -> tuple[int, DataCoding, bytes]:
    data_coding = choose_coding(text) if coding is None else coding
    alpha = alphabet_for(data_coding)
    return data_coding, alpha, encode_text(text, data_coding)


def _multipart_chunks(data: bytes, alpha: DataCoding, method: SplitMethod) -> list[bytes] | None:
    """Chunks for a multipart message, or None when the data fits in one part."""
    single, udh8, udh16 = _capacity(alpha)
    if len(data) <= single:
        return None
    chunks = _chunk(data, udh16 if method == "udh16" else udh8, alpha)
    if len(chunks) > _MAX_PARTS:
        raise ValueError(
            f"message needs {len(chunks)} parts but concatenation allows at most {_MAX_PARTS}"
        )
    return chunks


def split_message(
    text: str,
    *,
    coding: int | None = None,
    method: SplitMethod = "udh8",
    reference: int,
) -> list[Segment]:
    """Encode text and split it into submit_sm-sized segments.

    coding accepts a DataCoding or any data_coding octet (e.g. 0x18 flash UCS2);
    None picks GSM 7-bit when possible. GSM segments stay unpacked because SMPP
    data_coding 0 carries one septet per octet.
    """
    if method not in ("udh8", "udh16", "sar", "payload"):
        raise ValueError(f"unknown split method {method!r}")
    limit = _REF_LIMIT.get(method)
    if limit is not None and not 0 <= reference <= limit:
        raise ValueError(f"reference for {method} must be in 0..{limit}, got {reference}")
    data_coding, alpha, data = _resolve(text, coding)
    single = _capacity(alpha)[0]

    if len(data) <= single:
        return [Segment(data, False, None, None, data_coding)]
    if method == "payload":
        if len(data) > _MAX_PAYLOAD:
            raise ValueError(
                f"encoded message is {len(data)} octets; message_payload allows {_MAX_PAYLOAD}"
            )
        return [Segment(b"", False, None, data, data_coding)]

    chunks = _multipart_chunks(data, alpha, method)
    assert chunks is not None
    total = len(chunks)
    if method == "sar":
        return [
            Segment(chunk, False, (reference, total, seq), None, data_coding)
            for seq, chunk in enumerate(chunks, start=1)
        ]
    if method == "udh16":
        prefix = bytes((6, _IEI_CONCAT16, 4, reference >> 8, reference & 0xFF, total))
    else:
        prefix = bytes((5, _IEI_CONCAT8, 3, reference, total))
    return [
        Segment(prefix + bytes((seq,)) + chunk, True, None, None, data_coding)
        for seq, chunk in enumerate(chunks, start=1)
    ]


def segment_count(text: str, coding: int | None = None, *, method: SplitMethod = "udh8") -> int:
    """Number of submit_sm PDUs split_message would produce, for billing and limits."""
    if method == "payload":
        return 1
    _, alpha, data = _resolve(text, coding)
    chunks = _multipart_chunks(data, alpha, method)
    return 1 if chunks is None else len(chunks)


def parse_udh(short_message: bytes) -> tuple[ConcatInfo | None, bytes]:
    """Split a UDHI short_message into concatenation info and payload.

    Never raises: a malformed UDH yields (None, short_message) unchanged so the
    caller can still deliver something. Call only when esm_class has UDHI set.
    A concatenation IE with seq 0 or seq > total is ignored, per 23.040.
    """
    if not short_message:
        return None, short_message
    udhl = short_message[0]
    end = 1 + udhl
    if end > len(short_message):
        return None, short_message
    info: ConcatInfo | None = None
    pos = 1
    while pos < end:
        if pos + 2 > end:
            return None, short_message
        iei = short_message[pos]
        iedl = short_message[pos + 1]
        data_start = pos + 2
        pos = data_start + iedl
        if pos > end:
            return None, short_message
        ie = short_message[data_start:pos]
        if iei == _IEI_CONCAT8:
            if iedl != 3:
                return None, short_message
            info = ConcatInfo(ie[0], ie[1], ie[2])
        elif iei == _IEI_CONCAT16:
            if iedl != 4:
                return None, short_message
            info = ConcatInfo((ie[0] << 8) | ie[1], ie[2], ie[3])
    if info is not None and not 1 <= info.seq <= info.total:
        info = None
    return info, short_message[end:]


def join_parts(parts: Sequence[bytes], data_coding: int, *, udh: bool = True) -> str:
    """Reassemble a concatenated message into text.

    With udh=True each part's UDH is stripped and parts are ordered by their
    concatenation seq (given order is kept if any part lacks one). With
    udh=False parts are bare payloads already in order, as for SAR. Payloads
    are joined before decoding so a character split by the sender survives.
    """
    if not udh:
        return decode_text(b"".join(parts), data_coding)
    parsed = [parse_udh(part) for part in parts]
    if all(info is not None for info, _ in parsed):
        parsed.sort(key=lambda item: item[0].seq if item[0] is not None else 0)
    return decode_text(b"".join(payload for _, payload in parsed), data_coding)


class Concat(NamedTuple):
    kind: str
    reference: int
    total: int
    seq: int
    payload: bytes


def _int(value: bytes | None) -> int:
    return int.from_bytes(value, "big") if value else 0


def concat_of(sm: SubmitSm) -> Concat | None:
    """The concatenation a submit belongs to (UDH or SAR), or None for a message of one
    part (the content filter joins parts by it, receipts are folded by it)."""
    if sm.esm_class & 0x40:
        info, payload = parse_udh(sm.short_message)
        if info is None or info.total < 2:
            return None
        return Concat("udh", info.ref, info.total, info.seq, payload)
    total = _int(tlv_get(sm.tlvs, Tag.SAR_TOTAL_SEGMENTS))
    seq = _int(tlv_get(sm.tlvs, Tag.SAR_SEGMENT_SEQNUM))
    if total < 2 or not 1 <= seq <= total:
        return None
    reference = _int(tlv_get(sm.tlvs, Tag.SAR_MSG_REF_NUM))
    payload = tlv_get(sm.tlvs, Tag.MESSAGE_PAYLOAD) or sm.short_message
    return Concat("sar", reference, total, seq, payload)
