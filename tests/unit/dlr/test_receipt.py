"""Receipt parsing, rewriting and id normalisation."""

from __future__ import annotations

import re

from router.dlr import receipt
from router.dlr.relay import Outgoing, ReceiptRelay
from router.smpp.pdu import DeliverSm, MessageState, Tag, tlv_str
from router.store.journal import Message

TEXT = ("id:00AB12 sub:001 dlvrd:001 submit date:261122101500 done date:2611221016 "
        "stat:DELIVRD err:000 text:hello")


def test_parse_text_only() -> None:
    r = receipt.parse(TEXT, [])
    assert r is not None
    assert (r.message_id, r.stat, r.err, r.state) == ("00AB12", "DELIVRD", "000",
                                                      MessageState.DELIVERED)


def test_tlvs_win_over_text() -> None:
    tlvs = [(Tag.RECEIPTED_MESSAGE_ID, b"XYZ\0"), (Tag.MESSAGE_STATE, bytes([5]))]
    r = receipt.parse("stat:DELIVRD", tlvs)
    assert r is not None and r.message_id == "XYZ" and r.state == 5


def test_no_id_is_not_a_receipt() -> None:
    assert receipt.parse("hello there", []) is None


def test_rewrite_puts_our_id_and_ten_digit_dates() -> None:
    out = receipt.rewrite_text(TEXT, "abc123")
    assert out.startswith("id:abc123 ")
    assert re.findall(r"date:(\d+)", out) == ["2611221015", "2611221016"]
    assert "stat:DELIVRD" in out and out.endswith("text:hello")


def test_id_variants_cover_case_zeros_and_bases() -> None:
    assert receipt.normalise_id(" 00ab ") == "AB"
    assert "171" in receipt.id_variants("00AB")
    assert "AB" in receipt.id_variants("171")


class FakeReceiver:
    """A receiver with a window, recording what it was given."""

    def __init__(self, account: str, window: int) -> None:
        self._account = account
        self.window = window
        self.got: list[Outgoing] = []

    @property
    def account(self) -> str:
        return self._account

    def receipt_window(self) -> int:
        return self.window - len(self.got)

    def deliver(self, items: list[Outgoing]) -> None:
        self.got.extend(items)


def carrier_receipt(carrier_id: str) -> DeliverSm:
    return DeliverSm(0, 0, "", 1, 1, "989121234567", 1, 1, "1000", 0x04, 0, 0, "", "",
                     0, 0, 0, 0, f"id:{carrier_id} stat:DELIVRD err:000".encode(),
                     [(Tag.RECEIPTED_MESSAGE_ID, carrier_id.encode() + b"\0")])


def test_receipt_is_rewritten_and_waits_for_a_receiver() -> None:
    relay = ReceiptRelay()
    relay.remember("0000FF", 0x1234, "acc")
    assert relay.on_carrier_receipt(carrier_receipt("ff"))
    assert relay.queued("acc") == 1
    rx = FakeReceiver("acc", 10)
    relay.attach(rx)
    assert relay.queued("acc") == 0
    pdu = rx.got[0].pdu
    assert pdu.short_message.startswith(b"id:1234 ")
    assert tlv_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "1234"


def test_unmatched_receipt_is_counted() -> None:
    relay = ReceiptRelay()
    assert not relay.on_carrier_receipt(carrier_receipt("nope"))
    assert relay.unmatched == 1


def test_round_robin_and_window() -> None:
    relay = ReceiptRelay()
    a, b = FakeReceiver("acc", 2), FakeReceiver("acc", 2)
    relay.attach(a)
    relay.attach(b)
    for i in range(5):
        relay.remember(f"C{i}", i + 1, "acc")
        relay.on_carrier_receipt(carrier_receipt(f"C{i}"))
    assert len(a.got) + len(b.got) == 4 and relay.queued("acc") == 1
    assert a.got and b.got


def test_queue_overflow_drops_oldest_and_counts() -> None:
    relay = ReceiptRelay(queue_limit=2)
    for i in range(3):
        relay.remember(f"C{i}", i + 1, "acc")
        relay.on_carrier_receipt(carrier_receipt(f"C{i}"))
    assert relay.queued("acc") == 2 and relay.dropped == 1


def test_refused_message_gets_a_rejectd_receipt() -> None:
    from router.smpp import codec
    from router.smpp.pdu import SubmitSm

    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 registered_delivery=1, short_message=b"x"))[16:]
    relay = ReceiptRelay()
    relay.on_refused(Message(0xABC, "acc", body), 0x45)
    rx = FakeReceiver("acc", 5)
    relay.attach(rx)
    pdu = rx.got[0].pdu
    assert b"stat:REJECTD" in pdu.short_message and b"id:abc " in pdu.short_message
    assert (pdu.source_addr, pdu.destination_addr) == ("989121234567", "1000")
    silent = codec.encode(SubmitSm(source_addr="1", destination_addr="2"))[16:]
    relay.on_refused(Message(1, "acc2", silent), 0x45)
    assert relay.queued("acc2") == 0


def test_id_variants_never_raise_on_what_int_refuses() -> None:
    """'²' passes str.isdigit() but not int(); '_', blanks and Arabic-Indic digits pass
    int(s, 16) but are no carrier id; 5,000 digits exceed int()'s digit limit.  None may
    raise (a raise here used to kill the carrier connection), none is converted."""
    for odd in ("1\xb23", "\xb2", "1_0", "0x1F", "\u0661\u0662", "9" * 5000, "\u00bd"):
        assert receipt.id_variants(odd) == [receipt.normalise_id(odd)], odd
    assert receipt.id_variants("ff") == ["FF", "255"]
