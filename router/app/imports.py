"""Number-list imports: the request's checks, the read and the store step shared by
``chapar lists import`` and the admin API, and the API's jobs.

A job reads the uploaded file on a thread of the router's (one at a time, a few waiting:
design.md §3 "slow work off the loop"), on a registry connection of its own, and stores
the new list in one transaction like the CLI: the running router picks it up through
the registry's change rows (app/changes.py), so it sees the old list or the new one.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from router.ingest import ImportResult, import_file, import_xlsx, write_rejection_report
from router.ingest.result import ProgressCallback
from router.model.imports import NO_OPERATOR, Job, ListImportError, ListRequest
from router.policy.plans import Operators
from router.policy.settings import PolicySettings
from router.store.lines import LineError, LineStore
from router.store.settings import Place

log = structlog.get_logger("chapar.imports")

def _zone(policy: PolicySettings) -> ZoneInfo:
    try:
        return ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ListImportError(f"policy.timezone: unknown time zone {policy.timezone!r}"
                              ) from None


def operator_for(request: ListRequest, store: LineStore) -> str | None:
    """The operator whose numbers the list keeps (None: any); the line must exist."""
    operator = request.operator
    if request.kind != "blacklist":
        assert request.line is not None
        line = store.get_line(request.line)
        if line is None:
            raise LineError(f"no line {request.line!r}: name it under lines: in the config "
                            f"or add it with `chapar lines add {request.line} --account "
                            "ACCOUNT`")
        if operator is None and request.kind == "whitelist" and line.operator:
            operator = line.operator  # a customer list holds the line operator's numbers
    return None if operator == NO_OPERATOR else operator


def _sheet(sheet: str, path: Path) -> int | str:
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise ListImportError("a sheet applies to Excel files (.xlsx) only")
    if not (sheet.isascii() and sheet.isdigit()):
        return sheet
    if int(sheet) < 1:
        raise ListImportError("sheet counts from 1 (the first worksheet)")
    return int(sheet) - 1


def read_list(path: Path, request: ListRequest, policy: PolicySettings, operators: Operators,
              operator: str | None, progress: ProgressCallback, name: str = "",
              ) -> ImportResult:
    """The whole file read and checked (nothing stored); ListImportError, naming the file
    as ``name`` (default: its path), when unreadable."""
    from python_calamine import CalamineError

    if not path.is_file():
        raise ListImportError(f"{name or path}: no such file")
    options: dict[str, Any] = {
        "default_country": policy.default_country,
        "operator": operator,
        "operators": operators,
        "column": None if request.column is None else request.column - 1,
        "expiry_column": "auto" if request.kind == "whitelist" else None,
        "on_progress": progress,
        "progress_every": 10_000,
        "today": datetime.now(_zone(policy)).date(),
    }
    try:
        if request.sheet is not None:
            return import_xlsx(path, sheet=_sheet(request.sheet, path), **options)
        return import_file(path, **options)
    except (OSError, ValueError, IndexError, KeyError, CalamineError) as exc:
        raise ListImportError(f"{name or path}: {exc}") from None


def store_list(request: ListRequest, policy: PolicySettings, store: LineStore,
               result: ImportResult) -> int:
    """Store the list in one transaction; the numbers it now holds."""
    append = request.mode == "append"
    if request.kind == "blacklist":
        return len(store.save_blacklist(result.number_set, append=append))
    assert request.line is not None
    if request.kind == "whitelist":
        whitelist = result.to_whitelist(_zone(policy))
        return len(store.save_whitelist(request.line, whitelist, append=append))
    return len(store.save_optouts(request.line, result.number_set, request.signature,
                                  append=append))


def nothing_accepted(request: ListRequest, result: ImportResult) -> bool:
    """A replace with no number accepted leaves the list as it was."""
    return not result.accepted and request.mode != "append"


class ImportJobs:
    """The admin API's list imports: at most ``waiting`` queued behind the running one."""

    def __init__(self, registry_path: Place, folder: Path, policy: PolicySettings,
                 operators: Operators, max_bytes: int, waiting: int = 4, kept: int = 100
                 ) -> None:
        self.max_bytes = max_bytes
        self._registry_path = registry_path
        self.folder = folder
        self._policy = policy
        self._operators = operators
        self._waiting, self._kept = waiting, kept  # queued jobs at most; finished ones kept
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="list-import")
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)

    def busy(self) -> bool:
        pending = sum(job.state in ("queued", "running") for job in self._jobs.values())
        return pending > self._waiting

    def upload_path(self, suffix: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._ids)}{suffix}"

    def check(self, request: ListRequest) -> str | None:
        """The request's checks and its line's existence, before any upload is read
        (ListImportError or LineError); the operator whose numbers it keeps."""
        request.check()
        with LineStore(self._registry_path) as store:
            return operator_for(request, store)

    def start(self, request: ListRequest, operator: str | None, upload: Path,
              filename: str) -> Job:
        job = Job(upload.stem, request, filename, upload, operator=operator)
        self._jobs[job.id] = job
        self._forget_old()
        self._pool.submit(self._run, job)
        log.info("list_import_queued", job=job.id, list=request.describe(operator),
                 file=filename)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda job: job.created, reverse=True)

    def _forget_old(self) -> None:
        done = [job for job in self.all() if job.finished is not None]
        for job in done[self._kept:]:
            del self._jobs[job.id]
            job.report.unlink(missing_ok=True)

    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            result = read_list(job.upload, job.request, self._policy, self._operators,
                               job.operator, job.progress, job.filename)
            write_rejection_report(job.report, result.rejected)
            job.result = {"rows": result.total_rows, "accepted": result.accepted,
                          "duplicates": result.duplicates, "rejected": len(result.rejected)}
            if nothing_accepted(job.request, result):
                raise ListImportError(f"no number accepted from {job.filename}: the list is "
                                   "left as it was (see the rejection report)")
            with LineStore(self._registry_path) as store:
                job.stored = store_list(job.request, self._policy, store, result)
            job.state = "done"
        except (ListImportError, LineError) as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a job must end, whatever broke: say what
            log.exception("list_import_crashed", job=job.id)
            job.state, job.error = "failed", f"internal error: {exc}"
        finally:
            job.finished = time.time()
            job.upload.unlink(missing_ok=True)
        log.info("list_import_" + job.state, job=job.id, **job.result, stored=job.stored,
                 error=job.error)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
