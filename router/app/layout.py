"""A start with another worker layout than the last run's (README "Workers": a change of
layout).

Each process replays only its own journal: ``chapar run`` the config's own, worker I of
``--workers N`` its ``wI``.  So a start with another layout (``chapar run`` after
``--workers 2``, ``--workers 2`` after ``chapar run``, ``--workers 2`` after
``--workers 3``) would leave what the journals it does not serve still hold (messages
acknowledged and not yet sent, receipts and MO queued for ESMEs, quarantined messages,
open reservations) waiting silently until the old layout runs again: for the customer,
lost.  Before anything starts (``chapar run``, or the supervisor before its workers),
every journal outside the new layout is read as its own process's start would read it;
one that still holds work refuses the start, naming the journal, what it holds and the
command that serves it.  A journal left with nothing to do is done with, but its ledger
still counts (``retired``): the money it charged stays charged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import structlog

from router.app.build import open_journal
from router.config import Config
from router.store.journals import Journal, journals
from router.store.ledger import Ledger
from router.store.quarantine import QuarantineStore
from router.store.settings import StoreSettings

log = structlog.get_logger("chapar.layout")


@dataclass(frozen=True, slots=True)
class Leftover:
    """What one journal outside the layout still holds."""

    journal: Journal
    pending: int
    """Messages acknowledged (or released from quarantine) that no carrier answered."""
    queued: int
    """Receipts and MO waiting for an ESME."""
    held: int
    """Quarantine rows held, or decided and not yet acted on."""
    parts: int
    """Parts of long messages awaiting the rest."""
    reserved: int
    """Open reservations (charges neither kept nor refunded yet)."""
    awaited: int
    """Receipts a carrier may still send for its messages (not a reason to refuse: a
    carrier may never send them; logged)."""

    @property
    def busy(self) -> bool:
        return bool(self.pending or self.queued or self.held or self.parts or self.reserved)

    def counts(self) -> str:
        """What it holds, in words (the counts that are not 0)."""
        said = [(self.pending, "messages to send"), (self.queued, "receipts and MO for ESMEs"),
                (self.held, "in quarantine"), (self.parts, "parts of long messages"),
                (self.reserved, "open reservations")]
        return ", ".join(f"{n} {what}" for n, what in said if n)


def served(count: int) -> set[str]:
    """The journals (``Journal.name``) a layout of ``count`` processes replays."""
    return {"own"} if count == 1 else {f"w{i}" for i in range(count)}


def outside(store: StoreSettings, count: int) -> list[Journal]:
    """Every journal that exists and that a layout of ``count`` does not replay."""
    mine = served(count)
    return [j for j in journals(store) if j.name not in mine and _exists(j)]


def retired(store: StoreSettings, count: int) -> tuple[str, ...]:
    """The worker journals whose ledgers the layout's first process (``chapar run``, or
    worker 0) counts besides its own: each worker journal outside the layout (the
    config's own is worker 0's ``front`` already).  Paths, or PostgreSQL schemas."""
    return tuple(str(j.place) if isinstance(j.place, Path) else j.place.schema
                 for j in outside(store, count) if j.worker is not None)


def _exists(journal: Journal) -> bool:
    """A SQLite journal the layout never wrote is no file (do not make one)."""
    return not isinstance(journal.place, Path) or journal.place.exists()


def where(journal: Journal) -> str:
    place = journal.place
    if isinstance(place, Path):
        return str(place)
    return f"schema {place.schema}" if place.schema else "the default schema"


def leftover(config: Config, journal: Journal) -> Leftover:
    """Read ``journal`` as its process's start would (its recovery, its quarantine, its
    open reservations); nothing is changed but what that start would clean."""
    place = journal.place
    if isinstance(place, Path):
        store = dataclasses.replace(config.store, path=str(place), front=None)
    else:
        store = dataclasses.replace(config.store, journal_schema=place.schema, front=None)
    opened = open_journal(dataclasses.replace(config, store=store))
    try:
        recovery = opened.recover(config.dispatch.receipt_wait)
    finally:
        opened.close()
    with QuarantineStore(place) as quarantine:
        held = quarantine.waiting()
    with Ledger(place) as ledger:
        reserved = len(ledger.open_reservations())
    return Leftover(journal, len(recovery.pending), len(recovery.inbox), held,
                    len(recovery.parts), reserved, len(recovery.delivered_to_carrier))


def command(journal: Journal, found: list[Journal]) -> str:
    """The start that replays ``journal``: ``chapar run`` for the config's own, else
    ``--workers`` as many as the worker journals there are (the last layout, most
    likely; one that serves them all)."""
    if journal.worker is None:
        return "`chapar run` without --workers"
    most = max(j.worker for j in found if j.worker is not None) + 1
    return f"`chapar run --workers {max(most, 2)}`"


def refusal(config: Config, count: int) -> str | None:
    """Why a start with ``count`` processes must not go on (None: it may).  Logged once
    (``layout_refused``); journals outside the layout holding only receipts a carrier
    may still send are logged (``layout_receipts_unawaited``) and do not refuse."""
    found = journals(config.store)
    left = [leftover(config, j) for j in outside(config.store, count)]
    busy = [each for each in left if each.busy]
    for each in left:
        if not each.busy and each.awaited:
            log.warning("layout_receipts_unawaited", journal=where(each.journal),
                        receipts=each.awaited, note="receipts carriers send for these "
                        "messages now find no router that knows them")
    if not busy:
        return None
    said = "; ".join(f"journal {where(each.journal)} still holds {each.counts()}: "
                     f"{command(each.journal, found)} serves it" for each in busy)
    log.error("layout_refused", workers=count, journals=[
        {"journal": where(e.journal), "pending": e.pending, "queued": e.queued,
         "held": e.held, "parts": e.parts, "reserved": e.reserved,
         "serves_it": command(e.journal, found)} for e in busy])
    return (f"cannot start with this worker layout: {said}. Run that until what it holds "
            "is done (carriers up, receivers bound, quarantine decided), then start this "
            "layout (README \"Workers\": a change of layout)")
