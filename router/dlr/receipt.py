"""Delivery receipts: read what a carrier sent, write what an ESME gets.

SMPP 3.4 Appendix B text, ``id:… sub:… dlvrd:… submit date:YYMMDDhhmm done
date:YYMMDDhhmm stat:… err:… text:…``, plus the receipted_message_id and
message_state TLVs.  TLVs win over text when both are present.  Dates are always
written with exactly 10 digits: aiosmpplib tears the session down on anything else.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from router.smpp.pdu import MessageState, Tag, Tlvs, tlv_int, tlv_str

RECEIPT_ESM_MASK = 0x3C  # receipt, SME ack, manual ack, intermediate notification

STAT_OF_STATE = {
    MessageState.ENROUTE: "ENROUTE", MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED", MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV", MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN", MessageState.REJECTED: "REJECTD",
}
STATE_OF_STAT = {stat: state for state, stat in STAT_OF_STATE.items()}

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.IGNORECASE)
_ID = re.compile(r"\bid:(\S*)", re.IGNORECASE)
_DATE = re.compile(r"((?:submit|done) date:)(\d+)", re.IGNORECASE)
_HEX = re.compile(r"[0-9A-F]+", re.ASCII)
_MAX_CONVERTED = 64  # no carrier id is longer; bounds int() (and its 4300-digit limit)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str
    err: str
    state: int | None


def is_receipt(esm_class: int) -> bool:
    return bool(esm_class & RECEIPT_ESM_MASK)


def parse(text: str, tlvs: Tlvs) -> Receipt | None:
    """The carrier's id and outcome, or None when neither TLVs nor text carry an id."""
    fields = {k.lower(): v for k, v in _FIELD.findall(text)}
    message_id = tlv_str(tlvs, Tag.RECEIPTED_MESSAGE_ID) or fields.get("id", "")
    if not message_id:
        return None
    state = tlv_int(tlvs, Tag.MESSAGE_STATE)
    stat = fields.get("stat", "").upper()
    if not stat and state is not None and state in STAT_OF_STATE:
        stat = STAT_OF_STATE[MessageState(state)]
    if state is None:
        state = STATE_OF_STAT.get(stat)
    return Receipt(message_id, stat or "UNKNOWN", fields.get("err", "000"), state)


def rewrite_text(text: str, our_id: str) -> str:
    """The carrier's receipt text with our id in it and 10-digit dates."""
    text = _ID.sub(lambda m: "id:" + our_id, text, count=1)
    text = "".join(c if " " <= c < "\x7f" else "." for c in text)
    return _DATE.sub(lambda m: m.group(1) + _ten_digits(m.group(2)), text)


def _ten_digits(date: str) -> str:
    return date[:10] if len(date) >= 10 else date.ljust(10, "0")


def compose_text(our_id: str, stat: str, err: str, submitted: float, done: float,
                 excerpt: str = "") -> str:
    """A receipt of our own (e.g. a carrier refused a message we had accepted)."""
    delivered = "001" if stat == "DELIVRD" else "000"
    return (f"id:{our_id} sub:001 dlvrd:{delivered} "
            f"submit date:{_stamp(submitted)} done date:{_stamp(done)} "
            f"stat:{stat} err:{err} text:{excerpt[:20]}")


def excerpt(short_message: bytes) -> str:
    """The first 20 bytes as printable ASCII: a receipt is data_coding 0 text."""
    return "".join(chr(b) if 32 <= b < 127 else "." for b in short_message[:20])


def _stamp(at: float) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(at))


def normalise_id(message_id: str) -> str:
    """Carriers send one id in different forms: strip blanks and zeros, fold case."""
    return message_id.strip().lstrip("0").upper() or "0"


def id_variants(message_id: str) -> list[str]:
    """Forms a receipt may carry for an id: as given, and hex <-> decimal.

    Only ASCII digits and hex letters are converted: ``str.isdigit()`` is true for
    '²' and other characters ``int()`` refuses, and ``int(s, 16)`` would take '_',
    blanks, '0x' and Arabic-Indic digits.  A receipt can never raise here.
    """
    norm = normalise_id(message_id)
    variants = [norm]
    if len(norm) <= _MAX_CONVERTED and _HEX.fullmatch(norm):
        if norm.isdigit():  # ASCII: _HEX matched
            variants.append(f"{int(norm):X}")
        variants.append(str(int(norm, 16)))
    return variants
