"""The current number lists, swapped whole (design.md §3.2).

A list is never mutated in place while the router reads it.  Writers (imports, the
daily purge, an MO «لغو ۱۱») build new immutable sets (model/numbersets.py) and publish
a new snapshot here; a decision that already took the old snapshot keeps a consistent
view, and a failed import leaves the old lists untouched.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from types import MappingProxyType

from router.model.numbersets import EMPTY, ExpiringNumberSet, ListSnapshot, NumberSet, signature_key

__all__ = ["ListRegistry"]

class ListRegistry:
    """Holder of the current list snapshots; every change swaps whole objects.

    Readers call :meth:`snapshot` (one attribute read, no lock) and keep the result for a
    batch.  Writers serialise on a lock and publish a new :class:`ListSnapshot`: the
    maps inside a published snapshot are never modified, so a reader can never see half
    an import — it sees the old list or the new one.  Safe from import threads.
    """

    def __init__(self, snapshot: ListSnapshot | None = None) -> None:
        self._snapshot = snapshot or ListSnapshot()
        self._lock = threading.Lock()

    def snapshot(self) -> ListSnapshot:
        return self._snapshot

    # --- reads (convenience; hot loops should hold a snapshot) -----------------------

    @property
    def blacklist(self) -> NumberSet:
        return self._snapshot.blacklist

    def whitelist(self, line: str) -> ExpiringNumberSet | None:
        return self._snapshot.whitelists.get(line)

    def optouts(self, line: str, signature: str | None = None) -> NumberSet:
        snap = self._snapshot
        if signature is None:
            return snap.optouts.get(line, EMPTY)
        return snap.signature_optouts.get((line, signature_key(signature)), EMPTY)

    def is_blacklisted(self, number: int) -> bool:
        return self._snapshot.is_blacklisted(number)

    def in_whitelist(self, line: str, number: int, now: float | None = None) -> bool:
        return self._snapshot.in_whitelist(line, number, time.time() if now is None else now)

    def is_opted_out(self, line: str, number: int, signature: str | None = None) -> bool:
        return self._snapshot.is_opted_out(line, number, signature)

    # --- writes -----------------------------------------------------------------------

    def _publish(self, new: ListSnapshot) -> ListSnapshot:
        old, self._snapshot = self._snapshot, new
        return old

    def replace_blacklist(self, new: NumberSet) -> NumberSet:
        """Swap the whole blacklist; returns the previous one."""
        with self._lock:
            return self._publish(replace(self._snapshot, blacklist=new)).blacklist

    def replace_whitelist(self, line: str, new: ExpiringNumberSet | None) -> None:
        """Swap one line's whitelist (``None`` removes it)."""
        with self._lock:
            whitelists = dict(self._snapshot.whitelists)
            if new is None:
                whitelists.pop(line, None)
            else:
                whitelists[line] = new
            self._publish(replace(self._snapshot, whitelists=MappingProxyType(whitelists)))

    def replace_optouts(self, line: str, new: NumberSet, signature: str | None = None) -> None:
        with self._lock:
            self._set_optouts(line, new, signature)

    def add_optout(self, line: str, number: int, signature: str | None = None) -> bool:
        """An MO «لغو ۱۱» / 回T: returns False when the number was already opted out."""
        with self._lock:
            current = self.optouts(line, signature)
            if number in current:
                return False
            self._set_optouts(line, current.with_numbers((number,)), signature)
            return True

    def remove_optout(self, line: str, number: int, signature: str | None = None) -> bool:
        """An MO ``12``: returns False when the number was not opted out."""
        with self._lock:
            current = self.optouts(line, signature)
            if number not in current:
                return False
            self._set_optouts(line, current.without((number,)), signature)
            return True

    def _set_optouts(self, line: str, new: NumberSet, signature: str | None) -> None:
        snap = self._snapshot
        if signature is None:
            optouts = dict(snap.optouts)
            optouts[line] = new
            self._publish(replace(snap, optouts=MappingProxyType(optouts)))
        else:
            by_sig = dict(snap.signature_optouts)
            by_sig[(line, signature_key(signature))] = new
            self._publish(replace(snap, signature_optouts=MappingProxyType(by_sig)))

    def purge_expired(self, now: float | None = None) -> int:
        """Drop expired whitelist entries on every line; returns how many went."""
        at = time.time() if now is None else now
        with self._lock:
            removed = 0
            whitelists = dict(self._snapshot.whitelists)
            for line, whitelist in whitelists.items():
                purged = whitelist.purge(at)
                if purged is not whitelist:
                    removed += len(whitelist) - len(purged)
                    whitelists[line] = purged
            if removed:
                self._publish(replace(self._snapshot, whitelists=MappingProxyType(whitelists)))
            return removed
