"""The rejection report a customer opens in Excel: one row per rejected value."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from router.ingest.result import Rejection

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_rejection_report(path: str | Path, rejected: Iterable[Rejection]) -> int:
    """Write ``row,value,reason`` (UTF-8 with BOM so Excel shows Persian/Chinese text).

    A value that Excel would run as a formula (``=…``, ``+…``, ``-…``, ``@…``) is written
    with a leading ``'``: the report is opened by people, the values came from strangers.
    Returns the number of rejections written.
    """
    count = 0
    with Path(path).open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("row", "value", "reason"))
        for rejection in rejected:
            value = rejection.raw
            if value.startswith(_FORMULA_START):
                value = "'" + value
            writer.writerow((rejection.row, value, rejection.reason))
            count += 1
    return count
