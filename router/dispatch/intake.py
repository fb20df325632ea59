"""Group commit: accepted submits are journalled, then answered, then dispatched.

Every connection hands its accepted read batch here; one commit per event-loop turn
covers all of them (and the carrier outcomes that arrived meanwhile).  Only after the
commit returns do the ESMEs get ESME_ROK.  A failed commit answers ESME_RSYSERR: the
router never says ROK for a message it could lose.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from router.dispatch.outbound import Outbound
from router.dispatch.ports import Submitter
from router.logs import sampled
from router.model.histogram import Histogram
from router.model.holds import Holds, Part, Settlement
from router.model.messages import Message, Outcome
from router.model.status import STORE_UNAVAILABLE
from router.model.wallets import Wallets
from router.policy.rules import Rules
from router.smpp.session import Submit
from router.store.errors import StoreError
from router.store.ids import MessageIds
from router.store.interface import Journal

log = structlog.get_logger("chapar.intake")
MARK_EVERY = 5.0  # seconds between "everything below this id is finished" marks


class Intake:
    def __init__(self, journal: Journal, ids: MessageIds, outbound: Outbound,
                 holds: Holds | None = None, wallets: Wallets | None = None) -> None:
        self._journal = journal
        self._wallets = wallets
        self.rules: Rules | None = None
        """Set by the app: the lines marked ``priority`` (``rules.lines.priority``) send
        in the carriers' priority lane like priority_flag >= 2."""
        self.give_back: Callable[[str, list[Submit]], None] | None = None
        """Set by the app to the pipeline's: what the stages took for submits a failed
        commit refused goes back (tokens, quota)."""
        self._reserved: list[tuple[str, int, list[int]]] = []
        """(account, first_id, costs) reserved by this commit's batches."""
        self._holds = holds
        self._held_ids: set[int] = set()
        """Journalled with this commit but held in quarantine: answered, not dispatched."""
        self._parts: list[Part] = []
        """Parts of long messages journalled with this commit (ids revoked if it fails)."""
        if holds is not None:
            holds.wake = self._schedule
        self._ids = ids
        self._outbound = outbound
        self._loop = asyncio.get_running_loop()
        self._waiting: list[tuple[Submitter, str, int, list[Submit]]] = []
        self._hooks: list[Callable[[bool], None]] = []
        self._listeners: list[Callable[[], None]] = []
        """Called after the next commit with whether it worked (cancel, replace)."""
        self._scheduled = False
        self.failed_commits = 0
        self.refused_messages = 0
        """Submits answered ESME_RSYSERR because their commit failed (since start)."""
        self.accepted_by_account: dict[str, int] = {}
        """Submits answered ESME_ROK, per account (counted per batch)."""
        self.refused_by_reason: dict[str, int] = {}
        self.flagged_by_category: dict[str, int] = {}
        """Messages the content filter flagged (sent, recorded in the flags table)."""
        self.commit_seconds = Histogram()
        self._failing = 0  # failed commits in a row, and the submits they refused
        self._refused_since = 0
        self._marked_at = self._loop.time()
        self._ticker = self._loop.call_later(MARK_EVERY, self._tick)
        self._inbox_timer: asyncio.TimerHandle | None = None
        self._move_timer: asyncio.TimerHandle | None = None
        """A commit to move ledger rows off the batch rows, when the load has stopped."""

    def _tick(self) -> None:
        """An idle router still moves its done_below mark (the next commit carries it)."""
        self._schedule()
        self._ticker = self._loop.call_later(MARK_EVERY, self._tick)

    def store_queued(self) -> None:
        """Stopping: the receipt queue written now, not ``receipt_write_delay`` later, so
        carriers still waiting for an answer to a receipt or MO get it before they are
        unbound."""
        self.flush(everything=True)

    def close(self) -> None:
        """Last commit, with a final mark: after a clean stop a restart reads nothing."""
        self._ticker.cancel()
        for timer in (self._inbox_timer, self._move_timer):
            if timer is not None:
                timer.cancel()
        self._marked_at = float("-inf")
        self.flush()

    def _failed(self, exc: StoreError,
                waiting: list[tuple[Submitter, str, int, list[Submit]]]) -> None:
        """Refuse what this commit carried; log sampled (one line per commit would be
        thousands a second on a full disk), with running totals."""
        refused = sum(len(submits) for _, _, _, submits in waiting)
        for source, _, _, submits in waiting:
            source.answer_refused(submits, STORE_UNAVAILABLE)
        if self.give_back is not None:
            for _, account, _, submits in waiting:
                self.give_back(account, submits)
        if self._wallets is not None:
            for account, first_id, costs in self._reserved:
                self._wallets.unreserve(account, first_id, costs)
        self.failed_commits += 1
        self.refused_messages += refused
        self._failing += 1
        self._refused_since += refused
        if sampled(self._failing):
            log.error("journal_commit_failed", error=str(exc), failed_commits=self._failing,
                      refused_messages=self._refused_since,
                      failed_commits_total=self.failed_commits,
                      kept_outcomes=self._journal.pending_outcomes)

    def accept(self, source: Submitter, account: str, submits: list[Submit],
               peer: str = "") -> None:
        first_id = self._ids.take(len(submits))
        now = time.time()
        self._journal.add_batch(first_id, account, [s.body for s in submits], now, peer)
        if self._holds is not None and self._holds.flagged:
            flags = self._holds.take_flags(submits)
            self._journal.add_flags([(first_id + i, account, now, category, categories)
                                     for i, category, categories in flags])
            counts = self.flagged_by_category
            for _, category, _ in flags:
                counts[category] = counts.get(category, 0) + 1
        if self._holds is not None and self._holds.pending:
            held = self._holds.take(submits)
            self._journal.add_held([(first_id + i, account, now, hold.category, hold.reason,
                                     submits[i].body, hold.state, hold.group)
                                    for i, hold, _ in held])
            self._held_ids.update(first_id + i for i, _, _ in held)
            for i, _, part in held:
                if part is not None:
                    part.message_id = first_id + i
                    self._parts.append(part)
        wallets = self._wallets
        if wallets is not None:
            costs = wallets.take_staged(submits)
            if costs is not None:
                wallets.reserved(account, first_id, costs, submits)
                self._reserved.append((account, first_id, costs))
        self._waiting.append((source, account, first_id, submits))
        self._schedule()

    def record_refusals(self, account: str, refused: list[tuple[Submit, str]],
                        peer: str = "") -> None:
        """Policy refusals are answered at once; their record rides the next commit."""
        counts = self.refused_by_reason
        for _, reason in refused:
            counts[reason] = counts.get(reason, 0) + 1
        self._journal.add_refusals(
            account, [(s.sequence, s.source_addr, s.destination_addr, reason)
                      for s, reason in refused], time.time(), peer)
        self._schedule()

    def record_ledger(self) -> None:
        """Ledger rows wait in the wallets; the next commit writes them."""
        self._schedule()

    def refund(self, message_ids: list[int]) -> None:
        """Journalled messages finally refused later (rejected from quarantine): their
        reservations are refunded, the ledger rows ride the next commit."""
        if self._wallets is not None and message_ids:
            self._wallets.settle([], message_ids)
            self._schedule()

    def record_receipted(self, message_ids: list[int]) -> None:
        """Messages whose final receipt is now queued: the next commit records them."""
        self._journal.add_receipted(message_ids)
        self._schedule()

    def commit_soon(self) -> None:
        """Rows others added to the journal (the receipt queue's) want a commit."""
        self._schedule()

    def _inbox_later(self) -> None:
        """Receipt queue rows wait for their delay: a commit when the first is due."""
        due = self._journal.inbox.next_due()
        if due is not None and self._inbox_timer is None:
            self._inbox_timer = self._loop.call_later(max(0.0, due - time.time()) + 0.001,
                                                      self._inbox_due)

    def _inbox_due(self) -> None:
        self._inbox_timer = None
        self._schedule()

    def _move_later(self) -> None:
        due = self._journal.ledger_due
        if due is not None and self._move_timer is None:
            self._move_timer = self._loop.call_later(due + 0.001, self._move_due)

    def _move_due(self) -> None:
        self._move_timer = None
        self._schedule()

    def record_replaced(self, message_id: int, body: bytes) -> None:
        """A waiting message's new body (replace_sm): it rides the next commit."""
        self._journal.add_replaced(message_id, body)
        self._schedule()

    def when_committed(self, hook: Callable[[bool], None]) -> None:
        """``hook(committed)`` after the next commit: what was added before it is
        durable (True) or the commit failed (False)."""
        self._hooks.append(hook)
        self._schedule()

    def after_each_commit(self, listener: Callable[[], None]) -> None:
        """``listener()`` after every commit that succeeds (it asks for none itself)."""
        self._listeners.append(listener)

    def record_outcomes(self, outcomes: list[Outcome], upstream: str = "") -> None:
        self._journal.add_outcomes(outcomes, upstream)
        self._schedule()

    def record_receipts(self, entries: list[tuple[int, str]]) -> None:
        """Receipts matched to our messages (id, stat): the records' delivery status."""
        self._journal.add_receipts(entries)
        self._schedule()

    def _settle(self) -> list[Settlement]:
        """Long messages the content stage judged: their journalled parts change state in
        this commit; released ones go to the carriers after it (together, with their
        ids), rejected ones get their REJECTD receipts from app/held.py."""
        if self._holds is None or not self._holds.settled:
            return []
        settled, self._holds.settled = self._holds.settled, []
        now = time.time()
        self._journal.add_settled([
            (s.state, s.category, s.reason, now, 1 if s.state == "released" else 0, s.group,
             part.message_id)
            for s in settled for part in s.parts if part.message_id > 0])
        return settled

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self, everything: bool = False) -> None:
        """One group commit (``everything``: receipt queue rows younger than their
        write delay too), then the answers and hand-overs it makes safe."""
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        now = self._loop.time()
        if now - self._marked_at >= MARK_EVERY:
            self._marked_at = now
            floor = self._outbound.low_water(self._ids.peek())
            if waiting:  # ids taken, committed now, handed to the outbound queue just after
                floor = min(floor, min(first_id for _, _, first_id, _ in waiting))
            self._journal.mark_done_below(floor)
        if self._wallets is not None and self._wallets.unwritten:
            self._journal.add_ledger(self._wallets.take_rows())
        settled = self._settle()
        if not waiting and not self._journal.dirty and not self._hooks:
            return
        held, self._held_ids = self._held_ids, set()
        parts, self._parts = self._parts, []
        hooks, self._hooks = self._hooks, []
        started = time.perf_counter()
        try:
            self._journal.commit(everything)
        except StoreError as exc:
            for part in parts:
                part.message_id = -1  # answered ESME_RSYSERR: never journalled
            if self._holds is not None:
                self._holds.settled[:0] = settled  # again with the next commit
            self._failed(exc, waiting)
            self._reserved = []
            _call(hooks, False)
            return
        finally:
            self.commit_seconds.observe(time.perf_counter() - started)
            self._inbox_later()
            self._move_later()
        self._reserved = []
        _call(hooks, True)
        for listener in self._listeners:
            listener()
        if self._failing:
            log.warning("journal_commit_recovered", failed_commits=self._failing,
                        refused_messages=self._refused_since)
            self._failing = self._refused_since = 0
        messages = [Message(part.message_id, settlement.account, part.submit.body, 0,
                            (part.submit.registered_delivery & 3) != 0, False,
                            part.submit.source_addr, part.submit.destination_addr)
                    for settlement in settled if settlement.state == "released"
                    for part in settlement.parts if part.message_id > 0]
        accepted = self.accepted_by_account
        urgent_lines = self.rules.lines.priority if self.rules is not None else frozenset()
        for source, account, first_id, submits in waiting:
            source.answer_accepted(first_id, submits)
            accepted[account] = accepted.get(account, 0) + len(submits)
            messages.extend(Message(first_id + i, account, s.body, 0,
                                    (s.registered_delivery & 3) != 0,
                                    s.priority_flag >= 2 or s.source_addr in urgent_lines,
                                    s.source_addr, s.destination_addr)
                            for i, s in enumerate(submits)
                            if not held or first_id + i not in held)
        if messages:  # one hand-over: one write per carrier session for the whole commit
            self._outbound.put(messages)


def _call(hooks: list[Callable[[bool], None]], committed: bool) -> None:
    for hook in hooks:
        hook(committed)
