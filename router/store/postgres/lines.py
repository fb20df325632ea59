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


_BARE = ("peer", "decision")
"""Strings that never need JSON's escapes (an IP address; ours): quoted as they are."""
_NULLABLE = ("status", "upstream", "upstream_id", "submitted_at", "done_at")


def _json_value(column: str, redact: bool, refusal: bool) -> str:
    """One column as JSON text, as SQLite's json_object writes it."""
    value = _value(column, redact, refusal)
    if column in _NUMBERS:
        return value
    if column == "message_id" and refusal:
        return "'null'"
    if column in _TIMES or column in _BARE or column == "message_id":
        return f"""coalesce('"' || {value} || '"', 'null')""" if column in _NULLABLE \
            else f"""'"' || {value} || '"'"""
    # json, not json::text: concat calls json's output function anyway (a cast more cost
    # ~0.07 µs a value)
    return f"coalesce(to_json({value}), 'null')" if column in _NULLABLE \
        else f"to_json({value})"


def line_sql(fmt: str, redact: bool, refusal: bool) -> str:
    """The select list: the row's line.  JSON: one concat of the keys and the values,
    to_json only for the strings that may need escapes (row_to_json took half again
    the server's time)."""
    if fmt == "csv":
        return "concat(" + ", ',', ".join(_csv_field(c, redact, refusal)
                                          for c in COLUMNS) + ")"
    parts = []
    for i, column in enumerate(COLUMNS):
        parts += [f"""'{"{" if i == 0 else ","}"{column}":'""",
                  _json_value(column, redact, refusal)]
    return "concat(" + ", ".join(parts) + ", '}')"
