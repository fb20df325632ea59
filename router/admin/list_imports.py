"""List imports over the API: ``POST /api/lists/{kind}/import`` takes the file as the
request body (CSV or xlsx, as `chapar lists import` reads them), answers 202 with a job
at once and reads the file on the router's import thread; ``GET /api/jobs/{id}`` shows
its progress and result, ``…/report`` the rejection report.  Bad requests are refused
before the body is read; a body over ``admin.import_max_bytes`` is refused with 413."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from router.admin.common import error, sources
from router.model.imports import Job, ListImportError, ListRequest
from router.store.lines import LineError

routes = web.RouteTableDef()
CHUNK = 1 << 20
SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".xls", ".ods")


def _request(kind: str, query: dict[str, str]) -> ListRequest:
    unknown = sorted(set(query) - {"line", "signature", "mode", "operator", "column", "sheet",
                                   "filename"})
    if unknown:
        raise ListImportError(f"{unknown[0]}: unknown parameter")
    for name, value in query.items():  # stored (a signature, a line): no NUL, no control
        if not value.isprintable():
            raise ListImportError(f"{name}: printable characters only")
    column = query.get("column")
    if column is not None and not (column.isascii() and column.isdigit()):
        raise ListImportError("column: a number from 1")
    return ListRequest(kind=kind, line=query.get("line"), signature=query.get("signature"),
                       mode=query.get("mode", "replace"), operator=query.get("operator"),
                       column=None if column is None else int(column),
                       sheet=query.get("sheet"))


async def _receive(request: web.Request, path: Path, limit: int) -> int:
    """The body into ``path``, chunk by chunk; its size, or -1 when over ``limit``."""
    size = 0
    with path.open("wb") as out:
        while chunk := await request.content.read(CHUNK):
            size += len(chunk)
            if size > limit:
                return -1
            out.write(chunk)
    return size


@routes.post("/api/lists/{kind}/import")
async def import_list(request: web.Request) -> web.Response:
    jobs = sources(request).imports
    if jobs.busy():
        return error(429, "list imports are queued already: try again when one is done")
    filename = request.query.get("filename", "upload.csv")
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        return error(400, f"filename: one of {', '.join(SUFFIXES)} (it tells the format)")
    try:
        wanted = _request(request.match_info["kind"], dict(request.query))
        operator = jobs.check(wanted)
    except (ListImportError, LineError) as exc:
        return error(400, str(exc))
    upload = jobs.upload_path(suffix)
    size = await _receive(request, upload, jobs.max_bytes)
    if size <= 0:
        upload.unlink(missing_ok=True)
        return error(413, f"body: over {jobs.max_bytes} bytes") if size else error(
            400, "body: the file is empty")
    job = jobs.start(wanted, operator, upload, filename)
    return web.json_response(job.view(), status=202,
                             headers={"Location": f"/api/jobs/{job.id}"})


@routes.get("/api/jobs")
async def get_jobs(request: web.Request) -> web.Response:
    return web.json_response({"jobs": [job.view() for job in sources(request).imports.all()]})


def _job(request: web.Request) -> Job | web.Response:
    wanted = request.match_info["id"]
    job = sources(request).imports.get(wanted)
    return error(404, f"no job {wanted!r}") if job is None else job


@routes.get("/api/jobs/{id}")
async def get_job(request: web.Request) -> web.Response:
    job = _job(request)
    return job if isinstance(job, web.Response) else web.json_response(job.view())


@routes.get("/api/jobs/{id}/report")
async def get_report(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    if isinstance(job, web.Response):
        return job
    if job.finished is None or not job.report.exists():
        return error(409, f"job {job.id} has no report yet (state {job.state})")
    return web.FileResponse(job.report, headers={"Content-Type": "text/csv; charset=utf-8"})
