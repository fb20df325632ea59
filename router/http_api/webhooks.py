"""Receipts and MO by webhook (issue 17): an account with ``deliver_via: http`` (or
``both``) has its receipts and MO POSTed as JSON to its ``webhook_url``.

A ``Webhook`` is a receiver of the durable receipt queue (dispatch/inbound.py), as an
ESME session is: items stay in the journal's inbox rows until the endpoint answered 2xx
(any body), so a restart sends what was not delivered.  A failed POST (no answer,
timeout, non-2xx) is tried again with backoff (1, 2, 4 … 60 s) until it succeeds or the
item is older than ``dispatch.receipt_ttl``; meanwhile it holds one of the webhook's
``concurrency`` slots, so a dead endpoint is not flooded and the rest wait in the queue.
Delivery is at least once: a crash between the 2xx and the next commit sends it again.

Each body is signed: ``X-Chapar-Signature: t=<unix seconds>,v1=<hex>`` where v1 is
HMAC-SHA256 over ``"<t>." + body`` with the account's ``webhook_secret``; the receiver
recomputes it and may refuse old timestamps (replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from router.dispatch.inbound import Inbound, Outgoing, webhook_queue
from router.dlr.receipt import RECEIPT_ESM_MASK
from router.logs import sampled
from router.smpp import codec
from router.smpp.pdu import CommandId, DeliverSm, Tag, tlv_get
from router.smpp.text import decode_text

log = structlog.get_logger("chapar.webhooks")
SIGNATURE = "X-Chapar-Signature"
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
GIVEN_UP = 0x00000045
"""What the queue hears of an item whose TTL passed while its endpoint kept failing
(ESME_RSUBMITFAIL: not a retry status, so it is given up and logged)."""


def signature(secret: str, at: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"%d." % at + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _fields(text: str) -> dict[str, str]:
    """``id:… sub:… stat:…`` of a receipt's text (``submit date`` has a space)."""
    found: dict[str, str] = {}
    for key in ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err"):
        start = text.find(key + ":")
        if start >= 0:
            value = text[start + len(key) + 1:].split(" ", 1)[0]
            found[key.replace(" ", "_")] = value
    return found


def payload(account: str, body: bytes) -> dict[str, Any]:
    """The JSON a deliver_sm becomes: a receipt (our id, stat, dates) or an MO."""
    pdu = codec.decode(CommandId.DELIVER_SM, 0, 0, body)
    assert isinstance(pdu, DeliverSm)
    raw = tlv_get(pdu.tlvs, Tag.MESSAGE_PAYLOAD) or pdu.short_message
    if pdu.esm_class & RECEIPT_ESM_MASK:
        text = raw.decode("latin-1")
        fields = _fields(text)
        receipted = tlv_get(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID)
        message_id = receipted.rstrip(b"\0").decode() if receipted else fields.get("id", "")
        return {"type": "receipt", "account": account, "id": message_id,
                "stat": fields.get("stat", ""), "err": fields.get("err", ""),
                "submit_date": fields.get("submit_date", ""),
                "done_date": fields.get("done_date", ""),
                "to": pdu.source_addr, "from": pdu.destination_addr}
    return {"type": "mo", "account": account, "from": pdu.source_addr,
            "to": pdu.destination_addr, "text": decode_text(raw, pdu.data_coding),
            "received_at": time.time()}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one account's receipts and MO are POSTed, and how (``deliver_via``)."""

    account: str
    via: str
    url: str
    secret: str


class Webhook:
    """The durable queue's receiver for one account's webhook."""

    def __init__(self, endpoint: Endpoint, inbound: Inbound, session: aiohttp.ClientSession,
                 ttl: float, concurrency: int = 16) -> None:
        self._endpoint = endpoint
        self._queue = webhook_queue(endpoint.account)
        self._inbound = inbound
        self._session = session
        self._ttl = ttl
        self._slots, self._busy = concurrency, 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failures = 0

    @property
    def account(self) -> str:
        """The queue it takes from (the inbound keys receivers by it)."""
        return self._queue

    def receipt_window(self) -> int:
        return self._slots - self._busy

    def deliver(self, items: list[Outgoing]) -> None:
        self._busy += len(items)
        for item in items:
            task = asyncio.get_running_loop().create_task(self._post_until_taken(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post_until_taken(self, item: Outgoing) -> None:
        delay = BACKOFF_FIRST
        status = GIVEN_UP
        try:
            body = orjson.dumps(payload(self._endpoint.account, item.body))
        except Exception:  # a body that does not decode: give it up, say so
            log.exception("webhook_body_undecodable", account=self._endpoint.account)
            body = b""
        while body:
            if await self._post(body):
                status = 0
                break
            if self._ttl > 0 and item.at < time.time() - self._ttl:
                log.error("webhook_given_up", account=self._endpoint.account,
                          url=self._endpoint.url, ttl=self._ttl)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
        self._busy -= 1
        self._inbound.on_answers([(item, status)])
        self._inbound.pump(self._queue)

    async def _post(self, body: bytes) -> bool:
        headers = {"Content-Type": "application/json",
                   SIGNATURE: signature(self._endpoint.secret, int(time.time()), body)}
        try:
            async with self._session.post(self._endpoint.url, data=body, headers=headers) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                problem = f"status {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, problem = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self.sent += 1
            return True
        self.failures += 1
        if sampled(self.failures):
            log.warning("webhook_failed", account=self._endpoint.account, url=self._endpoint.url,
                        problem=problem, failures=self.failures)
        return False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()  # unanswered items stay in the journal's inbox rows
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Webhooks:
    """Every account's webhook, on one HTTP client session (connections kept alive)."""

    def __init__(self, endpoints: Sequence[Endpoint], inbound: Inbound, ttl: float,
                 timeout: float = 10.0) -> None:
        """``endpoints``: of the accounts not smpp-only; their receipts and MO are routed
        to the webhook queues at once (before any arrives), the senders start with
        ``start``."""
        self._endpoints = endpoints
        self._inbound = inbound
        self._ttl = ttl
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.hooks: list[Webhook] = []
        for endpoint in endpoints:
            queue = webhook_queue(endpoint.account)
            inbound.routes[endpoint.account] = ((queue,) if endpoint.via == "http"
                                                else (endpoint.account, queue))

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"User-Agent": "chapar-webhooks"})
        for endpoint in self._endpoints:
            hook = Webhook(endpoint, self._inbound, self._session, self._ttl)
            self.hooks.append(hook)
            self._inbound.attach(hook)
            log.info("webhook_started", account=endpoint.account, deliver_via=endpoint.via,
                     url=endpoint.url)

    async def close(self) -> None:
        for hook in self.hooks:
            await hook.close()
        if self._session is not None:
            await self._session.close()
