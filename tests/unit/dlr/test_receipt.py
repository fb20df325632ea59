"""Receipts of our own making."""

from __future__ import annotations

import re

from router.dlr import receipt


def test_composed_receipt_has_our_id_and_ten_digit_dates() -> None:
    text = receipt.compose_text("abc", "REJECTD", "045", 1_800_000_000.0, 1_800_000_060.0,
                                receipt.excerpt(b"hello\nworld and more than twenty"))
    assert text.startswith("id:abc sub:001 dlvrd:000 ")
    assert [len(d) for d in re.findall(r"date:(\d+)", text)] == [10, 10]
    assert text.endswith("stat:REJECTD err:045 text:hello.world and more")


def test_receipt_esm_classes() -> None:
    mask = receipt.RECEIPT_ESM_MASK
    assert 0x04 & mask and 0x08 & mask
    assert not 0x00 & mask and not 0x40 & mask
