"""A carrier's receipt text made ours, as bytes, in one pass for the common layout.

What an ESME gets: our id in place of the carrier's (the first ``id:``), every date
with exactly 10 digits (aiosmpplib tears the session down on anything else) and only
printable ASCII (a receipt is data_coding 0 text).  The SMPP 3.4 Appendix B layout with
10-digit dates, the usual case, costs two translates, one match and one splice (1.3 to
0.5 µs against case-insensitive patterns); anything else takes the general rules.
"""

from __future__ import annotations

import re

MAX_SHORT_MESSAGE = 255

_PRINTABLE = bytes(c if 32 <= c < 127 else 0x2E for c in range(256))  # else '.'
_FOLDED = _PRINTABLE.lower()  # printable and lower case: one translate, no IGNORECASE
# On printable text ' ' is the only blank, so [^ ] is \S (and a little faster).
_CANONICAL = re.compile(
    rb"id:[^ ]*( sub:[^ ]* dlvrd:[^ ]* submit date:[0-9]{10} done date:[0-9]{10})(?![0-9])")
_ID = re.compile(rb"\bid:\S*", re.IGNORECASE)
_DATE = re.compile(rb"((?:submit|done) date:)(\d+)", re.IGNORECASE)


def rewrite(text: bytes, our_id: bytes) -> bytes:
    """The receipt text for the ESME (at most 255 octets, cut at the end)."""
    folded = text.translate(_FOLDED)  # the match runs on it; the splice takes text's bytes
    match = _CANONICAL.match(folded)
    if match is not None and folded.find(b"date:", match.end()) < 0:
        out = b"id:" + our_id + text[match.start(1):].translate(_PRINTABLE)
    else:
        out = _general(text.translate(_PRINTABLE), our_id)
    return out if len(out) <= MAX_SHORT_MESSAGE else out[:MAX_SHORT_MESSAGE]


def _general(text: bytes, our_id: bytes) -> bytes:
    found = _ID.search(text)
    if found is not None:
        text = b"".join((text[:found.start()], b"id:", our_id, text[found.end():]))
    return _DATE.sub(_ten_digits, text)


def _ten_digits(match: re.Match[bytes]) -> bytes:
    date = match.group(2)
    return match.group(1) + (date[:10] if len(date) >= 10 else date.ljust(10, b"0"))


def text_id(text: bytes) -> str:
    """The carrier id in the text (the first ``id:``), '' when there is none."""
    found = _ID.search(text)
    return found.group()[3:].decode("latin-1") if found is not None else ""
