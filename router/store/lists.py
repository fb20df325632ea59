"""Number lists in the registry (SQLite or PostgreSQL): the blacklist and the whitelists as blobs,
opt-outs as rows (see router/store/lines.py for why, and for the change rows every write
appends).  ``LineStore`` is these tables plus the lines themselves."""

from __future__ import annotations

import itertools
import time
from types import MappingProxyType
from typing import Final, Literal

from router.model.numbersets import ExpiringNumberSet, ListSnapshot, NumberSet, signature_key
from router.store.registry import RegistryError
from router.store.rows import Rows, RowStore

ListKind = Literal["blacklist", "whitelist", "optout"]
ListCount = tuple[ListKind, str, str, int, float]
"""(kind, line, signature, count, updated_at); line and signature ``""`` when not
applicable (the blacklist; per-line opt-outs)."""

_BLACKLIST: Final = "blacklist"
_WHITELIST: Final = "whitelist"

LIST_SCHEMA = """
CREATE TABLE IF NOT EXISTS number_lists (
    kind       TEXT NOT NULL,
    line       TEXT NOT NULL,
    data       BLOB NOT NULL,
    count      INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, line)
);
CREATE TABLE IF NOT EXISTS optouts (
    line      TEXT NOT NULL,
    signature TEXT NOT NULL,
    number    INTEGER NOT NULL,
    at        REAL NOT NULL,
    PRIMARY KEY (line, signature, number)
) WITHOUT ROWID;
"""


class LineError(RegistryError):
    """A line or list request the store cannot honour; the message says why."""


def _sig(signature: str | None) -> str:
    """Stored signature: ``""`` for per-line opt-outs, else :func:`signature_key`."""
    return "" if signature is None else signature_key(signature)


