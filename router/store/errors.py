"""What every store backend raises when it cannot take writes."""

import sqlite3


class StoreError(Exception):
    """The journal cannot take writes; nothing may be acknowledged."""


class Conflict(StoreError):
    """PostgreSQL refused a row that breaks a key (as sqlite3.IntegrityError)."""


STORE_UNAVAILABLE: tuple[type[Exception], ...] = (StoreError, sqlite3.OperationalError)
"""A store that cannot answer now (PostgreSQL away; a SQLite file locked, full or
unreadable): worth trying again, unlike a bug."""
