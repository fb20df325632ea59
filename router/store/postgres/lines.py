"""Export lines built by PostgreSQL: the same CSV and JSON lines as SQLite's
(``records/sqlite_lines.py``) made by the server as it reads, so the export's Python
loop only joins and writes (formatting each row in Python held it to ~25 k rows/s)."""

from __future__ import annotations

from router.store.postgres.text import REDACTED_LENGTH
from router.store.records.columns import COLUMNS

_TIMES = ("received_at", "submitted_at", "done_at")
_NUMBERS = ("segments", "part", "receipt", "charge")


def _value(column: str, redact: bool, refusal: bool) -> str:
    """The SQL expression for one column's exported value (NULL stays NULL)."""
    if column == "message_id":
        return "NULL::text" if refusal else "to_hex(message_id)"
    if column in _TIMES:
        return (f"to_char(to_timestamp({column}) AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
    if column == "text" and redact:
        return f"'[redacted: ' || {REDACTED_LENGTH} || ' characters]'"
    return column


def _csv_field(column: str, redact: bool, refusal: bool) -> str:
    """One CSV field; concat() makes a NULL empty (unquoted, as SQLite's lines)."""
    value = _value(column, redact, refusal)
    if column in _NUMBERS or column in _TIMES or column == "message_id":
        return value
    return f"""'"' || replace({value}, '"', '""') || '"'"""


def line_sql(fmt: str, redact: bool, refusal: bool) -> str:
    """The select list: (the row's line, received_at).  JSON: row_to_json of the
    values under their column names (compact, in column order)."""
    if fmt == "csv":
        line = "concat(" + ", ',', ".join(_csv_field(c, redact, refusal)
                                          for c in COLUMNS) + ")"
    else:
        values = ", ".join(f"{_value(c, redact, refusal)} AS {c}" for c in COLUMNS)
        line = f"(SELECT row_to_json(v)::text FROM (SELECT {values}) AS v)"
    return f"{line}, received_at"
