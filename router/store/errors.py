"""What every store backend raises when it cannot take writes."""


class StoreError(Exception):
    """The journal cannot take writes; nothing may be acknowledged."""


class Conflict(StoreError):
    """PostgreSQL refused a row that breaks a key (as sqlite3.IntegrityError)."""

