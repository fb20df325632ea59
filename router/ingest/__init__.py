"""Reading customer and operator number files (CSV, Excel xlsx) into number lists.

Why tolerant: the files come from people and spreadsheets — Excel drops the leading 0,
turns numbers into ``9121234567.0`` or ``9.89121234567E+11``, Persian keyboards give
``۰۹۱۲…``, and there are title rows, blank rows and duplicates.  Every value goes through
:func:`router.policy.numbers.normalise`; what cannot be read becomes a
:class:`Rejection` with the file's row number and a reason the customer can act on
(:func:`~router.ingest.report.write_rejection_report`).

Why a fast path: an operator blacklist has ~10 M rows.  Clean rows (ASCII digits) are
matched against the numbering plan's :meth:`~router.policy.plans.Operators.fast_rules`
and converted with one ``int()``; only the others pay for the full normaliser.  Lines are
read in blocks, deduplication uses the roaring bitmap that becomes the list itself.

Modules, one job each: ``result`` (what an import produces), ``dates`` (expiry dates,
Gregorian and Solar Hijri), ``collector`` (per-row checks shared by the readers),
``columns`` (delimiter and column detection), ``csv_file`` and ``xlsx_file`` (the
readers), ``report`` (the rejection report), ``driver`` (CSV or xlsx by extension).
Only the CLI and the benchmarks import this package.
"""

from __future__ import annotations

from router.ingest.csv_file import import_csv
from router.ingest.dates import parse_expiry
from router.ingest.driver import import_file
from router.ingest.report import write_rejection_report
from router.ingest.result import ImportResult, ProgressCallback, Rejection
from router.ingest.xlsx_file import import_xlsx

__all__ = [
    "ImportResult",
    "ProgressCallback",
    "Rejection",
    "import_csv",
    "import_file",
    "import_xlsx",
    "parse_expiry",
    "write_rejection_report",
]
