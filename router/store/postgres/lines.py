"""Export lines built by PostgreSQL: the same CSV and JSON lines as SQLite's
(``records/sqlite_lines.py``) made by the server as it reads, so the export's Python
loop only joins and writes (formatting each row in Python held it to ~25 k rows/s)."""

from __future__ import annotations

from router.store.postgres.text import REDACTED_LENGTH
from router.store.records.columns import COLUMNS

_TIMES = ("received_at", "submitted_at", "done_at")
_NUMBERS = ("segments", "part", "receipt", "charge")
_JULIAN_MS = "210866760000000::float8"
"""The Unix epoch in Julian-day milliseconds: SQLite rounds ``t * 1000`` plus this to a
whole millisecond, in float8 (near a tie the sum's rounding decides), and to_char's MS
truncates; the same float8 sum makes the backends' times the same."""


def _value(column: str, redact: bool, refusal: bool) -> str:
    """The SQL expression for one column's exported value (NULL stays NULL)."""
    if column == "message_id":
        return "NULL::text" if refusal else "to_hex(message_id)"
    if column in _TIMES:  # rounded to the millisecond as SQLite's 'unixepoch' does it
        return (f"to_char(to_timestamp((floor({column} * 1000 + {_JULIAN_MS} + 0.5) - "
                f"{_JULIAN_MS}) / 1000) AT TIME ZONE 'UTC', "
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
_SELDOM = ("account", "line", "destination", "reason", "status", "upstream", "upstream_id")
"""Strings that may need JSON's escapes but seldom do: quoted as they are unless the
row's check (``_ESCAPES``) finds a character to_json would escape in one of them."""
_ESCAPES = ("(" + " || ".join(f"coalesce({c}, '')" if c in _NULLABLE else c for c in _SELDOM)
            + """) ~ '[[:cntrl:]"\\\\]'""")
"""True when a _SELDOM column holds a double quote, a backslash or a control character
(a superset of what JSON escapes: such a row only takes the slower, exact way)."""
Piece = tuple[bool, str]
"""(a constant, its text) or (an expression, its SQL)."""


def _json_value(column: str, redact: bool, refusal: bool, escape: bool) -> list[Piece]:
    """One column as JSON text, as SQLite's json_object writes it: to_json only for
    strings that may need escapes (and for _SELDOM ones only with ``escape``)."""
    value = _value(column, redact, refusal)
    if column in _NUMBERS:
        return [(False, f"{value}::text")]
    if column == "message_id" and refusal:
        return [(True, "null")]
    if column in _TIMES or column in _BARE or column == "message_id" or (
            column in _SELDOM and not escape):
        if column in _NULLABLE:
            return [(False, f"""coalesce('"' || {value} || '"', 'null')""")]
        return [(True, '"'), (False, value), (True, '"')]
    if column in _NULLABLE:
        return [(False, f"coalesce(to_json({value})::text, 'null')")]
    return [(False, f"to_json({value})::text")]


def _json_line(redact: bool, refusal: bool, escape: bool) -> str:
    """The keys and values joined by ``||``, neighbouring constants as one literal
    (concat() looked up every argument's output function, constants too, in every row)."""
    pieces: list[Piece] = []
    for i, column in enumerate(COLUMNS):
        pieces += [(True, ("{" if i == 0 else ",") + f'"{column}":'),
                   *_json_value(column, redact, refusal, escape)]
    pieces.append((True, "}"))
    merged: list[Piece] = []
    for constant, text in pieces:
        if constant and merged and merged[-1][0]:
            merged[-1] = (True, merged[-1][1] + text)
        else:
            merged.append((constant, text))
    return " || ".join("'" + text.replace("'", "''") + "'" if constant else text
                       for constant, text in merged)


def line_sql(fmt: str, redact: bool, refusal: bool) -> str:
    """The select list: the row's line.  JSON: the keys and values joined, to_json only
    for the strings that may need escapes (row_to_json took half again the server's
    time), and for the _SELDOM ones only in rows that hold such a character (~14 % of
    the server's time a row)."""
    if fmt == "csv":
        return "concat(" + ", ',', ".join(_csv_field(c, redact, refusal)
                                          for c in COLUMNS) + ")"
    return (f"CASE WHEN {_ESCAPES} THEN {_json_line(redact, refusal, True)} "
            f"ELSE {_json_line(redact, refusal, False)} END")
