"""Messages from subscribers (MO) to a line: opt-out keywords, then relay to the owner.

«لغو ۱۱»: the regulator has service lines tell subscribers to send 11 to stop and 12
to resume; Chinese marketing uses T/TD/退订.  A keyword only counts when it is the whole
message, after folding digits (Persian, Arabic-Indic), Arabic letter forms, case,
spaces, zero-width marks and punctuation.  The MO is relayed to the line owner either way.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

import structlog

from router.logs import sampled
from router.policy.addresses import Addresses
from router.policy.rules import Rules
from router.policy.settings import PolicySettings
from router.smpp.pdu import DeliverSm, Tag, tlv_get
from router.smpp.text import decode_text
from router.store.writer import RegistryWriter

log = structlog.get_logger("chapar.mo")

_FOLD = str.maketrans({
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    "\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9",  # Arabic ya/kaf -> Persian
    "\u0640": None,  # tatweel
})


def fold_keyword(text: str) -> str:
    """The form keywords are compared in: no spaces, marks or punctuation, one digit set."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return "".join(ch for ch in text
                   if unicodedata.category(ch)[0] in "LN")  # letters and digits only


class MoHandler:
    def __init__(self, rules: Rules, addresses: Addresses, settings: PolicySettings,
                 writer: RegistryWriter) -> None:
        self._rules = rules
        self._addresses = addresses
        self._optout = {fold_keyword(k) for k in settings.optout_keywords}
        self._optin = {fold_keyword(k) for k in settings.optin_keywords}
        self._writer = writer
        self.unroutable = 0

    def on_mo(self, pdu: DeliverSm) -> tuple[str, DeliverSm] | None:
        """Apply an MO's opt-out or opt-in; the account it goes to and the deliver_sm it
        gets, or None when it is addressed to no line we know."""
        line = self._rules.lines.get(pdu.destination_addr)
        if line is None:
            self.unroutable += 1
            if sampled(self.unroutable):
                log.warning("mo_unroutable", destination=pdu.destination_addr,
                            total=self.unroutable)
            return None
        payload = tlv_get(pdu.tlvs, Tag.MESSAGE_PAYLOAD) or pdu.short_message
        keyword = fold_keyword(decode_text(payload, pdu.data_coding))
        opt_out, opt_in = keyword in self._optout, keyword in self._optin
        if opt_out or opt_in:
            number = self._addresses.number_of(pdu.source_addr, pdu.source_addr_ton,
                                               pdu.source_addr_npi)
            if number is None:
                log.warning("mo_optout_bad_sender", line=line.number, source=pdu.source_addr)
            else:
                lists = self._rules.lists
                changed = (lists.add_optout(line.number, number) if opt_out
                           else lists.remove_optout(line.number, number))
                if changed:
                    self._persist(line.number, number, opt_out)
                log.info("optout" if opt_out else "optin", line=line.number,
                         account=line.account, changed=changed)
        return line.account, replace(pdu, sequence=0, status=0)

    def _persist(self, line: str, number: int, opted_out: bool) -> None:
        if opted_out:
            self._writer.submit(f"opt-out on {line}", lambda s: s.lines.add_optout(line, number))
        else:
            self._writer.submit(f"opt-in on {line}",
                                lambda s: s.lines.remove_optout(line, number))
