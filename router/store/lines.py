"""Lines, number lists, opt-outs and violations, in the registry's SQLite file.

Why the registry file: a running router already watches it (``PRAGMA data_version`` and
the ``changes`` table, see :mod:`router.store.registry`).  Every write here appends its
change row in the same transaction, so the router reloads a line or a list as soon as
the CLI commits, and never sees a change without its row (or the reverse):

- ``line``   key = the line number (added or changed);
- ``list``   key = ``blacklist`` or ``whitelist:<line>``;
- ``optout`` key = the line (per-line and per-signature opt-outs alike).

Why blobs for the blacklist and the whitelists: they are replaced whole (an operator
file, a customer list) and can hold millions of numbers; the pyroaring serialisation of
10 M numbers is ~25 MB and loads in milliseconds, where one row per number would take
a minute.  One ``UPDATE`` of one blob is also what makes an import atomic: a reader sees
the old list or the new one, never half.  Opt-outs are rows instead: they arrive one at
a time (an MO «لغو ۱۱», an MO ``12``) and are few per line.

Violations are rows written by the router (service-line sends to non-customers); they
are not configuration, so they add no change row.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from router.model.lines import (
    EXEMPTIONS,
    KINDS,
    LINE_STATUSES,
    HoursError,
    Line,
    format_hours,
    parse_hours,
)
from router.model.numbersets import ExpiringNumberSet, ListSnapshot, NumberSet, signature_key
from router.store.registry import RegistryError
from router.store.sqlite import SqliteStore

__all__ = ["MAX_LINE_LENGTH", "LineError", "LineStore", "ListCount", "ListKind"]

ListKind = Literal["blacklist", "whitelist", "optout"]
ListCount = tuple[ListKind, str, str, int, float]
"""(kind, line, signature, count, updated_at); line and signature ``""`` when not
applicable (the blacklist; per-line opt-outs)."""

MAX_LINE_LENGTH: Final = 20  # SMPP 3.4 source_addr: 21 octets with the terminating NUL
_BLACKLIST: Final = "blacklist"
_WHITELIST: Final = "whitelist"
_EDITABLE: Final = frozenset(
    {"account", "kind", "exemption", "status", "purpose", "operator", "hours", "status_reason"}
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lines (
    number        TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    exemption     TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'active',
    purpose       TEXT NOT NULL DEFAULT '',
    operator      TEXT NOT NULL DEFAULT '',
    hours         TEXT NOT NULL DEFAULT '',
    status_reason TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_account ON lines (account);
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
CREATE TABLE IF NOT EXISTS violations (
    line        TEXT NOT NULL,
    at          REAL NOT NULL,
    destination TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS violations_at ON violations (at);
"""


class LineError(RegistryError):
    """A line or list request the store cannot honour; the message says why."""


