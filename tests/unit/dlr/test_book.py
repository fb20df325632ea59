"""The receipt book: carrier receipts matched to our messages and rewritten, REJECTD
receipts composed for refused messages.  No sockets: feed PDUs, look at what comes out."""

from __future__ import annotations

from router.dlr.book import ReceiptBook
from router.model.messages import Message
from router.smpp import codec
from router.smpp.pdu import DeliverSm, SubmitSm, Tag, tlv_str


def carrier_receipt(carrier_id: str) -> DeliverSm:
    return DeliverSm(0, 0, "", 1, 1, "989121234567", 1, 1, "1000", 0x04, 0, 0, "", "",
                     0, 0, 0, 0, f"id:{carrier_id} stat:DELIVRD err:000".encode(),
                     [(Tag.RECEIPTED_MESSAGE_ID, carrier_id.encode() + b"\0")])


def test_receipt_is_rewritten_with_our_id() -> None:
    """domain.md: the ESME must see the id we gave in submit_sm_resp, in the text and in
    receipted_message_id, whatever form (zeros, case) the carrier uses."""
    book = ReceiptBook()
    book.remember("0000FF", 0x1234, "acc")
    routed = book.from_carrier(carrier_receipt("ff"))
    assert routed is not None
    account, pdu = routed
    assert account == "acc"
    assert pdu.short_message.startswith(b"id:1234 ")
    assert tlv_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "1234"


def test_hex_and_decimal_forms_of_one_id_match() -> None:
    """A carrier that answered submit_sm with a hex id may report it in decimal."""
    book = ReceiptBook()
    book.remember("1F", 7, "acc")
    assert book.from_carrier(carrier_receipt("31")) is not None


def test_unmatched_receipt_is_counted() -> None:
    book = ReceiptBook()
    assert book.from_carrier(carrier_receipt("nope")) is None
    assert book.unmatched == 1


def test_refused_message_gets_a_rejectd_receipt_only_when_asked() -> None:
    """requirements: a message we acknowledged and a carrier refused ends with REJECTD."""
    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 registered_delivery=1, short_message=b"x"))[16:]
    book = ReceiptBook()
    pdu = book.rejected(Message(0xABC, "acc", body), 0x45)
    assert pdu is not None
    assert b"stat:REJECTD" in pdu.short_message and b"id:abc " in pdu.short_message
    assert (pdu.source_addr, pdu.destination_addr) == ("989121234567", "1000")
    silent = codec.encode(SubmitSm(source_addr="1", destination_addr="2"))[16:]
    assert book.rejected(Message(1, "acc2", silent), 0x45) is None
