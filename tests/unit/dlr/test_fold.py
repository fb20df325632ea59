"""Per-part receipts folded into one per message (``receipts: per_message``): no
sockets, parts accepted, receipts fed, the bodies that come out looked at."""

from __future__ import annotations

from router.dlr.book import ReceiptBook
from router.model.messages import Message
from router.smpp import codec
from router.smpp.deliver import Deliver, scan_deliver
from router.smpp.pdu import DeliverSm, SubmitSm, Tag, tlv_int, tlv_str

TEXT = ("id:{} sub:001 dlvrd:001 submit date:2611221015 done date:2611221016 "
        "stat:{} err:000 text:hello")
STATE = {"DELIVRD": 2, "UNDELIV": 5, "ENROUTE": 1}


def part(message_id: int, seq: int, total: int = 3, account: str = "folded",
         sar: bool = False) -> Message:
    """Part ``seq`` of a long message from 1000 to 989121234567 (UDH reference 7, or
    the SAR TLVs)."""
    if sar:
        sm = SubmitSm(source_addr="1000", destination_addr="989121234567",
                      registered_delivery=1, short_message=b"part",
                      tlvs=[(Tag.SAR_MSG_REF_NUM, b"\x00\x07"),
                            (Tag.SAR_TOTAL_SEGMENTS, bytes([total])),
                            (Tag.SAR_SEGMENT_SEQNUM, bytes([seq]))])
    else:
        sm = SubmitSm(source_addr="1000", destination_addr="989121234567", esm_class=0x40,
                      registered_delivery=1,
                      short_message=bytes([5, 0, 3, 7, total, seq]) + b"part")
    return Message(message_id, account, codec.encode(sm)[16:], receipt=True)


def carrier(carrier_id: str, stat: str = "DELIVRD") -> Deliver:
    pdu = DeliverSm(1, 0, "", 1, 1, "989121234567", 1, 1, "1000", 0x04, 0, 0, "", "",
                    0, 0, 0, 0, TEXT.format(carrier_id, stat).encode(),
                    [(Tag.RECEIPTED_MESSAGE_ID, carrier_id.encode() + b"\0"),
                     (Tag.MESSAGE_STATE, bytes([STATE[stat]]))])
    return scan_deliver(1, codec.encode_body(pdu))


def accepted(book: ReceiptBook, *messages: Message) -> None:
    for message in messages:
        book.expect(message)
        book.remember(f"C{message.id}", message.id, message.account)


def decoded(body: bytes) -> DeliverSm:
    pdu = codec.decode(0x05, 0, 0, body)
    assert isinstance(pdu, DeliverSm)
    return pdu


def test_one_receipt_per_message_with_part_ones_id_when_the_last_part_ends() -> None:
    """issue 12: per-part receipts folded into one per message by policy."""
    book = ReceiptBook(per_message=frozenset({"folded"}))
    accepted(book, part(0x21, 1), part(0x22, 2), part(0x23, 3))
    held = book.from_carrier([carrier("C34", "ENROUTE"), carrier("C35"), carrier("C33")])
    # carrier ids are C + our id in decimal: C34 is part 2 (0x22), intermediate: dropped
    assert held.bodies == {} and sorted(held.finals) == [0x21, 0x23]
    (body,) = book.from_carrier([carrier("C34")]).bodies["folded"]
    pdu = decoded(body)
    assert pdu.short_message.startswith(b"id:21 ") and b"stat:DELIVRD" in pdu.short_message
    assert tlv_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "21"


def test_the_first_failed_part_decides_the_outcome() -> None:
    book = ReceiptBook(per_message=frozenset({"folded"}))
    accepted(book, part(0x31, 1, 2, sar=True), part(0x32, 2, 2, sar=True))
    assert book.from_carrier([carrier("C50", "UNDELIV")]).bodies == {}  # 0x32
    (body,) = book.from_carrier([carrier("C49")]).bodies["folded"]
    pdu = decoded(body)
    assert pdu.short_message.startswith(b"id:31 ") and b"stat:UNDELIV" in pdu.short_message
    assert tlv_int(pdu.tlvs, Tag.MESSAGE_STATE) == 5


def test_a_part_refused_by_the_carrier_folds_in_as_rejectd() -> None:
    book = ReceiptBook(per_message=frozenset({"folded"}))
    accepted(book, part(0x41, 1, 2))
    assert book.from_carrier([carrier("C65")]).bodies == {}  # part 1 delivered
    body = book.final(part(0x42, 2, 2), "REJECTD", 0x45)  # part 2 refused
    assert body is not None
    pdu = decoded(body)
    assert pdu.short_message.startswith(b"id:41 ") and b"stat:REJECTD" in pdu.short_message
    assert (pdu.source_addr, pdu.destination_addr) == ("989121234567", "1000")


def test_other_accounts_and_single_messages_keep_a_receipt_each() -> None:
    book = ReceiptBook(per_message=frozenset({"folded"}))
    single = Message(0x51, "folded", codec.encode(SubmitSm(
        source_addr="1000", destination_addr="989121234567", registered_delivery=1,
        short_message=b"short"))[16:], receipt=True)
    accepted(book, part(0x61, 1, 2, account="plain"), part(0x62, 2, 2, account="plain"),
             single)
    out = book.from_carrier([carrier("C97"), carrier("C98"), carrier("C81")])
    assert len(out.bodies["plain"]) == 2 and len(out.bodies["folded"]) == 1
