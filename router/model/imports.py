"""A number-list import as asked (by `chapar lists import` or the admin API) and, for
the API, the job that carries it out on the router's import thread."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

LIST_KINDS = ("blacklist", "whitelist", "optout")
NO_OPERATOR = "any"
JobState = Literal["queued", "running", "done", "failed"]


class ListImportError(ValueError):
    """The import cannot be done as asked (a readable message for the customer)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRequest:
    kind: str
    line: str | None = None
    signature: str | None = None
    mode: str = "replace"
    operator: str | None = None
    """Keep only this operator's numbers; None: the line's for a whitelist; "any": all."""
    column: int | None = None
    """From 1; None: found from the header or the data."""
    sheet: str | None = None
    """xlsx worksheet: a number from 1 or a name."""

    def check(self) -> None:
        if self.kind not in LIST_KINDS:
            raise ListImportError(f"kind: one of {', '.join(LIST_KINDS)}")
        if self.kind == "blacklist" and self.line:
            raise ListImportError("the blacklist is the operator's, not a line's: no line")
        if self.kind != "blacklist" and not self.line:
            raise ListImportError(f"a {self.kind} list belongs to a line: give its line")
        if self.signature is not None and self.kind != "optout":
            raise ListImportError("a signature applies to opt-out lists only")
        if self.mode not in ("replace", "append"):
            raise ListImportError("mode: replace or append")
        if self.column is not None and self.column < 1:
            raise ListImportError("column counts from 1 (the first column, A)")

    def describe(self, operator: str | None) -> str:
        return (self.kind + (f" of line {self.line}" if self.line else "")
                + (f", signature {self.signature}" if self.signature else "")
                + (f", {operator} numbers only" if operator else ""))


@dataclass(slots=True)
class Job:
    id: str
    request: ListRequest
    filename: str
    upload: Path
    state: JobState = "queued"
    rows_done: int = 0
    rows_total: int | None = None
    operator: str | None = None
    result: dict[str, int] = field(default_factory=dict)
    stored: int | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def report(self) -> Path:
        return self.upload.with_name(self.upload.name + ".rejected.csv")

    def progress(self, done: int, total: int | None) -> None:
        self.rows_done, self.rows_total = done, total

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "list": self.request.describe(self.operator),
                "kind": self.request.kind, "line": self.request.line, "mode": self.request.mode,
                "file": self.filename, "rows_done": self.rows_done,
                "rows_total": self.rows_total, **self.result, "stored": self.stored,
                "error": self.error, "created": self.created, "finished": self.finished}
