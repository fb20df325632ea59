"""Lines, number lists, opt-outs and violations, in the registry (its SQLite file, or
PostgreSQL).

Why the registry: a running router already watches it (``data_version`` and the
``changes`` table, see :mod:`router.store.registry`).  Every write here appends its
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

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Final

from router.model.lines import (
    EXEMPTIONS,
    KINDS,
    LINE_STATUSES,
    HoursError,
    Line,
    format_hours,
    parse_hours,
)
from router.store.lists import LIST_SCHEMA, LineError, ListTables
from router.store.rows import CONFLICTS
from router.store.settings import Place
from router.store.sqlite import add_column

__all__ = ["MAX_LINE_LENGTH", "LineError", "LineStore"]


MAX_LINE_LENGTH: Final = 20  # SMPP 3.4 source_addr: 21 octets with the terminating NUL
_EDITABLE: Final = frozenset(
    {"account", "kind", "exemption", "status", "purpose", "operator", "hours", "status_reason",
     "priority"}
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
CREATE TABLE IF NOT EXISTS violations (
    line        TEXT NOT NULL,
    at          REAL NOT NULL,
    destination TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS violations_at ON violations (at);
"""


def _line(row: Any) -> Line:
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
        priority=bool(row["priority"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


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


class LineStore(ListTables):
    """Lines and their lists in the registry; one connection of its own.

    Safe to create before or after :class:`~router.store.registry.Registry` on the same
    file (both create their tables if missing; the ``changes`` table is identical).
    """

    def __init__(self, path: Place) -> None:
        super().__init__(path, _SCHEMA + LIST_SCHEMA)
        if self._sqlite is not None:  # a registry from before priority lines
            add_column(self._sqlite, "lines", "priority", "INTEGER NOT NULL DEFAULT 0")

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
                    "INSERT INTO lines (number, account, kind, exemption, status, purpose, "
                    "operator, hours, status_reason, created_at, updated_at, priority) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        int(line.priority),
                    ),
                )
            except CONFLICTS:
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
        ``purpose``, ``operator``, ``hours``, ``account``, ``priority``); ``updated_at``
        becomes now."""
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
                "purpose = ?, operator = ?, hours = ?, status_reason = ?, updated_at = ?, "
                "priority = ? WHERE number = ?",
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
                    int(updated.priority),
                    number,
                ),
            )
            self._changed(db, "line", number)
        return updated

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
