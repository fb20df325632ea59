"""issue 8: a response whose sequence number matches nothing outstanding is logged
(sampled, with the peer) and counted, not silently dropped; the session goes on."""

from __future__ import annotations

from tests.conftest import RouterProcess
from tests.raw import bind_body, connect, pdu, read_pdu


def test_stray_responses_are_logged_with_the_peer(router: RouterProcess) -> None:
    with connect(router) as s:
        s.sendall(pdu(0x00000009, 1, bind_body()))
        assert read_pdu(s)[:3] == (0x80000009, 0, 1)
        s.sendall(pdu(0x80000004, 4242, b"x\0") + pdu(0x80000005, 4243, b"\0")
                  + pdu(0x00000015, 9))
        assert read_pdu(s)[:3] == (0x80000015, 0, 9), "the session is still served"
        event = router.wait_event("response_unmatched")
        assert event["sequence"] == 4242 and event["command_id"] == "0x80000004"
        assert event["peer"].startswith("127.0.0.1:") and event["system_id"] == "esme1"
        second = router.wait_event("response_unmatched", where=lambda e: e["total"] == 2)
        assert second["sequence"] == 4243