class ListTables(RowStore):
    """The list half of :class:`~router.store.lines.LineStore`."""

    def _require_line(self, db: Rows, number: str) -> None:
        if db.execute("SELECT 1 FROM lines WHERE number = ?", (number,)).fetchone() is None:
            raise LineError(f"no line {number!r}")

    # --- blacklist and whitelists (blobs) ---------------------------------------------

    def _blob(self, db: Rows, kind: str, line: str) -> bytes | None:
        row = db.execute(
            "SELECT data FROM number_lists WHERE kind = ? AND line = ?", (kind, line)
        ).fetchone()
        return None if row is None else bytes(row["data"])

    def _put_blob(
        self, db: Rows, kind: str, line: str, data: bytes, count: int
    ) -> None:
        db.execute(
            "INSERT INTO number_lists VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, line) DO "
            "UPDATE SET data = excluded.data, count = excluded.count, "
            "updated_at = excluded.updated_at",
            (kind, line, data, count, time.time()),
        )
        self._changed(db, "list", _BLACKLIST if kind == _BLACKLIST else f"{_WHITELIST}:{line}")

    def save_blacklist(self, numbers: NumberSet, *, append: bool = False) -> NumberSet:
        """Replace the operator blacklist (or, ``append``, union it with the stored one,
        read and written in one transaction).  Returns the list now stored."""
        with self._tx() as db:
            if append:
                stored = self._blob(db, _BLACKLIST, "")
                if stored:
                    numbers = NumberSet.from_bytes(stored).union(numbers)
            self._put_blob(db, _BLACKLIST, "", numbers.to_bytes(), len(numbers))
        return numbers

    def blacklist(self) -> NumberSet:
        data = self._blob(self._db, _BLACKLIST, "")
        return NumberSet.from_bytes(data) if data else NumberSet()

    def save_whitelist(
        self, line: str, whitelist: ExpiringNumberSet, *, append: bool = False
    ) -> ExpiringNumberSet:
        """Replace one line's customer list (or, ``append``, add to it: a new expiry of a
        number replaces its old one).  Returns the list now stored."""
        with self._tx() as db:
            self._require_line(db, line)
            if append:
                stored = self._blob(db, _WHITELIST, line)
                if stored:
                    whitelist = ExpiringNumberSet.from_bytes(stored).with_numbers(
                        itertools.chain(whitelist.permanent, whitelist.expiring),
                        whitelist.expiring,
                    )
            self._put_blob(db, _WHITELIST, line, whitelist.to_bytes(), len(whitelist))
        return whitelist

    def whitelist(self, line: str) -> ExpiringNumberSet | None:
        data = self._blob(self._db, _WHITELIST, line)
        return None if data is None else ExpiringNumberSet.from_bytes(data)

    def purge_expired(self, now: float | None = None) -> int:
        """The daily job: drop expired whitelist entries everywhere; returns how many.
        Each changed whitelist is rewritten (and announced) in one transaction."""
        at = time.time() if now is None else now
        removed = 0
        with self._tx() as db:
            rows = db.execute(
                "SELECT line, data FROM number_lists WHERE kind = ?", (_WHITELIST,)
            ).fetchall()
            for row in rows:
                whitelist = ExpiringNumberSet.from_bytes(bytes(row["data"]))
                purged = whitelist.purge(at)
                if purged is not whitelist:
                    removed += len(whitelist) - len(purged)
                    self._put_blob(db, _WHITELIST, row["line"], purged.to_bytes(), len(purged))
        return removed

    # --- opt-outs (rows) ----------------------------------------------------------------

    def save_optouts(
        self,
        line: str,
        numbers: NumberSet,
        signature: str | None = None,
        *,
        append: bool = False,
    ) -> NumberSet:
        """Replace the opt-outs of a line (per signature when given), or ``append`` to
        them.  Returns the opt-outs now stored for that line/signature."""
        sig = _sig(signature)
        now = time.time()
        with self._tx() as db:
            self._require_line(db, line)
            if not append:
                db.execute("DELETE FROM optouts WHERE line = ? AND signature = ?", (line, sig))
            db.executemany(
                "INSERT INTO optouts VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                ((line, sig, number, now) for number in numbers),
            )
            self._changed(db, "optout", line)
            stored = self._optouts(db, line, sig)
        return stored

    def _optouts(self, db: Rows, line: str, sig: str) -> NumberSet:
        rows = db.execute(
            "SELECT number FROM optouts WHERE line = ? AND signature = ?", (line, sig)
        )
        return NumberSet([r[0] for r in rows])

    def optouts(self, line: str, signature: str | None = None) -> NumberSet:
        return self._optouts(self._db, line, _sig(signature))

    def add_optout(self, line: str, number: int, signature: str | None = None) -> bool:
        """An MO «لغو ۱۱» / 回T: False when the number had opted out already."""
        with self._tx() as db:
            added = (
                db.execute(
                    "INSERT INTO optouts VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (line, _sig(signature), number, time.time()),
                ).rowcount
                > 0
            )
            if added:
                self._changed(db, "optout", line)
        return added

    def remove_optout(self, line: str, number: int, signature: str | None = None) -> bool:
        """An MO ``12``: False when the number had not opted out."""
        with self._tx() as db:
            removed = (
                db.execute(
                    "DELETE FROM optouts WHERE line = ? AND signature = ? AND number = ?",
                    (line, _sig(signature), number),
                ).rowcount
                > 0
            )
            if removed:
                self._changed(db, "optout", line)
        return removed

    # --- everything at once -------------------------------------------------------------

    def load_snapshot(self) -> ListSnapshot:
        """Every list, read in one transaction (the router at start and on a change)."""
        whitelists: dict[str, ExpiringNumberSet] = {}
        optouts: dict[str, NumberSet] = {}
        by_signature: dict[tuple[str, str], NumberSet] = {}
        with self._read() as db:
            blacklist = NumberSet()
            for row in db.execute("SELECT kind, line, data FROM number_lists"):
                data = bytes(row["data"])
                if row["kind"] == _BLACKLIST:
                    blacklist = NumberSet.from_bytes(data)
                elif row["kind"] == _WHITELIST:
                    whitelists[row["line"]] = ExpiringNumberSet.from_bytes(data)
            rows = db.execute(
                "SELECT line, signature, number FROM optouts ORDER BY line, signature"
            )
            for (line, sig), group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
                numbers = NumberSet([r[2] for r in group])
                if sig:
                    by_signature[(line, sig)] = numbers
                else:
                    optouts[line] = numbers
        return ListSnapshot(
            blacklist=blacklist,
            whitelists=MappingProxyType(whitelists),
            optouts=MappingProxyType(optouts),
            signature_optouts=MappingProxyType(by_signature),
        )

    def list_counts(self) -> list[ListCount]:
        """(kind, line, signature, count, updated_at) of every stored list, for display."""
        out: list[ListCount] = []
        with self._read() as db:
            for row in db.execute(
                "SELECT kind, line, count, updated_at FROM number_lists "
                "ORDER BY kind = 'whitelist', line"
            ):
                kind: ListKind = _BLACKLIST if row["kind"] == _BLACKLIST else _WHITELIST
                out.append((kind, row["line"], "", row["count"], row["updated_at"]))
            for row in db.execute(
                "SELECT line, signature, count(*), max(at) FROM optouts "
                "GROUP BY line, signature ORDER BY line, signature"
            ):
                out.append(("optout", row[0], row[1], row[2], row[3]))
        return out
