"""A record's text in PostgreSQL, whose ``text`` holds every character but U+0000.

The record is evidence: its text must come back exactly, and a UCS-2 U+0000 or a binary
or Latin-1 message's 0x00 octet is ordinary input (a WAP push is full of them).  The
column stays ``text`` (the export's lines are still made by the server, and searching
and ``length`` keep working) and two characters are escaped as written: U+0000 becomes
ESC U+FFFE and ESC itself ESC ESC, with ESC = U+FFFF (a Unicode noncharacter, so
escaping it is all but never needed).  Read from the left, every ESC starts a pair, so
any text, ESC-laden or not, comes back as it went in.  SQLite keeps the text as it is;
the hash chain covers the text before escaping, so ``records verify`` hashes the same
characters on both backends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from router.store.records.columns import COLUMNS

ESC = "\uffff"
NUL_MARK = "\ufffe"
TEXT_AT = COLUMNS.index("text")
_ESCAPES = str.maketrans({"\0": ESC + NUL_MARK, ESC: ESC + ESC})
_PAIR = re.compile(ESC + "(.)", re.DOTALL)
ESC_BYTES = ESC.encode()
_MARK_BYTES = NUL_MARK.encode()
_PAIR_BYTES = re.compile(re.escape(ESC_BYTES) + b"(" + re.escape(ESC_BYTES) + b"|"
                         + re.escape(_MARK_BYTES) + b")")
_NUL_IN = {"csv": b"\0", "jsonl": b"\\u0000"}
"""U+0000 in an export line: the character itself in CSV, JSON's escape in JSON lines
(as SQLite writes them)."""


def escape(text: str) -> str:
    return text.translate(_ESCAPES) if "\0" in text or ESC in text else text


def unescape(text: str) -> str:
    if ESC not in text:
        return text
    return _PAIR.sub(lambda m: "\0" if m[1] == NUL_MARK else m[1], text)


def escape_rows(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Rows (record columns first) with their texts escaped; the list itself when no
    text needs it (one scan of the batch's texts joined)."""
    at = TEXT_AT
    joined = "".join([row[at] for row in rows])  # type: ignore[misc]
    if "\0" not in joined and ESC not in joined:
        return rows
    return [(*row[:at], escape(row[at]), *row[at + 1:])  # type: ignore[arg-type]
            for row in rows]


def unescape_rows(rows: Iterable[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """Rows read back (record columns first) with their texts as written."""
    at = TEXT_AT
    for row in rows:
        text = row[at]
        if isinstance(text, str) and ESC in text:
            row = (*row[:at], unescape(text), *row[at + 1:])
        yield row


def unescape_lines(data: bytes, fmt: str) -> bytes:
    """Export lines made by the server (UTF-8) with the escapes in their texts undone
    (only texts hold ESC: the other columns are C strings or ours)."""
    if ESC_BYTES not in data:
        return data
    nul = _NUL_IN[fmt]
    return _PAIR_BYTES.sub(lambda m: nul if m[1] == _MARK_BYTES else m[1], data)


REDACTED_LENGTH = (f"CASE WHEN strpos(text, '{ESC}') > 0 THEN "
                   f"length(regexp_replace(text, '{ESC}(.)', 'x', 'g')) "
                   "ELSE length(text) END")
"""The text's length as received (each escape pair is one character)."""
