"""A carrier's data_sm (issue 12 item 5, "data_sm in both directions"): a receipt or an
MO sent as data_sm (text in message_payload) reaches the ESME as the deliver_sm it
stands for, and the carrier gets its data_sm_resp; one Chapar cannot read gets a
clear status, and the carrier connection stays up."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from router.smpp.pdu import DataSm, Tag
from tests.carrier import FakeCarrier
from tests.clients import Esme, bound
from tests.conftest import RouterProcess


@pytest.fixture
def carrier() -> Iterator[FakeCarrier]:
    fake = FakeCarrier(message_id=lambda n: f"{0xB000 + n:x}").start()
    yield fake
    fake.stop()


def data_sm(source: str, destination: str, esm_class: int, payload: bytes,
            tlvs: list[tuple[int, bytes]] | None = None) -> DataSm:
    return DataSm(source_addr_ton=1, source_addr_npi=1, source_addr=source, dest_addr_ton=1,
                  dest_addr_npi=1, destination_addr=destination, esm_class=esm_class,
                  tlvs=[(Tag.MESSAGE_PAYLOAD, payload), *(tlvs or [])])


def test_carrier_data_sm_receipt_and_mo_reach_the_esme(
        make_router: Callable[..., RouterProcess], carrier: FakeCarrier) -> None:
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "fake", "port": carrier.port}])
    router.wait_event("upstream_bound")
    with bound(Esme(router.port)) as esme:
        seq = esme.send("1000", "989121234567", b"hello", registered_delivery=1)
        esme.pump(lambda: seq in esme.responses)
        our_id = esme.responses[seq].message_id.decode()
        carrier.wait(lambda c: len(c.submits) == 1)
        carrier_id = carrier.submits[0][1]
        text = (f"id:{carrier_id} sub:001 dlvrd:001 submit date:2611221200 "
                f"done date:2611221201 stat:DELIVRD err:000 text:hello").encode()
        sent = [
            carrier.deliver(data_sm("989121234567", "1000", 0x04, text, [
                (Tag.RECEIPTED_MESSAGE_ID, carrier_id.encode() + b"\0"),
                (Tag.MESSAGE_STATE, b"\x02")])),
            carrier.deliver(data_sm("989127654321", "1000", 0x00, b"an MO by data_sm")),
            carrier.deliver(data_sm("9" * 30, "1000", 0x00, b"address too long")),
        ]
        carrier.wait(lambda c: all(s in c.data_resps for s in sent))
        assert [carrier.data_resps[s] for s in sent] == [0, 0, 0x0A]
        esme.pump(lambda: len(esme.delivered) >= 2)
        receipts = [p for p in esme.delivered if p.esm_class & 0x3C]
        mos = [p for p in esme.delivered if not p.esm_class & 0x3C]
        assert [p.receipted_message_id.decode() for p in receipts] == [our_id]
        assert [(p.source_addr, p.message_payload) for p in mos] == [
            (b"989127654321", b"an MO by data_sm")]
    assert (carrier.binds, carrier.connections_made) == (1, 1)
