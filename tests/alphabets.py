"""Hypothesis strategies for SMS text, shared by the text and segmentation tests.

The GSM 03.38 alphabet comes from smpplib's table, an independent oracle, minus its known
defect (it has '`' where 03.38 has '§' at 0x5F, and lacks form feed in the extension).
"""

from __future__ import annotations

from hypothesis import strategies as st
from smpplib import gsm as smpp_gsm

_SMPPLIB_TABLE = smpp_gsm.GSM_CHARACTER_TABLE
GSM_BASIC_CHARS = "".join(ch for i, ch in enumerate(_SMPPLIB_TABLE[:128]) if i not in (0x1B, 0x5F))
GSM_EXT_CHARS = "^{}\\[~]|€\x0c"
GSM_ALL_CHARS = GSM_BASIC_CHARS + "§" + GSM_EXT_CHARS

gsm_text = st.text(alphabet=GSM_ALL_CHARS)
# Arbitrary text minus lone surrogates (not encodable as UTF-16).
unicode_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]))
# A leading U+FEFF is indistinguishable from a BOM, which ucs2_decode strips.
ucs2_roundtrip_text = unicode_text.filter(lambda s: not s.startswith("\ufeff"))
