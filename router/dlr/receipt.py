"""Delivery receipts of our own making, and what marks a deliver_sm as a receipt.

SMPP 3.4 Appendix B text, ``id:… sub:… dlvrd:… submit date:YYMMDDhhmm done
date:YYMMDDhhmm stat:… err:… text:…``, plus the receipted_message_id and
message_state TLVs.  Dates are always written with exactly 10 digits: aiosmpplib tears
the session down on anything else.  A carrier's receipts are read by
``smpp.deliver.scan_deliver`` and made ours by ``dlr.rewrite`` (see ``dlr.book``).
"""

from __future__ import annotations

import re
import time

RECEIPT_ESM_MASK = 0x3C  # receipt, SME ack, manual ack, intermediate notification


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


_STAT = re.compile(rb"\bstat:(\w+)", re.IGNORECASE)
_STAT_OF_STATE = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                  7: "UNKNOWN", 8: "REJECTD"}  # message_state TLV (SMPP 3.4 §5.3.2.35)


def stat_of(short_message: bytes, message_state: int | None) -> str:
    """A receipt's outcome: the message_state TLV if present, else the text's ``stat:``."""
    if message_state is not None and message_state in _STAT_OF_STATE:
        return _STAT_OF_STATE[message_state]
    match = _STAT.search(short_message)
    return match.group(1).decode("ascii").upper() if match else "UNKNOWN"
