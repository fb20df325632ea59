"""An ESME's requests besides submit_sm: data_sm, submit_multi, query_sm, cancel_sm,
replace_sm (issue 12 item 5).

data_sm and each destination of a submit_multi become submit_sm bodies
(``smpp.convert``) and take the submit's road: the same policy pipeline, the same
group commit, ESME_ROK only once journalled; only the answer differs (data_sm_resp;
one submit_multi_resp listing each refused destination with its status from the one
status table).  query/cancel/replace are answered by ``dispatch.operations`` from
Chapar's own state, asynchronously: other PDUs of the session are not held up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from router.dispatch.operations import Operations
from router.dispatch.outbound import Outbound
from router.logs import sampled
from router.model.messages import format_id
from router.model.status import (
    DECISION_FAILED,
    NOT_REPLACEABLE,
    STORE_UNAVAILABLE,
    SUBMIT_FAILED,
    status_for,
)
from router.policy.pipeline import Pipeline
from router.policy.sizing import segments_of
from router.policy.throttle import ThrottleStage
from router.smpp import codec, convert
from router.smpp.pdu import (
    CancelSm,
    CommandId,
    DataSm,
    DecodeError,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    SubmitMulti,
    UnsuccessfulSme,
)
from router.smpp.session import Submit

if TYPE_CHECKING:
    from router.server.esme import EsmeConnection

log = structlog.get_logger("chapar.server")
_DATA_SM = int(CommandId.DATA_SM)
_DATA_SM_RESP = int(CommandId.DATA_SM_RESP)


class Congestion:
    """SMPP 5.0 congestion_state for an account: 0-100, the fuller of its throttle
    bucket (tokens spent) and the dispatch queue (against ``queue_limit``)."""

    def __init__(self, throttle: ThrottleStage | None, outbound: Outbound,
                 queue_limit: int) -> None:
        self._throttle = throttle
        self._outbound = outbound
        self._limit = max(1, queue_limit)

    @classmethod
    def of(cls, pipeline: Pipeline, outbound: Outbound, queue_limit: int) -> Congestion:
        """For the configured pipeline (without a throttle stage: the queue alone)."""
        throttle = next((s for s in pipeline.stages if isinstance(s, ThrottleStage)), None)
        return cls(throttle, outbound, queue_limit)

    def level(self, account: str) -> int:
        spent = 1.0 - self._throttle.fill_ratio(account) if self._throttle else 0.0
        queued = min(1.0, self._outbound.queued / self._limit)
        return round(100 * max(spent, queued, 0.0))


@dataclass(frozen=True, slots=True)
class Services:
    """What the connections need beyond the submit path (built by the app)."""

    operations: Operations
    congestion: Congestion


class DataSmAnswers:
    """The intake's answers for accepted data_sm: data_sm_resp with the id."""

    def __init__(self, conn: EsmeConnection) -> None:
        self._conn = conn

    def answer_accepted(self, first_id: int, submits: list[Submit]) -> None:
        conn = self._conn
        conn.session.respond_frames(codec.submit_sm_resp_frames(
            first_id, [s.sequence for s in submits], _DATA_SM_RESP, conn.v5_tlvs()))
        conn.flush()

    def answer_refused(self, submits: list[Submit], status: int) -> None:
        self._conn.answer_refused(submits, status, _DATA_SM)


class MultiAnswer:
    """The intake's answer for one submit_multi's accepted destinations: one
    submit_multi_resp carrying the first id and the refused destinations."""

    def __init__(self, conn: EsmeConnection, sequence: int,
                 unsuccessful: list[UnsuccessfulSme]) -> None:
        self._conn = conn
        self._sequence = sequence
        self._unsuccessful = unsuccessful

    def answer_accepted(self, first_id: int, submits: list[Submit]) -> None:
        self._conn.respond(convert.submit_multi_resp(self._sequence, format_id(first_id),
                                                     self._unsuccessful))

    def answer_refused(self, submits: list[Submit], status: int) -> None:
        self._conn.respond(codec.response_frames(CommandId.SUBMIT_MULTI,
                                                 [(self._sequence, status)])[0])


