"""ESME clients for the integration tests: python-smpplib and aiosmpplib sessions against
a real ``chapar run`` on loopback, recording what they read, every wait bounded in time.

smpplib raises PDUError on any non-zero status unless an error handler is set
(domain.md §e), so :class:`Esme` records every PDU instead and reads only when the
socket is readable.  aiosmpplib is strict: a PDU it cannot parse reaches its hook as
``None`` and a refusal it does not know tears its session down, so :class:`Recorder`
and :class:`Problems` keep everything its hook and its log see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import smpplib.client
import smpplib.consts
import smpplib.exceptions
from aiosmpplib import (
    ESME,
    AbstractHook,
    BindMode,
    DeliverSm,
    SmppMessage,
    SmppSessionState,
    SubmitSm,
    SubmitSmResp,
)

from tests.conftest import PASSWORD

ESME_ROK = 0x00
TIMEOUT = 10.0

# --- python-smpplib ------------------------------------------------------------------


class Esme:
    """One smpplib session that keeps every submit_sm_resp and deliver_sm it reads."""

    wait = TIMEOUT  # pump's default timeout, seconds
    poll = 0.5  # longest single wait for the socket to become readable

    def __init__(self, port: int, timeout: float = 5.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.client = smpplib.client.Client("127.0.0.1", port, timeout=timeout,
                                            ssl_context=ssl_context,
                                            allow_unknown_opt_params=True)
        self.responses: dict[int, Any] = {}  # sequence -> submit_sm_resp
        self.delivered: list[Any] = []
        self.client.set_message_sent_handler(self._on_sent)
        self.client.set_message_received_handler(self._on_deliver)
        self.client.set_error_pdu_handler(lambda pdu: None)  # keep going, status is checked

    def _on_sent(self, pdu: Any, **_: Any) -> None:
        self.responses[pdu.sequence] = pdu

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        self.delivered.append(pdu)
        return ESME_ROK

    def bind(self, kind: str = "transceiver", system_id: str = "esme1",
             password: str = PASSWORD) -> Any:
        """Connect and send ``bind_<kind>``; returns the bind response."""
        self.client.connect()
        return getattr(self.client, f"bind_{kind}")(system_id=system_id, password=password)

    def send(self, source: str, destination: str, text: bytes, dest_ton: int = 1,
             **fields: Any) -> int:
        """One submit_sm (TON 1 / NPI 1 source, NPI 1 destination); returns its sequence."""
        pdu = self.client.send_message(
            source_addr_ton=1, source_addr_npi=1, source_addr=source,
            dest_addr_ton=dest_ton, dest_addr_npi=1, destination_addr=destination,
            short_message=text, **fields)
        seq: int = pdu.sequence
        return seq

    def pump(self, until: Callable[[], bool], timeout: float | None = None) -> None:
        """Read PDUs until ``until()`` holds; fail after ``timeout`` seconds."""
        sock = self.client._socket
        deadline = time.monotonic() + (self.wait if timeout is None else timeout)
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out: {len(self.responses)} responses, "
                    f"{len(self.delivered)} deliver_sm")
            # over TLS a record may hold more than one PDU: what is decrypted already
            # (pending) is not seen by select
            pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
            if pending or select.select([sock], [], [], min(left, self.poll))[0]:
                self.client.read_once(auto_send_enquire_link=False)

    def idle(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds`` (for checks that nothing came)."""
        end = time.monotonic() + seconds
        self.pump(lambda: time.monotonic() >= end, timeout=seconds + 1.0)

    def close(self) -> None:
        if self.client._socket is None:
            return
        try:
            if self.client.state in (smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
                                     smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
                                     smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX):
                self.client.unbind()
        except (smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError, OSError):
            pass
        self.client.disconnect()


E = TypeVar("E", bound=Esme)


@contextlib.contextmanager
def bound(session: E, kind: str = "transceiver", system_id: str = "esme1") -> Iterator[E]:
    """``session`` bound as ``kind`` (the bind must succeed), closed after the block."""
    try:
        resp = session.bind(kind, system_id)
        assert resp.status == ESME_ROK
        yield session
    finally:
        session.close()


# --- aiosmpplib ----------------------------------------------------------------------


class Recorder(AbstractHook):  # type: ignore[misc]
    """Everything aiosmpplib hands to its hook (None: a PDU it could not parse)."""

    def __init__(self) -> None:
        self.messages: list[SmppMessage | None] = []
        self.send_errors: list[Exception] = []
        self.changed = asyncio.Event()

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes,
                       client_id: str) -> None:
        self.messages.append(smpp_message)
        self.changed.set()

    async def send_error(self, smpp_message: SmppMessage, error: Exception,
                         client_id: str) -> None:
        self.send_errors.append(error)

    def of(self, kind: type[SmppMessage]) -> list[SmppMessage]:
        return [m for m in self.messages if type(m) is kind]

    @property
    def responses(self) -> list[SubmitSmResp]:
        return [m for m in self.messages if type(m) is SubmitSmResp]

    @property
    def receipts(self) -> list[DeliverSm]:
        return [m for m in self.messages if type(m) is DeliverSm and m.is_receipt()]


class Problems(logging.Handler):
    """aiosmpplib's own log, warnings and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def wait_for(hook: Recorder, done: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"timed out; hook saw {hook.messages!r}")
        hook.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hook.changed.wait(), left)


@dataclass
class Run:
    hook: Recorder
    problems: Problems
    state_before_stop: SmppSessionState


async def run_aiosmpplib(port: int, messages: list[SubmitSm], done: Callable[[Recorder], bool],
                         system_id: str = "esme1",
                         bind_mode: BindMode = BindMode.TRANSCEIVER,
                         settle: float = 0.2, interface_version: int = 0x34) -> Run:
    """Start an aiosmpplib ESME, enqueue ``messages``, wait until ``done(hook)`` (or until
    aiosmpplib could not parse something), ``settle`` seconds more, then stop it."""
    hook = Recorder()
    problems = Problems()
    esme = ESME(smsc_host="127.0.0.1", smsc_port=port, system_id=system_id,
                password=PASSWORD, bind_mode=bind_mode, hook=hook, log_handler=problems,
                log_level="WARNING", socket_timeout=5.0)
    esme.interface_version = interface_version
    task = asyncio.create_task(esme.start())
    try:
        for message in messages:
            await esme.broker.enqueue(message)
        # stop early when aiosmpplib could not parse something (None in the hook)
        await wait_for(hook, lambda: None in hook.messages or done(hook))
        await asyncio.sleep(settle)  # anything unexpected that follows (a reconnect, ...)
        state = esme.session_state
        await asyncio.wait_for(esme.stop(), 5)
        await asyncio.wait_for(task, 5)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return Run(hook, problems, state)
