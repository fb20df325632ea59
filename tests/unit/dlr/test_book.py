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


# --- exactly one final receipt per message (issue 12) --------------------------------

ENROUTE = ("id:{} sub:001 dlvrd:000 submit date:2611221015 done date:2611221016 "
           "stat:ENROUTE err:000 text:hello")


def text_only(carrier_id: str, text: str = TEXT) -> Deliver:
    """A receipt with the id and stat in the text only (no TLVs)."""
    pdu = DeliverSm(1, 0, "", 1, 1, "989121234567", 1, 1, "1000", 0x04, 0, 0, "", "",
                    0, 0, 0, 0, text.format(carrier_id).encode(), [])
    return scan_deliver(1, codec.encode_body(pdu))


def test_a_repeated_final_receipt_is_dropped_and_counted() -> None:
    """issue 12: duplicate carrier receipts suppressed; intermediate ones (ENROUTE) pass
    and do not end the message."""
    book = ReceiptBook()
    book.remember("AB", 0x10, "acc")
    first = book.from_carrier([text_only("ab", ENROUTE), carrier("AB", "ab")])
    assert len(first.bodies["acc"]) == 2 and first.finals == [0x10]
    with capture_logs() as logs:
        again = book.from_carrier([carrier("0AB", "0ab"), text_only("ab")])
    assert again.bodies == {} and again.finals == [] and book.duplicates == 2
    assert [e["total"] for e in logs if e["event"] == "receipt_duplicate_dropped"] == [2]
    assert book.unmatched == 0


def test_the_map_keeps_only_messages_waiting_for_their_final_receipt() -> None:
    """An intermediate receipt leaves the message waiting; the final one takes it out of
    the map (it holds what is pending, not everything ever sent); a repeat in another
    base is still a duplicate, not an unmatched receipt."""
    book = ReceiptBook()
    book.remember("AB", 0x10, "acc")
    book.remember("CD", 0x11, "acc")
    book.from_carrier([text_only("171", ENROUTE)])  # decimal for hex AB
    assert len(book.ids) == 2
    book.from_carrier([carrier("AB", "ab")])
    assert len(book.ids) == 1 and 0x10 in book.finished
    again = book.from_carrier([carrier("AB", "00ab")])
    assert again.bodies == {} and book.duplicates == 1 and book.unmatched == 0


def test_a_message_sent_twice_gets_one_receipt() -> None:
    """At least once towards the carrier (a dropped connection): two carrier ids for one
    message, two receipts from the carrier, one to the ESME."""
    book = ReceiptBook()
    book.remember_many([("C1", 7, "acc"), ("C2", 7, "acc")])
    out = book.from_carrier([carrier("C1", "C1"), carrier("C2", "C2")])
    assert len(out.bodies["acc"]) == 1 and book.duplicates == 1


def test_a_receipt_before_its_submit_sm_resp_waits_for_it() -> None:
    """issue 12: a receipt arriving before its submit_sm_resp is handled: held, and
    released (in any of its id forms) when the id is remembered."""
    book = ReceiptBook()
    assert book.from_carrier([carrier("255", "255")]).bodies == {}  # decimal of FF
    assert book.unmatched == 1
    (early,) = book.remember_many([("00ff", 0x99, "acc")])
    out = book.from_carrier([early])
    assert decoded(out.bodies["acc"][0]).short_message.startswith(b"id:99 ")
    assert book.matched_late == 1 and book.remember_many([("FF", 0x99, "acc")]) == []


def test_early_receipts_are_bounded_in_count_and_age() -> None:
    full = ReceiptBook(early_limit=3)
    full.from_carrier([carrier(f"X{i}", f"X{i}") for i in range(5)])  # one form each
    assert full.early_expired == 2 and sorted(full._early) == ["X2", "X3", "X4"]
    aged = ReceiptBook(early_wait=0.0)
    aged.from_carrier([carrier(f"X{i}", f"X{i}") for i in range(5)])
    assert aged.remember_many([("other", 1, "acc")]) == []
    assert aged._early == {} and aged.early_expired == 5


def test_final_outcomes_of_our_own_give_one_receipt_each() -> None:
    """The channel REJECTD uses turns any final outcome (EXPIRED too) into exactly one
    receipt, and a carrier's receipt after it is a duplicate."""
    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 registered_delivery=1, short_message=b"x"))[16:]
    book = ReceiptBook()
    expired = book.final(Message(0x42, "acc", body), "EXPIRED", 0x400)
    assert expired is not None
    pdu = decoded(expired)
    assert b"stat:EXPIRED" in pdu.short_message and tlv_int(pdu.tlvs, Tag.MESSAGE_STATE) == 3
    assert book.final(Message(0x42, "acc", body), "REJECTD", 0x45) is None
    book.remember("C42", 0x42, "acc")
    assert book.from_carrier([carrier("C42", "C42")]).bodies == {}


def test_messages_receipted_before_a_restart_stay_closed() -> None:
    book = ReceiptBook()
    book.remember("C5", 5, "acc")
    book.closed([5])
    assert book.from_carrier([carrier("C5", "C5")]).bodies == {} and book.duplicates == 1
