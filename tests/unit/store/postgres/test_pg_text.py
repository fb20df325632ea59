"""The escape that lets PostgreSQL's text column hold a record's text exactly."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from router.store.postgres.text import ESC, NUL_MARK, escape, unescape, unescape_lines

TRICKY = st.text(alphabet=st.sampled_from(["\0", ESC, NUL_MARK, "a", "\\", '"', "۴"]))


@given(st.text() | TRICKY)
def test_any_text_comes_back_exactly_and_the_stored_form_has_no_nul(text: str) -> None:
    """requirements §4 (content handed over as received): escape then unescape is the
    identity, for texts holding NUL, the escape character and its pairs in any order."""
    stored = escape(text)
    assert "\0" not in stored
    assert unescape(stored) == text


@given(TRICKY)
def test_export_lines_unescape_to_what_sqlite_writes(text: str) -> None:
    """A JSON line's NUL becomes JSON's \\u0000 escape, a CSV line's the character."""
    line = json.dumps({"text": escape(text)}, ensure_ascii=False)
    assert json.loads(unescape_lines(line.encode(), "jsonl")) == {"text": text}
    assert unescape_lines(escape(text).encode(), "csv") == text.encode()


def test_text_without_nul_or_escape_is_stored_as_it_is() -> None:
    assert escape("سلام \\ \ufffe") == "سلام \\ \ufffe"
