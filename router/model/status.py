"""The one status table: what Chapar answers, why, and how carriers' answers are read.

Server, policy, upstream, dlr and the README all read these tables; a new refusal or a
new carrier status class is one entry here.  SMPP's own statuses are the core's
``CommandStatus``; vendor statuses sit in 0x400-0x4FF (SMPP 3.4 "reserved for SMSC
vendor specific errors").  Accounts with ``status_style: standard`` (the default) get
the closest standard status instead: aiosmpplib and many panels cannot parse vendor
codes (design §6); the record keeps the precise reason either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from router.smpp.pdu import CommandStatus, MessageState

S = CommandStatus


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    vendor: int
    standard: int
    text: str


REFUSALS: dict[str, Refusal] = {r.reason: r for r in (
    Refusal("not_own_line", S.ESME_RINVSRCADR, S.ESME_RINVSRCADR,
            "source_addr is not a line of this account"),
    Refusal("invalid_destination", S.ESME_RINVDSTADR, S.ESME_RINVDSTADR,
            "destination is not a valid mobile number"),
    Refusal("line_suspended", 0x0401, S.ESME_RSUBMITFAIL, "the line is suspended"),
    Refusal("outside_hours", 0x0402, S.ESME_RSUBMITFAIL,
            "outside the line's allowed sending hours"),
    Refusal("not_in_whitelist", 0x0403, S.ESME_RINVDSTADR,
            "service line: destination is not a registered customer of the line"),
    Refusal("blacklisted", 0x0404, S.ESME_RINVDSTADR,
            "advertising line: destination is on the operator blacklist"),
    Refusal("opted_out", 0x0405, S.ESME_RINVDSTADR,
            "advertising line: destination opted out of this line"),
    Refusal("content_rejected", 0x0406, S.ESME_RSUBMITFAIL,
            "content: the text is in a forbidden category (recorded as content:CATEGORY)"),
    # Chinese texts (seed 004): the ``chinese`` stage
    Refusal("signature_missing", 0x0407, S.ESME_RSUBMITFAIL, "no 【signature】 at start or end"),
    Refusal("signature_unregistered", 0x0408, S.ESME_RSUBMITFAIL, "【signature】 not registered"),
    Refusal("optout_missing", 0x0409, S.ESME_RSUBMITFAIL, "marketing text without 回T退订"),
    Refusal("outside_marketing_window", 0x040A, S.ESME_RSUBMITFAIL, "outside marketing hours"),
    Refusal("throttled", S.ESME_RTHROTTLED, S.ESME_RTHROTTLED,
            "over a rate limit (account, line or account x operator): send again later"),
    Refusal("quota_spent", 0x040B, S.ESME_RSUBMITFAIL,
            "the account's daily or monthly quota of segments is spent"),
    Refusal("insufficient_balance", 0x040C, S.ESME_RSUBMITFAIL,
            "prepaid balance does not cover the message's segments"),
    Refusal("balance_elsewhere", S.ESME_RTHROTTLED, S.ESME_RTHROTTLED,
            "the balance is shared by several routers and this one's part is spent until "
            "its next lease (a moment): send again"),
)}
"""Policy refusals, answered at once and journalled with their reason."""


def status_for(refusal: Refusal, status_style: str) -> int:
    return refusal.vendor if status_style == "vendor" else refusal.standard


class CarrierClass(Enum):
    """How a carrier's answer to a submit_sm is treated."""

    ACCEPTED = "accepted"
    """ESME_ROK: the carrier has it; its receipt may follow."""
    CONGESTED = "congested"
    """Too fast (throttled, queue full): the connection slows down and the message goes
    back to the queue without spending an attempt."""
    TEMPORARY = "temporary"
    """Not now (system error, temporary application error): sent again later, one
    attempt spent."""
    FINAL = "final"
    """Refused for good: journalled, and a REJECTD receipt if one was asked for."""
    UNKNOWN = "unknown"
    """No answer and the connection lost: the carrier may or may not have it; sent again
    (at least once: a duplicate is possible, a loss is not).  A response timeout alone
    sends nothing again: a late answer still counts while the session lasts."""


CONGESTION_CARRIER_STATUSES = frozenset({S.ESME_RTHROTTLED, S.ESME_RMSGQFUL})
TEMPORARY_CARRIER_STATUSES = frozenset({S.ESME_RSYSERR, S.ESME_RX_T_APPN, S.ESME_RUNKNOWNERR})


