"""The receipt book: a carrier read's receipts matched to our messages and rewritten,
grouped by account; REJECTD receipts composed for refused messages.  No sockets: feed
scanned deliver_sm, look at the bodies that come out."""

from __future__ import annotations

from structlog.testing import capture_logs

from router.dlr.book import ReceiptBook
from router.model.messages import Message
from router.smpp import codec
from router.smpp.deliver import Deliver, scan_deliver
from router.smpp.pdu import DeliverSm, SubmitSm, Tag, tlv_int, tlv_str

TEXT = ("id:{} sub:001 dlvrd:001 submit date:2611221015 done date:2611221016 "
        "stat:DELIVRD err:000 text:hello")


def carrier(carrier_id: str, tlv_id: str | None = None, seq: int = 1) -> Deliver:
    tlvs = [(Tag.MESSAGE_STATE, b"\x02"), (0x1401, b"vendor")]
    if tlv_id is not None:
        tlvs.insert(1, (Tag.RECEIPTED_MESSAGE_ID, tlv_id.encode() + b"\0"))
    pdu = DeliverSm(seq, 0, "", 1, 1, "989121234567", 1, 1, "1000", 0x04, 0, 0, "", "",
                    0, 0, 0, 0, TEXT.format(carrier_id).encode(), tlvs)
    return scan_deliver(seq, codec.encode_body(pdu))


def decoded(body: bytes) -> DeliverSm:
    pdu = codec.decode(0x05, 0, 0, body)
    assert isinstance(pdu, DeliverSm)
    return pdu


def test_receipt_is_rewritten_with_our_id() -> None:
    """domain.md: the ESME must see the id we gave in submit_sm_resp, in the text and in
    receipted_message_id, whatever form (zeros, case) the carrier uses."""
    book = ReceiptBook()
    book.remember("0000FF", 0x1234, "acc")
    (body,) = book.from_carrier([carrier("ff", "ff")]).bodies["acc"]
    pdu = decoded(body)
    assert pdu.short_message.startswith(b"id:1234 sub:001")
    assert tlv_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "1234"


def test_receipts_grouped_by_account_with_our_id_in_text_and_tlv() -> None:
    book = ReceiptBook()
    book.remember_many([("AA", 0x100, "acc1"), ("BB", 0x200, "acc2"), ("CC", 0x300, "acc1")])
    out = book.from_carrier([carrier("aa", "aa"), carrier("x", "BB"), carrier("00cc"),
                             carrier("zz", "zz")]).bodies
    assert book.unmatched == 1
    assert sorted(out) == ["acc1", "acc2"]
    first, third = (decoded(b) for b in out["acc1"])
    assert first.short_message.startswith(b"id:100 sub:001")
    assert tlv_str(first.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "100"
    assert first.tlvs[0][0] == Tag.RECEIPTED_MESSAGE_ID
    assert tlv_int(first.tlvs, Tag.MESSAGE_STATE) == 2 and (0x1401, b"vendor") in first.tlvs
    assert (first.source_addr, first.destination_addr) == ("989121234567", "1000")
    assert third.short_message.startswith(b"id:300 ")  # id from the text, no TLV
    assert tlv_str(third.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "300"
    (second,) = (decoded(b) for b in out["acc2"])
    assert second.short_message.startswith(b"id:200 ")  # the TLV wins over the text


def test_hex_and_decimal_forms_of_one_id_match() -> None:
    """A carrier that answered submit_sm with a hex id may report it in decimal, and the
    reverse."""
    book = ReceiptBook()
    book.remember("1F", 7, "acc")
    book.remember("171", 5, "acc")
    out = book.from_carrier([carrier("31", "31"), carrier("ab", "ab")]).bodies
    assert [decoded(b).short_message[:5] for b in out["acc"]] == [b"id:7 ", b"id:5 "]
    assert book.unmatched == 0


def test_unmatched_receipts_counted_and_logged_sampled() -> None:
    book = ReceiptBook()
    with capture_logs() as logs:
        assert book.from_carrier([carrier(f"N{i}") for i in range(3)]).bodies == {}
        for i in range(5):
            book.from_carrier([carrier(f"M{i}", f"M{i}")])
    assert book.unmatched == 8
    events = [e for e in logs if e["event"] == "receipt_unmatched"]
    assert [e["total"] for e in events] == [3, 4, 8]  # 1st-2nd in the first read, 4th, 8th
    assert events[-1]["carrier_id"] == "M4"


def test_refused_message_gets_a_rejectd_receipt_only_when_asked() -> None:
    """requirements: a message we acknowledged and a carrier refused ends with REJECTD."""
    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 registered_delivery=1, short_message=b"x"))[16:]
    book = ReceiptBook()
    rejected = book.rejected(Message(0xABC, "acc", body), 0x45)
    assert rejected is not None
    pdu = decoded(rejected)
    assert b"stat:REJECTD" in pdu.short_message and b"id:abc " in pdu.short_message
    assert (pdu.source_addr, pdu.destination_addr) == ("989121234567", "1000")
    assert tlv_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "abc"
    silent = codec.encode(SubmitSm(source_addr="1", destination_addr="2"))[16:]
    assert book.rejected(Message(1, "acc2", silent), 0x45) is None