class Requests:
    """The requests of one connection that are not submit_sm."""

    def __init__(self, conn: EsmeConnection, services: Services, pipeline: Pipeline) -> None:
        self._conn = conn
        self._services = services
        self._pipeline = pipeline
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed = 0
        self._handlers: dict[type[Pdu], Callable[[Any], None]] = {
            DataSm: self.data_sm, SubmitMulti: self.submit_multi, QuerySm: self.query_sm,
            CancelSm: self.cancel_sm, ReplaceSm: self.replace_sm}

    def handle(self, pdu: Pdu) -> bool:
        handler = self._handlers.get(type(pdu))
        if handler is None:
            return False
        handler(pdu)
        return True

    def _refuse(self, pdu: Pdu, status: int) -> None:
        """A header-only answer (ESME_ROK too, for cancel_sm and replace_sm)."""
        self._conn.respond(codec.response_frames(pdu.command_id, [(pdu.sequence, status)])[0])

    # --- data_sm, submit_multi: the submit path -------------------------------------

    def data_sm(self, pdu: DataSm) -> None:
        try:
            submit = codec.scan_submit(pdu.sequence, convert.data_sm_body(pdu))
        except DecodeError as exc:
            self._refuse(pdu, exc.status)
            return
        self._conn.decide([submit], DataSmAnswers(self._conn), _DATA_SM)

    def submit_multi(self, pdu: SubmitMulti) -> None:
        conn = self._conn
        try:
            bodies, unsuccessful = convert.multi_as_submits(pdu)
        except DecodeError as exc:
            self._refuse(pdu, exc.status)
            return
        try:  # a field wrong in one destination's body is wrong in all of them
            submits = [codec.scan_submit(pdu.sequence, body) for body in bodies]
        except DecodeError as exc:
            self._refuse(pdu, exc.status)
            return
        account = conn.account_record
        conn.submitted += len(submits)
        try:
            accepted, refused = self._pipeline.decide(account.system_id, submits) if submits \
                else ([], [])
        except Exception:  # a bug, never the peer's fault: this PDU alone fails
            conn.decision_failed(submits)
            self._refuse(pdu, DECISION_FAILED)
            return
        if refused:
            style = account.status_style
            unsuccessful += [UnsuccessfulSme(s.dest_addr_ton, s.dest_addr_npi,
                                             s.destination_addr, status_for(r, style))
                             for s, r in refused]
            conn.record_refusals([(s, r.reason) for s, r in refused])
        if not accepted:
            statuses = {u.error for u in unsuccessful}
            self._refuse(pdu, statuses.pop() if len(statuses) == 1 else SUBMIT_FAILED)
            return
        conn.accept(accepted, MultiAnswer(conn, pdu.sequence, unsuccessful))

    # --- query, cancel, replace: answered from Chapar's state -----------------------

    def _spawn(self, pdu: Pdu, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._answering(pdu, work))
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    async def _answering(self, pdu: Pdu, work: Coroutine[Any, Any, None]) -> None:
        """A lookup that raises (the journal unreadable, a bug) is answered
        ESME_RSYSERR and logged, sampled: every request gets its answer."""
        try:
            await work
        except Exception:
            self._failed += 1
            if sampled(self._failed):
                log.exception("request_failed", system_id=self._conn.account,
                              command_id=f"0x{pdu.command_id:08x}", total=self._failed)
            self._refuse(pdu, STORE_UNAVAILABLE)

    def query_sm(self, pdu: QuerySm) -> None:
        self._spawn(pdu, self._query(pdu))

    async def _query(self, pdu: QuerySm) -> None:
        answer = await self._services.operations.query(
            self._conn.account, pdu.message_id, pdu.source_addr)
        if answer.status:
            self._refuse(pdu, answer.status)
            return
        self._conn.respond(codec.encode(QuerySmResp(
            pdu.sequence, 0, pdu.message_id, answer.final_date, answer.state,
            answer.error_code)))

    def cancel_sm(self, pdu: CancelSm) -> None:
        self._spawn(pdu, self._cancel(pdu))

    async def _cancel(self, pdu: CancelSm) -> None:
        status = await self._services.operations.cancel(
            self._conn.account, pdu.message_id, pdu.source_addr, pdu.destination_addr)
        self._refuse(pdu, status)  # header only, ROK included: cancel_sm_resp has no body

    def replace_sm(self, pdu: ReplaceSm) -> None:
        self._spawn(pdu, self._replace(pdu))

    async def _replace(self, pdu: ReplaceSm) -> None:
        status = await self._services.operations.replace(self._conn.account, pdu,
                                                         self._check_replacement)
        self._refuse(pdu, status)  # replace_sm_resp has no body

    def _check_replacement(self, account: str, new: bytes, old: bytes) -> int:
        """A new text is judged by the stages that take nothing; parts of long
        messages, and texts needing more segments than were paid for, are refused."""
        if convert.is_part(old) or convert.is_part(new):
            return NOT_REPLACEABLE
        submit = codec.scan_submit(0, new)
        if segments_of(submit) > segments_of(codec.scan_submit(0, old)):
            return NOT_REPLACEABLE
        refusal = self._pipeline.check(account, submit)
        if refusal is None:
            return 0
        return status_for(refusal, self._conn.account_record.status_style)
