"""How many segments (SMS parts) a submit_sm costs: what quotas and prices count.

A body of at most 157 octets (17 octets of fixed fields and NULs + 140) carries at most
140 octets of text, which is one segment in every alphabet: most submits are counted
without decoding.  A concatenated part (UDHI set) is one segment; a longer text
(short_message up to 254 octets, or message_payload) is split the way carriers split it:
153 GSM characters, 67 UCS2 characters or 134 octets a part.
"""

from __future__ import annotations

from router.smpp.pdu import Tag, tlv_get
from router.smpp.session import Submit

ONE_SEGMENT_BODY = 17 + 140
_UCS2 = 8
_SEVEN_BIT = frozenset({0, 1, 3})


def segments_of(submit: Submit) -> int:
    if len(submit.body) <= ONE_SEGMENT_BODY:
        return 1
    sm = submit.decode()
    if sm.esm_class & 0x40:
        return 1
    octets = len(tlv_get(sm.tlvs, Tag.MESSAGE_PAYLOAD) or sm.short_message)
    if sm.data_coding == _UCS2:
        units, single, part = octets // 2, 70, 67
    elif sm.data_coding in _SEVEN_BIT:
        units, single, part = octets, 160, 153
    else:
        units, single, part = octets, 140, 134
    return 1 if units <= single else -(-units // part)