def carrier_class(status: int) -> CarrierClass:
    if status == 0:
        return CarrierClass.ACCEPTED
    if status in CONGESTION_CARRIER_STATUSES:
        return CarrierClass.CONGESTED
    if status in TEMPORARY_CARRIER_STATUSES:
        return CarrierClass.TEMPORARY
    return CarrierClass.FINAL


GIVEN_UP = S.ESME_RDELIVERYFAILURE
"""Journalled for a message that used up its attempts."""
EXPIRED = 0x0410
"""Journalled for a message whose validity passed before a carrier accepted it
(store-and-forward gave up): a final outcome, with a ``stat:EXPIRED`` receipt."""


class RetryClass(Enum):
    """Why a message goes back to the queue: each has its row in the retry table
    (``dispatch.retries``)."""

    THROTTLED = "throttled"
    QUEUE_FULL = "queue_full"
    SYSTEM_ERROR = "system_error"
    BIND_LOST = "bind_lost"
    RESPONSE_TIMEOUT = "response_timeout"


def retry_class(status: int) -> RetryClass:
    """The retry row of a carrier's temporary or congestion status."""
    if status == S.ESME_RTHROTTLED:
        return RetryClass.THROTTLED
    if status == S.ESME_RMSGQFUL:
        return RetryClass.QUEUE_FULL
    return RetryClass.SYSTEM_ERROR
NACKED = S.ESME_RSYSERR
"""A carrier's generic_nack to a submit_sm carries no usable status: try again."""

ESME_RETRY_STATUSES = frozenset({
    S.ESME_RX_T_APPN, S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RSYSERR,
})
"""deliver_sm_resp statuses after which an ESME wants the receipt or MO again later."""
ESME_NACKED = S.ESME_RX_T_APPN
"""An ESME's generic_nack (or no answer) to a deliver_sm: it could not take it now."""

UNSUPPORTED_OPERATIONS: dict[int, int] = {}
"""Operations decoded but not performed, and the status each is answered with (none
since issue 12: query_sm, cancel_sm, replace_sm, data_sm and submit_multi are served)."""

UNKNOWN_MESSAGE = S.ESME_RINVMSGID
"""query/cancel/replace of an id Chapar never gave, or gave to another account (the
same answer: an ESME cannot learn which ids exist)."""
QUERY_FAILED = S.ESME_RQUERYFAIL
"""query_sm whose source_addr is not the message's."""
NOT_CANCELLABLE = S.ESME_RCANCELFAIL
"""cancel_sm of a message no longer waiting for a carrier (sent, or finished)."""
NOT_REPLACEABLE = S.ESME_RREPLACEFAIL
"""replace_sm of a message no longer waiting for a carrier, a part of a long message,
or a new text needing more segments than the old (the reservation covers the old)."""
DISTRIBUTION_LIST = S.ESME_RINVDLNAME
"""submit_multi to a distribution list: Chapar keeps none; that destination is refused."""
SUBMIT_FAILED = S.ESME_RSUBMITFAIL
"""A submit_multi none of whose destinations was accepted, for different reasons (each
is in the log and the refusal records; one reason alone is answered with its status)."""
CANCELLED = 0x0480
"""The outcome journalled for a message withdrawn by cancel_sm (never sent)."""


def state_of_outcome(status: int) -> MessageState:
    """A journalled carrier outcome as query_sm_resp's message_state: accepted by the
    carrier is still en route (its receipt decides), cancelled is deleted, attempts
    used up undeliverable, validity passed expired, any other refusal rejected."""
    if status == 0:
        return MessageState.ENROUTE
    if status == CANCELLED:
        return MessageState.DELETED
    if status == EXPIRED:
        return MessageState.EXPIRED
    if status == GIVEN_UP:
        return MessageState.UNDELIVERABLE
    return MessageState.REJECTED


BIND_REFUSED = S.ESME_RBINDFAIL
"""Every bind refusal, unless the account opted out of uniform_bind_failure."""
UNKNOWN_SYSTEM_ID = S.ESME_RINVSYSID
WRONG_PASSWORD = S.ESME_RINVPASWD
STORE_UNAVAILABLE = S.ESME_RSYSERR
"""The journal could not commit: nothing is acknowledged."""
DECISION_FAILED = S.ESME_RSYSERR
"""Deciding one submit raised (a bug, logged): that submit alone is refused."""
