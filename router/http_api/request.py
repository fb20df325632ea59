"""``POST /v1/messages`` bodies checked field by field: every error names its field
(``to[3]: not a number``), nothing is sent for a request with one.  Texts are encoded
and split as SMPP submits are (GSM 7-bit when it can carry the text, else UCS2; UDH
parts)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from router.smpp import codec
from router.smpp.codec import Submit, scan_submit
from router.smpp.pdu import SubmitSm
from router.smpp.segments import Segment, split_message
from router.smpp.text import TextEncodeError

FIELDS = frozenset({"from", "to", "text", "client_ref", "validity", "priority"})
MAX_VALIDITY = 7 * 86400


class RequestError(ValueError):
    """A bad request: the message names the field."""


@dataclass(frozen=True, slots=True)
class SendRequest:
    source: str
    recipients: tuple[str, ...]
    text: str
    client_ref: str | None = None
    validity: int | None = None
    """Seconds the message may wait for a carrier."""
    priority: int = 0


def _string(body: dict[str, Any], name: str, required: bool = True,
            limit: int = 10_000, printable: bool = False) -> str | None:
    """``printable``: an identifier we store (PostgreSQL's text holds no NUL, and a
    control character or a lone surrogate is nobody's reference): others refused."""
    value = body.get(name)
    if value is None:
        if required:
            raise RequestError(f"{name}: required")
        return None
    if not isinstance(value, str):
        raise RequestError(f"{name}: expected a string")
    if required and not value:
        raise RequestError(f"{name}: empty")
    if len(value) > limit:
        raise RequestError(f"{name}: longer than {limit} characters")
    if printable and not value.isprintable():
        raise RequestError(f"{name}: printable characters only")
    return value


def _recipients(value: object, limit: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise RequestError("to: a number, or a list of 1 to "
                           f"{limit} numbers")
    if len(value) > limit:
        raise RequestError(f"to: {len(value)} numbers, at most {limit} in one request")
    out = []
    for index, number in enumerate(value):
        if not isinstance(number, str | int) or isinstance(number, bool):
            raise RequestError(f"to[{index}]: expected a string of digits")
        text = str(number).removeprefix("+")
        if not (text.isascii() and text.isdigit()) or not 5 <= len(text) <= 20:
            raise RequestError(f"to[{index}]: {number!r} is not a phone number "
                               "(digits, international form)")
        out.append(text)
    return tuple(out)


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(f"{name}: an integer from {low} to {high}")
    return value


def parse(body: object, max_recipients: int) -> SendRequest:
    if not isinstance(body, dict):
        raise RequestError("body: expected a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise RequestError(f"{unknown[0]}: unknown field")
    source = _string(body, "from", limit=21)
    assert source is not None
    if not (source.isascii() and source.isalnum()):
        raise RequestError("from: a line number (or alphanumeric sender)")
    text = _string(body, "text")
    assert text is not None
    return SendRequest(source, _recipients(body.get("to"), max_recipients), text,
                       _string(body, "client_ref", required=False, limit=64, printable=True),
                       _integer(body, "validity", 60, MAX_VALIDITY),
                       _integer(body, "priority", 0, 3) or 0)


def _split(text: str, reference: int) -> list[Segment]:
    try:
        return split_message(text, reference=reference)
    except (TextEncodeError, ValueError) as exc:
        raise RequestError(f"text: {exc}") from None


def check_segments(request: SendRequest, max_segments: int) -> int:
    """How many parts the text takes (RequestError over ``max_segments``)."""
    count = len(_split(request.text, 0))
    if count > max_segments:
        raise RequestError(f"text: {count} segments, at most {max_segments}")
    return count


def relative_validity(seconds: int) -> str:
    """SMPP's relative time format, ``YYMMDDhhmmsst00R``."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def submits(request: SendRequest) -> list[list[Submit]]:
    """Each recipient's submits (sequence numbers unique in the request), built and
    scanned as an ESME's would be.  The text is split once: a long message's parts carry
    one reference for every recipient (handsets join parts per sender and reference)."""
    validity = relative_validity(request.validity) if request.validity else ""
    parts = _split(request.text, secrets.randbelow(256))
    per_part = [codec.submit_bodies(SubmitSm(
        source_addr_ton=1, source_addr_npi=1, source_addr=request.source, dest_addr_ton=1,
        dest_addr_npi=1, esm_class=0x40 if part.esm_class_udhi else 0,
        priority_flag=request.priority, validity_period=validity, registered_delivery=1,
        data_coding=part.data_coding, short_message=part.short_message),
        request.recipients) for part in parts]
    count = len(parts)
    return [[scan_submit(index * count + n + 1, bodies[index])
             for n, bodies in enumerate(per_part)]
            for index in range(len(request.recipients))]
