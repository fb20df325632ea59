"""aiosmpplib 0.7.4 as the ESME against a real ``chapar run`` on the simulator.

aiosmpplib is strict (domain.md §e): unknown statuses, non-10-digit receipt dates or a
header-only refused bind tear its session down.  These tests watch its hook and its
log for that (tests/clients.py): one bind for the whole run and no warning or error
from the library.
No pytest-asyncio here: each test drives its own loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest
from aiosmpplib import (
    ESME,
    BindMode,
    BindTransceiverResp,
    DeliverSm,
    PhoneNumber,
    SmppCommandStatus,
    SmppError,
    SmppMessage,
    SmppSessionState,
    SubmitSm,
)
from aiosmpplib.state import MESSAGE_STATE, RECEIPTED_MESSAGE_ID

from tests.clients import Problems, Run, run_aiosmpplib
from tests.conftest import RouterProcess, Sink


async def run_esme(port: int, messages: list[SubmitSm], expect_receipts: int,
                   bind_mode: BindMode = BindMode.TRANSCEIVER,
                   interface_version: int = 0x34) -> Run:
    return await run_aiosmpplib(
        port, messages, lambda hook: (len(hook.responses) >= len(messages)
                                      and len(hook.receipts) >= expect_receipts),
        bind_mode=bind_mode, interface_version=interface_version)


def submit(text: str, destination: str, log_id: str, encoding: str | None = None
           ) -> SubmitSm:
    return SubmitSm(short_message=text, source=PhoneNumber("98100"),
                    destination=PhoneNumber(destination), log_id=log_id, extra_data=log_id,
                    registered_delivery=1, encoding=encoding)


def tlv(message: SmppMessage, tag: int) -> object:
    assert isinstance(message, DeliverSm) and message.optional_params is not None
    return next((p.value for p in message.optional_params if p.tag == tag), None)


def assert_session_healthy(run: Run) -> None:
    """One bind for the whole run, nothing aiosmpplib could not parse or complain about."""
    hook = run.hook
    binds = hook.of(BindTransceiverResp)
    assert len(binds) == 1, f"session was re-established: {len(binds)} binds"
    assert binds[0].command_status == SmppCommandStatus.ESME_ROK
    assert run.state_before_stop == SmppSessionState.BOUND_TRX
    assert hook.send_errors == []
    assert None not in hook.messages, (
        "aiosmpplib could not parse a PDU: "
        + "; ".join(r.getMessage()[:400] for r in run.problems.records))
    assert [r.getMessage() for r in run.problems.records] == []


def accepted_ids(run: Run, log_ids: set[str]) -> dict[str, str]:
    ids = {}
    for resp in run.hook.responses:
        assert resp.command_status == SmppCommandStatus.ESME_ROK
        assert 0 < len(resp.message_id) <= 16
        ids[resp.log_id] = resp.message_id
    assert set(ids) == log_ids
    assert len(set(ids.values())) == len(ids), f"ids not distinct: {ids}"
    return ids


def assert_receipts_match(run: Run, ids: dict[str, str]) -> None:
    receipts = run.hook.receipts
    assert len(receipts) == len(ids)
    for receipt in receipts:
        # aiosmpplib correlated the receipt to its submit by the id the receipt carries
        assert receipt.log_id in ids, f"receipt not correlated: {receipt.short_message!r}"
        parsed = receipt.parse_receipt()
        assert parsed["id"] == ids[receipt.log_id]
        assert parsed["stat"] == "DELIVRD"
        assert tlv(receipt, RECEIPTED_MESSAGE_ID) == ids[receipt.log_id]
        assert tlv(receipt, MESSAGE_STATE) == 2
        dates = re.findall(r"(?:submit|done) date:(\S*)", receipt.short_message)
        assert len(dates) == 2 and all(re.fullmatch(r"\d{10}", d) for d in dates)


def test_trx_gsm7_submit_and_receipt(router: RouterProcess) -> None:
    run = asyncio.run(run_esme(router.port, [
        submit("Hello from aiosmpplib", "989120000001", "gsm-1"),
        submit("Second @ message", "989120000002", "gsm-2")], expect_receipts=2))
    assert_session_healthy(run)
    ids = accepted_ids(run, {"gsm-1", "gsm-2"})
    assert_receipts_match(run, ids)
    by_log = {r.log_id: r for r in run.hook.receipts}
    assert by_log["gsm-1"].source.number == "989120000001"
    assert by_log["gsm-1"].destination.number == "98100"


def test_v5_bind_aiosmpplib_reads_congestion_state_as_part_of_the_id(
        router: RouterProcess) -> None:
    """issue 12 item 5: aiosmpplib bound at interface_version 0x50 is served as 5.0.  It
    reads a submit_sm_resp's whole body as the message id, so with congestion_state (the
    default) its ids carry the TLV's bytes and it cannot match its receipts (README,
    "The rest of SMPP": ``smpp.congestion_state: false`` for such fleets)."""
    run = asyncio.run(run_esme(router.port, [submit("Hello at 5.0", "989120000001", "v5-0")],
                               expect_receipts=0, interface_version=0x50))
    (resp,) = run.hook.responses
    assert resp.message_id[-5:-1] == "\0\x04\x28\0"  # id NUL, congestion_state, length 1


def test_v5_bind_aiosmpplib_healthy_without_congestion_state(
        make_router: Callable[..., RouterProcess]) -> None:
    """With ``smpp.congestion_state: false`` aiosmpplib bound at 0x50 gets bare ids,
    correlates its receipts and stays bound."""
    router = make_router(smpp={"congestion_state": False})
    run = asyncio.run(run_esme(router.port, [
        submit("Hello at 5.0", "989120000001", "v5-1"),
        submit("Again at 5.0", "989120000002", "v5-2")], expect_receipts=2,
        interface_version=0x50))
    assert_session_healthy(run)
    assert_receipts_match(run, accepted_ids(run, {"v5-1", "v5-2"}))


def test_trx_ucs2_chinese_submit_accepted(router: RouterProcess) -> None:
    """UCS2 submit without a receipt request: ROK with an id, session intact."""
    message = submit("你好，世界", "989120000003", "ucs2-0", encoding="ucs2")
    message.registered_delivery = 0
    run = asyncio.run(run_esme(router.port, [message], expect_receipts=0))
    assert_session_healthy(run)
    accepted_ids(run, {"ucs2-0"})


def test_trx_ucs2_chinese_submit_and_receipt(router: RouterProcess) -> None:
    run = asyncio.run(run_esme(router.port, [
        submit("Hello", "989120000004", "gsm-1"),
        submit("你好，世界", "989120000005", "ucs2-1", encoding="ucs2")], expect_receipts=2))
    ids = accepted_ids(run, {"gsm-1", "ucs2-1"})
    assert_session_healthy(run)
    assert_receipts_match(run, ids)


def test_many_submits_one_session(router: RouterProcess) -> None:
    messages = [submit(f"bulk {i}", f"98912{i:07d}", f"bulk-{i}") for i in range(40)]
    run = asyncio.run(run_esme(router.port, messages, expect_receipts=40))
    hook = run.hook
    assert len(hook.of(BindTransceiverResp)) == 1
    assert [r.getMessage() for r in run.problems.records] == []
    ids = {r.log_id: r.message_id for r in hook.responses}
    assert len(ids) == 40 and len(set(ids.values())) == 40
    assert {r.log_id: r.parse_receipt()["id"] for r in hook.receipts} == ids


def test_refused_bind_is_reported_and_socket_closed(router: RouterProcess) -> None:
    """A wrong password must surface as a bind error, not hang aiosmpplib.

    The refusal is header-only (legal in 3.4): aiosmpplib raises ValueError on it, an
    SmppError had it a body; either way the server must close the socket."""

    async def scenario() -> tuple[list[str], int]:
        problems = Problems()
        esme = ESME(smsc_host="127.0.0.1", smsc_port=router.port, system_id="esme1",
                    password="wrongpw1", log_handler=problems, log_level="WARNING",
                    socket_timeout=3.0)
        with pytest.raises((ValueError, SmppError)) as info:
            await asyncio.wait_for(esme.connect(), 5)
        if isinstance(info.value, SmppError):
            assert info.value.command_status == SmppCommandStatus.ESME_RBINDFAIL
        # the server closes its end: a read ends with EOF rather than timing out
        assert esme._reader is not None
        rest = await asyncio.wait_for(esme._reader.read(), 3)
        if esme._writer is not None:
            esme._writer.close()
        return [str(info.value)], len(rest)

    messages, leftover = asyncio.run(scenario())
    assert leftover == 0
    assert messages
    router.wait_event("bind", where=lambda e: e.get("outcome") == "refused")


def test_receipts_from_the_c_sink_reach_aiosmpplib(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """The same receipt checks with smppsink --dlr as the carrier instead of Chapar's
    simulator (whose receipts are written by the module that parses them): aiosmpplib
    correlates each receipt by the id its submit_sm_resp carried, in the text and in
    receipted_message_id, with 10-digit dates, and its session stays up."""
    sink = make_sink("--dlr", "--dlr-delay-ms", "50")
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port,
                                     "reconnect_min": 0.1}])
    router.wait_event("upstream_bound")
    messages = [submit(f"sink receipt {i}", f"98912000{i:04d}", f"sink-{i}") for i in range(5)]
    run = asyncio.run(run_esme(router.port, messages, expect_receipts=5))
    assert_session_healthy(run)
    ids = accepted_ids(run, {f"sink-{i}" for i in range(5)})
    assert_receipts_match(run, ids)
    assert sink.stats()["dlr_sent"] == 5
