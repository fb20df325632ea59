"""Receipts for an account whose receiving session is bound to another router (issue 16
"Done when": "receipts reach a session bound to another worker and to another node"):
two real ``chapar run`` processes sharing one registry and one real redis-server, each
with its own journal and carrier (the in-process simulator), smpplib ESMEs.

issue 12: a final receipt for every message that asked for one, exactly once; the
durable queue of the router that got it stays the record until the ESME took it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.clients import Esme, bound
from tests.conftest import LINES, Pair, wait_for
from tests.inbox import queued_in_journal, restart
from tests.integration.policy.test_shared_redis import accounts

COUNT = 20


def test_receipts_reach_a_receiver_bound_to_the_other_router(
        make_pair: Callable[..., Pair], password_hash: str,
        store_backend: dict[str, Any]) -> None:
    """Sent through router A (transmitter), received on router B (receiver): every
    receipt reaches B's session once, with the id A answered; A's journal then holds
    none of them (B's ESME_ROK closed them there).  On PostgreSQL: two nodes on one
    database and one Redis (issue 16 item 3)."""
    a, b = make_pair(accounts=accounts(password_hash), store=store_backend)
    line = LINES["esme1"][0]
    with bound(Esme(b.port), "receiver") as rx, bound(Esme(a.port), "transmitter") as tx:
        sent = [tx.send(line, f"98912100{i:04d}", b"handoff", registered_delivery=1)
                for i in range(COUNT)]
        tx.pump(lambda: all(seq in tx.responses for seq in sent))
        ids = {tx.responses[seq].message_id for seq in sent}
        assert all(tx.responses[seq].status == 0 for seq in sent)
        rx.pump(lambda: len(rx.delivered) >= COUNT, timeout=20)
        rx.idle(0.5)  # and no more
        got = [pdu.receipted_message_id for pdu in rx.delivered]
        assert sorted(got) == sorted(ids), "each receipt once, with A's ids"
        assert all(b"stat:DELIVRD" in pdu.short_message for pdu in rx.delivered)
        if not store_backend:  # SQLite: A's journal read beside it
            assert wait_for(lambda: queued_in_journal(a) == [], 10), \
                "A still holds receipts B delivered"
        time.sleep(0.5)  # B's report reaches A, A's commit closes them
        assert a.stop() == 0
        restart(a)  # what A's store still held would be replayed and offered again
        rx.idle(1.5)
        assert len(rx.delivered) == COUNT
        assert not [e for e in a.events() if e.get("event") == "receipts_replayed"]
    handed = [e for e in a.events() if e.get("event") == "receipt_handoff_expired"]
    assert handed == []


def test_without_a_receiver_anywhere_receipts_wait_at_their_router(
        make_pair: Callable[..., Pair], password_hash: str) -> None:
    """Nobody bound to receive: the receipts stay in A's durable queue (nothing is
    offered), and reach a receiver bound to A later."""
    a, _b = make_pair(accounts=accounts(password_hash))
    line = LINES["esme1"][0]
    with bound(Esme(a.port), "transmitter") as tx:
        sent = [tx.send(line, f"98912100{i:04d}", b"wait", registered_delivery=1)
                for i in range(5)]
        tx.pump(lambda: all(seq in tx.responses for seq in sent))
    assert wait_for(lambda: len(queued_in_journal(a)) == 5, 10)
    with bound(Esme(a.port), "receiver") as rx:
        rx.pump(lambda: len(rx.delivered) >= 5, timeout=20)