def _line(row: sqlite3.Row) -> Line:
    return Line(
        number=row["number"],
        account=row["account"],
        kind=row["kind"],
        exemption=row["exemption"],
        status=row["status"],
        purpose=row["purpose"],
        operator=row["operator"],
        hours=parse_hours(row["hours"]),
        status_reason=row["status_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _sig(signature: str | None) -> str:
    """Stored signature: ``""`` for per-line opt-outs, else :func:`signature_key`."""
    return "" if signature is None else signature_key(signature)


def _check_line(line: Line) -> None:
    number = line.number
    if not number or number != number.strip() or any(ch.isspace() for ch in number):
        raise LineError(f"line number {number!r}: empty or contains spaces")
    if len(number) > MAX_LINE_LENGTH:
        raise LineError(f"line number {number!r}: longer than {MAX_LINE_LENGTH} characters")
    if not line.account:
        raise LineError(f"line {number}: no account")
    if line.kind not in KINDS:
        raise LineError(f"line {number}: kind {line.kind!r} is not one of {', '.join(KINDS)}")
    if line.exemption not in EXEMPTIONS:
        names = ", ".join(e for e in EXEMPTIONS if e)
        raise LineError(f"line {number}: exemption {line.exemption!r} is not one of {names}")
    if line.exemption and line.kind != "service":
        raise LineError(
            f"line {number}: the {line.exemption} exemption applies to service lines only"
        )
    if line.status not in LINE_STATUSES:
        raise LineError(
            f"line {number}: status {line.status!r} is not one of {', '.join(LINE_STATUSES)}"
        )
    if line.status == "demoted" and line.kind != "service":
        raise LineError(f"line {number}: only a service line can be demoted")
    if line.hours is not None:
        try:
            parse_hours(format_hours(line.hours))
        except HoursError as exc:
            raise LineError(f"line {number}: {exc}") from None


class LineStore(SqliteStore):
    """Lines and their lists on the registry SQLite file; one connection of its own.

    Safe to create before or after :class:`~router.store.registry.Registry` on the same
    file (both create their tables if missing; the ``changes`` table is identical).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def _account_exists(self, db: sqlite3.Connection, account: str) -> bool:
        try:
            row = db.execute("SELECT 1 FROM accounts WHERE system_id = ?", (account,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return False  # no registry tables yet: no accounts
            raise
        return row is not None

    def _require_line(self, db: sqlite3.Connection, number: str) -> None:
        if db.execute("SELECT 1 FROM lines WHERE number = ?", (number,)).fetchone() is None:
            raise LineError(f"no line {number!r}")

    # --- lines ----------------------------------------------------------------------

    def add_line(self, line: Line) -> Line:
        """Store a new line of an existing account (created/updated set to now)."""
        _check_line(line)
        now = time.time()
        line = replace(line, created_at=now, updated_at=now)
        with self._tx() as db:
            if not self._account_exists(db, line.account):
                raise LineError(f"no account {line.account!r}")
            try:
                db.execute(
                    "INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        line.number,
                        line.account,
                        line.kind,
                        line.exemption,
                        line.status,
                        line.purpose,
                        line.operator,
                        format_hours(line.hours),
                        line.status_reason,
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError:
                raise LineError(f"line {line.number!r} exists already") from None
            self._changed(db, "line", line.number)
        return line

    def get_line(self, number: str) -> Line | None:
        row = self._db.execute("SELECT * FROM lines WHERE number = ?", (number,)).fetchone()
        return _line(row) if row else None

    def lines(self, account: str | None = None) -> list[Line]:
        if account is None:
            rows = self._db.execute("SELECT * FROM lines ORDER BY number")
        else:
            rows = self._db.execute(
                "SELECT * FROM lines WHERE account = ? ORDER BY number", (account,)
            )
        return [_line(r) for r in rows]

    def update_line(self, number: str, /, **changes: Any) -> Line:
        """Change fields of a line (``kind``, ``exemption``, ``status``, ``status_reason``,
        ``purpose``, ``operator``, ``hours``, ``account``); ``updated_at`` becomes now."""
        unknown = sorted(set(changes) - _EDITABLE)
        if unknown:
            raise LineError(f"line fields that cannot be changed: {', '.join(unknown)}")
        with self._tx() as db:
            row = db.execute("SELECT * FROM lines WHERE number = ?", (number,)).fetchone()
            if row is None:
                raise LineError(f"no line {number!r}")
            current = _line(row)
            updated = replace(current, updated_at=time.time(), **changes)
            _check_line(updated)
            if updated.account != current.account and not self._account_exists(db, updated.account):
                raise LineError(f"no account {updated.account!r}")
            db.execute(
                "UPDATE lines SET account = ?, kind = ?, exemption = ?, status = ?, "
                "purpose = ?, operator = ?, hours = ?, status_reason = ?, updated_at = ? "
                "WHERE number = ?",
                (
                    updated.account,
                    updated.kind,
                    updated.exemption,
                    updated.status,
                    updated.purpose,
                    updated.operator,
                    format_hours(updated.hours),
                    updated.status_reason,
                    updated.updated_at,
                    number,
                ),
            )
            self._changed(db, "line", number)
        return updated

    # --- blacklist and whitelists (blobs) ---------------------------------------------

    def _blob(self, db: sqlite3.Connection, kind: str, line: str) -> bytes | None:
        row = db.execute(
            "SELECT data FROM number_lists WHERE kind = ? AND line = ?", (kind, line)
        ).fetchone()
        return None if row is None else bytes(row["data"])

    def _put_blob(
        self, db: sqlite3.Connection, kind: str, line: str, data: bytes, count: int
    ) -> None:
        db.execute(
            "INSERT OR REPLACE INTO number_lists VALUES (?, ?, ?, ?, ?)",
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
                "INSERT OR IGNORE INTO optouts VALUES (?, ?, ?, ?)",
                ((line, sig, number, now) for number in numbers),
            )
            self._changed(db, "optout", line)
            stored = self._optouts(db, line, sig)
        return stored

    def _optouts(self, db: sqlite3.Connection, line: str, sig: str) -> NumberSet:
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
                    "INSERT OR IGNORE INTO optouts VALUES (?, ?, ?, ?)",
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

    # --- violations ---------------------------------------------------------------------

    def record_violations(self, rows: Iterable[tuple[str, float, str]]) -> None:
        """(line, at, destination) for each refused service-line send to a non-customer."""
        with self._tx() as db:
            db.executemany("INSERT INTO violations (line, at, destination) VALUES (?, ?, ?)", rows)

    def violation_counts(self, since: float) -> dict[str, int]:
        """Violations per line at or after ``since`` (epoch seconds)."""
        return {
            r[0]: r[1]
            for r in self._db.execute(
                "SELECT line, count(*) FROM violations WHERE at >= ? GROUP BY line ORDER BY line",
                (since,),
            )
        }

    def purge_violations(self, before: float) -> int:
        """Drop violations older than ``before``; returns how many went."""
        with self._tx() as db:
            deleted: int = db.execute("DELETE FROM violations WHERE at < ?", (before,)).rowcount
        return deleted
