"""``mien serve``: the REST API and the web page (FastAPI), built on the same Analyzer and record format.

    POST /v1/analyze              an image (multipart field ``file``, or the raw bytes) -> faces as records
    POST /v1/videos               a video -> 202 and a job id; the job runs in the background
    GET  /v1/videos/{id}          the job's status and progress
    GET  /v1/videos/{id}/result   its frame rows and per-track summary (JSON, or CSV with ?format=csv)
    DELETE /v1/videos/{id}        forget a finished job and delete its files
    GET  /v1/models, /healthz, /docs (OpenAPI), /  (the web page)

One Analyzer per server process, created at start-up; images are analysed in a bounded thread pool off the
event loop; video jobs live in SQLite (see :mod:`mien.serve.jobs`) and survive restarts. Every error is
JSON ``{"status": code, "message": text}``; stack traces go to the server log only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Literal

import anyio
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from mien.config import AnalyzerConfig, VideoOptions
from mien.options import check_options
from mien.serve.limits import SNIFF_BYTES, Limits, describe_head, display_name, sniff, valid_job_id

log = logging.getLogger("mien.serve")

STATIC = Path(__file__).parent / "static"
CONFIG_ENV = "MIEN_SERVE_CONFIG"  # the config as JSON, for uvicorn's worker processes
SUPERVISOR_ENV = "MIEN_SERVE_SUPERVISOR"  # pid of the process that started them
WATCHDOG_SECONDS = 0.5  # how often a worker checks that its supervisor still runs
WATCHDOG_GRACE = 30.0  # seconds a worker orphaned by its supervisor gets to shut down gracefully
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers on top of the file itself
SMALL_BODY = 64 * 1024  # any other request body
DRAIN_CAP = 64 * 1024 * 1024  # bytes of an oversize body read and dropped so the client sees the 413


@dataclass
class ServeConfig:
    """How one server process runs. ``api_key`` None: no key needed. ``analysis``: the models and what they
    compute (:class:`~mien.config.AnalyzerConfig`); its ``max_pixels`` is the server's
    ``limits.max_pixels``, which bounds uploads before anything is decoded."""

    data_dir: Path = Path("mien_serve_data")
    api_key: str | None = None
    limits: Limits = field(default_factory=Limits)
    analysis: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    cors_origins: tuple[str, ...] = ()
    video_worker: bool = True

    def __post_init__(self) -> None:
        for name in ("detector", "expression"):  # every worker process builds its own models from the JSON
            if not isinstance(getattr(self.analysis, name), (str, Path)):
                raise ValueError(f"mien serve needs the {name} by name or path, got "
                                 f"{type(getattr(self.analysis, name)).__name__}")

    @property
    def analyzer_config(self) -> AnalyzerConfig:
        """The analysis the server runs: ``analysis`` within the server's pixel limit."""
        return self.analysis.replace(max_pixels=self.limits.max_pixels)

    def to_json(self) -> str:
        values = asdict(self)
        values["data_dir"] = str(self.data_dir)
        values["cors_origins"] = list(self.cors_origins)
        values["analysis"]["expression"] = str(self.analysis.expression)
        values["analysis"]["detector"] = str(self.analysis.detector)
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> "ServeConfig":
        values = json.loads(text)
        values["data_dir"] = Path(values["data_dir"])
        values["limits"] = Limits(**values["limits"])
        values["analysis"] = AnalyzerConfig(**values["analysis"])
        values["cors_origins"] = tuple(values["cors_origins"])
        return cls(**values)


# --------------------------------------------------------------------------- errors
def error_body(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


class ErrorBody(BaseModel):
    """Every error the API answers: the HTTP status again, and a message saying what was wrong."""

    status: int
    message: str


def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    headers = dict(getattr(error, "headers", None) or {})
    if error.status_code == 405:  # Starlette names only the first route of the path
        headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.scope))
    return JSONResponse(error_body(error.status_code, str(error.detail)), status_code=error.status_code,
                        headers=headers or None)


def allowed_methods(routes, scope) -> list[str]:
    """The methods the app answers on ``scope``'s path (every route of it), OPTIONS included; [] for none."""
    from starlette.routing import Match, Mount

    # a mounted app (the static files) changes root_path in the scope an error handler sees: match the whole path
    scope = {"type": "http", "method": "GET", "path": scope["path"], "root_path": scope.get("app_root_path", "")}
    methods: set[str] = set()
    for route in routes:
        answers = getattr(route, "methods", None) or ({"GET", "HEAD"} if isinstance(route, Mount) else None)
        if answers and route.matches(scope)[0] != Match.NONE:
            methods |= set(answers)
    return sorted(methods | {"OPTIONS"}) if methods else []


def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in error.errors()]
    return JSONResponse(error_body(422, "invalid request: " + "; ".join(parts)), status_code=422)


def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("internal error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse(error_body(500, "internal error (details are in the server log)"), status_code=500)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than the limit of {limit} bytes")


# --------------------------------------------------------------------------- the guard around every request
class Guard:
    """ASGI middleware: refuses bodies above the route's limit (413, from Content-Length before reading,
    or while reading a chunked body) and adds security headers to every response."""

    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"no-referrer"),
               (b"content-security-policy", b"default-src 'self'; img-src 'self' blob: data:; "
                                            b"style-src 'self'; script-src 'self'; object-src 'none'")]

    def __init__(self, app, limits: Limits) -> None:
        self.app = app
        self.limits = {"/v1/analyze": limits.max_image_bytes + MULTIPART_OVERHEAD,
                       "/v1/videos": limits.max_video_bytes + MULTIPART_OVERHEAD}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"].rstrip("/"), SMALL_BODY)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + self.HEADERS}
            await send(message)

        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _drain(receive, 0)
            error = BodyTooLarge(limit) if declared.isdigit() else HTTPException(400, "invalid Content-Length")
            response = JSONResponse(error_body(error.status_code, error.detail), status_code=error.status_code)
            return await response(scope, receive, send_with_headers)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body"):
                        await _drain(receive, received)
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send_with_headers)


class AnswerOptions:
    """ASGI middleware: ``OPTIONS`` on a path the app serves answers 204 with ``Allow`` naming every method
    of it (CORS preflights never get here when CORS is on: its middleware, outside this one, answers them)."""

    def __init__(self, app, routes) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes(), scope)
            if methods:
                return await Response(status_code=204, headers={"Allow": ", ".join(methods)})(scope, receive, send)
        await self.app(scope, receive, send)


async def _drain(receive, already: int) -> None:
    """Read and drop the rest of a refused body (up to DRAIN_CAP) so the client can read the answer."""
    total = already
    while total < DRAIN_CAP:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        if not message.get("more_body"):
            return


# --------------------------------------------------------------------------- analysis off the event loop
class AnalysisPool:
    """Runs image analyses in ``concurrency`` threads; at most ``max_waiting`` more wait (else 429)."""

    def __init__(self, analyzer, limits: Limits) -> None:
        self.analyzer = analyzer
        self.limits = limits
        self.executor = ThreadPoolExecutor(limits.analyze_concurrency, thread_name_prefix="mien-analyze")
        self.in_flight = 0  # only touched on the event loop thread

    async def run(self, data: bytes, name: str):
        if self.in_flight >= self.limits.analyze_concurrency + self.limits.max_waiting:
            raise HTTPException(429, "server busy: too many images waiting; retry later", headers={"Retry-After": "1"})
        self.in_flight += 1
        loop = asyncio.get_running_loop()
        future = self.executor.submit(self.analyze, data, name)
        # counted until the work itself ends: a request that timed out (504) leaves its analysis running,
        # and that analysis must still hold its place in the bound
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._finished))
        # Cancelling the wait (timeout) also cancels the work if it has not started yet.
        return await asyncio.wrap_future(future)

    def _finished(self) -> None:
        self.in_flight -= 1

    def analyze(self, data: bytes, name: str):
        from mien.io.images import iter_frames

        frame = next(iter_frames(bytes(data), "first", self.limits.max_pixels, name))
        if frame.error:
            raise HTTPException(422, frame.error)
        return self.analyzer.analyze_frames([frame])

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def result_records(result) -> list[dict[str, Any]]:
    """The result's rows exactly as ``Result.to_json`` writes them (one serialiser for every output)."""
    from mien.io.writers import RowFormatter

    text, _ = RowFormatter(result.columns(), "jsonl").rows_text(result.to_records())
    return [json.loads(line) for line in text.splitlines()]


# --------------------------------------------------------------------------- request helpers
def require_key(request: Request) -> None:
    expected = request.app.state.config.api_key
    if not expected:
        return
    given = request.headers.get("x-api-key", "")
    authorization = request.headers.get("authorization", "")
    if not given and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if not given or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header",
                            headers={"WWW-Authenticate": "ApiKey"})


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def uploaded_file(request: Request) -> UploadFile:
    """The ``file`` part of a multipart body (spooled to a temporary file by Starlette)."""
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "multipart body needs a file in a field named 'file'")
    return upload


def require_kind(head: bytes, wanted: str, name: str) -> None:
    """415 unless the content's first bytes say it is a ``wanted`` ("image" or "video")."""
    found = sniff(head)
    if found is None:
        raise HTTPException(415, f"{name}: {describe_head(head)}; send {'an image' if wanted == 'image' else 'a video'}")
    kind, fmt = found
    if kind != wanted:
        where = "/v1/videos" if kind == "video" else "/v1/analyze"
        raise HTTPException(415, f"{name}: this is {_article(kind)} ({fmt}), not {_article(wanted)}; send it to {where}")


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def known_job(request: Request, job_id: str):
    store = request.app.state.store
    job = store.get(job_id) if valid_job_id(job_id) else None
    if job is None:
        raise HTTPException(404, "no such job")
    return job


def job_links(job_id: str) -> dict[str, str]:
    return {"status": f"/v1/videos/{job_id}", "result": f"/v1/videos/{job_id}/result",
            "csv": f"/v1/videos/{job_id}/result?format=csv",
            "summary_csv": f"/v1/videos/{job_id}/result?format=csv&table=summary"}


def stored_rows(path: Path, name: str) -> Iterator[dict[str, Any]]:
    """Rows of a job's JSON-lines table, with the upload's path replaced by the client's file name."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            row["input"] = name
            yield row


def csv_stream(rows: Iterator[dict[str, Any]], columns: list[str], chunk: int = 500) -> Iterator[str]:
    from mien.io.writers import RowFormatter

    formatter = RowFormatter(columns, "csv")
    yield formatter.header_text()
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield formatter.rows_text(batch)[0]
            batch = []
    yield formatter.rows_text(batch)[0]


ERROR_DESCRIPTIONS = {
    400: "malformed request (an invalid Content-Length)",
    401: "missing or wrong API key (only when the server has one)",
    404: "no such job",
    408: "the upload stalled for longer than the server's --timeout",
    409: "the job is not in a state that allows this (not done yet, or still running)",
    413: "the body is larger than --max-image-mb / --max-video-mb",
    415: "the content (read from its first bytes) is not an image, or not a video",
    422: "invalid parameters, or an image/video that cannot be decoded or is above --max-pixels",
    429: "too many images waiting, or --queue-size video jobs pending; retry after Retry-After seconds",
    500: "internal error (details are in the server log, never in the answer)",
    504: "the analysis took longer than the server's --timeout",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes, each with the JSON error body."""
    return {code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in (*codes, 500)}


def csv_alternative(description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer that is JSON by default and CSV with ``format=csv``."""
    return {200: {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}}


# /v1/videos parameters: the command line's ranges (mien.options), capped so one request cannot ask for
# unbounded work; checked by check_options (its messages), documented in the OpenAPI schema here
VIDEO_QUERY_CEILINGS = {"every": 10_000, "fps": 1000.0, "start": 864_000.0, "end": 864_000.0, "detect_every": 1000,
                        "smooth": 3600.0, "max_missed": 3600.0}


def _video_default(name: str) -> str:
    return f"default {getattr(VideoOptions(), name):g}"


def _range(name: str) -> dict[str, Any]:
    """``Query`` keywords documenting (not enforcing: :func:`check_options` does) a parameter's range."""
    from mien.options import RANGES

    allowed = RANGES[name]
    schema = {"exclusiveMinimum" if allowed.low_open else "minimum": allowed.low, "maximum": VIDEO_QUERY_CEILINGS[name]}
    return {"json_schema_extra": schema}


def _body_doc(kinds: str) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "description": f"the {kinds}: a multipart form with a field "
                            "'file', or the raw bytes; the type is read from the content, not the header",
                            "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
                                "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
                                        "application/octet-stream": binary}}}


# --------------------------------------------------------------------------- the app
def _check_and_commit_upload(part: Path, target: Path, shown: str, max_pixels: int) -> None:
    """Sniff the uploaded bytes (a video, whatever was declared), refuse frames declared above
    ``max_pixels`` (422, nothing decoded) and move the upload into place."""
    from mien.video.reader import VideoTooLarge, check_video

    with open(part, "rb") as handle:
        require_kind(handle.read(SNIFF_BYTES), "video", shown)
    try:
        check_video(part, max_pixels)
    except VideoTooLarge as error:
        raise HTTPException(422, str(error).replace(str(part), shown)) from None
    except Exception:  # any other problem fails the job, with its reason, when it runs
        pass
    os.replace(part, target)


def attachment_header(filename: str) -> str:
    """``Content-Disposition`` for any file name: an ASCII fallback plus the UTF-8 name (RFC 6266), since
    HTTP headers are Latin-1 and names like ``面接.mp4`` would otherwise fail the response."""
    from urllib.parse import quote

    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI application for ``config`` (models load when it starts, in its lifespan)."""
    config = config or ServeConfig()
    limits = config.limits

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from mien.analyzer import Analyzer
        from mien.serve.jobs import JobStore
        from mien.serve.worker import VideoWorker

        analysis = config.analyzer_config
        if analysis.threads is not None:
            import cv2

            cv2.setNumThreads(analysis.threads)  # the application owns OpenCV's global thread count
        analyzer = Analyzer.from_config(analysis)
        app.state.analyzer = analyzer
        app.state.store = JobStore(config.data_dir)
        app.state.pool = AnalysisPool(analyzer, limits)
        worker = VideoWorker(app.state.store, analyzer, limits.keep_uploads) if config.video_worker else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await anyio.to_thread.run_sync(worker.stop)
            app.state.pool.shutdown()

    app = FastAPI(title="mien", summary="Facial expression analysis: faces, landmarks and expressions.",
                  version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.config = config
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(AnswerOptions, routes=lambda: app.routes)  # inside CORS: preflights are CORS's
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Content-Type", "Authorization"])
    app.add_middleware(Guard, limits=limits)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_offline_docs(app)
    keyed = [Depends(require_key)]

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz", summary="liveness: 200 when the models are loaded")
    def healthz(request: Request) -> dict[str, Any]:
        return {"status": "ok", "version": _version(), "auth": bool(config.api_key)}

    @app.get("/v1/models", dependencies=keyed, summary="registered models and the ones this server runs",
             responses=error_responses(401))
    def models(request: Request) -> dict[str, Any]:
        from mien.registry import list_models, origin, plugin_errors

        analyzer = request.app.state.analyzer
        registered = [{"name": s.name, "task": s.task, "input_size": s.input_size, "size_mb": s.size_mb,
                       "licence": s.licence, "description": s.description, "labels": list(s.labels),
                       "origin": origin(s.name)}
                      for s in list_models()]
        return {"loaded": analyzer.metadata, "registered": registered, "plugin_errors": plugin_errors(),
                "limits": asdict(limits)}

    @app.post("/v1/analyze", dependencies=keyed, openapi_extra=_body_doc("image"),
              summary="faces, landmarks and expressions in one image (rows as in mien's result schema)",
              responses={**csv_alternative("the faces as JSON records, or CSV rows with format=csv"),
                         **error_responses(400, 401, 413, 415, 422, 429, 504)})
    async def analyze(request: Request, format: Literal["json", "csv"] = "json",
                      name: str | None = Query(None, max_length=200, description="file name shown in 'input'")):
        try:
            with anyio.fail_after(limits.request_timeout):
                data, shown = await _read_image(request, name)
                require_kind(data[:SNIFF_BYTES], "image", shown)
                result = await request.app.state.pool.run(data, shown)
        except TimeoutError:
            raise HTTPException(504, f"request took longer than the limit of {limits.request_timeout:g} s") from None
        if format == "csv":
            from mien.io.writers import write_table

            return PlainTextResponse(write_table(result, None, "csv"), media_type="text/csv")
        return JSONResponse({"input": shown, "faces": len(result), "columns": result.columns(),
                             "records": result_records(result), "metadata": result.metadata})

    @app.post("/v1/videos", dependencies=keyed, status_code=202, openapi_extra=_body_doc("video"),
              summary="start a video job; poll its status, then fetch the result",
              responses=error_responses(400, 401, 408, 413, 415, 422, 429))
    async def submit_video(request: Request,
                           every: int | None = Query(None, description="analyse every N-th frame (default: all)",
                                                     **_range("every")),
                           fps: float | None = Query(None, description="at most F frames per second", **_range("fps")),
                           start: float | None = Query(None, description="first second analysed", **_range("start")),
                           end: float | None = Query(None, description="second to stop at", **_range("end")),
                           detect_every: int | None = Query(None, description=_video_default("detect_every"),
                                                            **_range("detect_every")),
                           smooth: float | None = Query(None, description="seconds, 0 = off; "
                                                        + _video_default("smooth"), **_range("smooth")),
                           max_missed: float | None = Query(None, description="seconds a face may be missed; "
                                                            + _video_default("max_missed"), **_range("max_missed")),
                           name: str | None = Query(None, max_length=200, description="file name shown in 'input'")):
        given = {"every": every, "fps": fps, "start": start, "end": end, "detect_every": detect_every,
                 "smooth": smooth, "max_missed": max_missed}
        values = {key: value for key, value in given.items() if value is not None}
        try:  # the command line's ranges and messages, then the server's ceilings
            check_options(**values)
            check_options(ceilings=VIDEO_QUERY_CEILINGS, **values)
            VideoOptions.from_options(**values)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        if fps is not None and every not in (None, 1):
            raise HTTPException(422, "give either every or fps, not both")
        store = request.app.state.store
        job_id = store.new_id()
        # the upload holds a place in the queue before its body is read, so concurrent uploads cannot write
        # more than --queue-size videos to disk; SQLite and file I/O run off the event loop
        if not await anyio.to_thread.run_sync(store.reserve, job_id, limits.max_queued_jobs):
            raise _queue_full()
        target = store.upload_path(job_id)
        part = target.with_name(target.name + ".part")
        try:
            shown = await _receive_video(request, part, name, limits.request_timeout)
            await anyio.to_thread.run_sync(_check_and_commit_upload, part, target, shown, limits.max_pixels)
            options = values  # the VideoOptions keywords given: the rest are the defaults when the job runs
            job = await anyio.to_thread.run_sync(store.create, job_id, shown, options, limits.max_queued_jobs)
            if job is None:
                raise _queue_full()
        except BaseException:
            part.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            with anyio.CancelScope(shield=True):  # also when the client went away (cancellation)
                await anyio.to_thread.run_sync(store.release, job_id)
            raise
        return JSONResponse({**job.public(), "links": job_links(job_id)}, status_code=202,
                            headers={"Location": f"/v1/videos/{job_id}"})

    @app.get("/v1/videos/{job_id}", dependencies=keyed, summary="a video job's status and progress (0..1)",
             responses=error_responses(401, 404, 422))
    def video_status(request: Request, job_id: str) -> dict[str, Any]:
        job = known_job(request, job_id)
        return {**job.public(), "links": job_links(job.id)}

    @app.get("/v1/videos/{job_id}/result", dependencies=keyed,
             summary="a finished job's frame rows and per-track summary",
             responses={**csv_alternative("rows and summary as JSON, or one table as CSV with format=csv"),
                        **error_responses(401, 404, 409, 422)})
    def video_result(request: Request, job_id: str, format: Literal["json", "csv"] = "json",
                     table: Literal["frames", "summary"] = "frames"):
        from mien.schema import SUMMARY_COLUMNS
        from mien.serve.worker import summary_path, table_path
        from mien.workflows.video import video_columns

        job = known_job(request, job_id)
        if job.status != "done":
            detail = f": {job.error}" if job.error else ""
            raise HTTPException(409, f"job is {job.status}{detail}; the result exists once it is done")
        store = request.app.state.store
        frames, summary = table_path(store, job.id), summary_path(store, job.id)
        if format == "csv":
            path, columns = (frames, video_columns(request.app.state.analyzer)) if table == "frames" else (summary, list(SUMMARY_COLUMNS))
            filename = f"{Path(job.name).stem or 'video'}_{table}.csv"
            return StreamingResponse(csv_stream(stored_rows(path, job.name), columns), media_type="text/csv",
                                     headers={"Content-Disposition": attachment_header(filename)})
        return {**job.public(), "columns": video_columns(), "rows": list(stored_rows(frames, job.name)),
                "summary_columns": list(SUMMARY_COLUMNS), "summary": list(stored_rows(summary, job.name))}

    @app.delete("/v1/videos/{job_id}", dependencies=keyed, status_code=204,
                summary="delete a finished job: its row, upload and results",
                responses=error_responses(401, 404, 409, 422))
    def delete_video(request: Request, job_id: str) -> Response:
        job = known_job(request, job_id)
        if not request.app.state.store.delete(job.id):
            raise HTTPException(409, f"job is {job.status}; only a done or failed job can be deleted")
        return Response(status_code=204)

    return app


def add_offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the ``swagger-ui-bundle`` package (served here, no CDN), or a pointer to
    ``/openapi.json`` without it."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        @app.get("/docs", include_in_schema=False)
        def docs_missing() -> PlainTextResponse:
            return PlainTextResponse("The API description is at /openapi.json (pip install swagger-ui-bundle "
                                     "for an interactive page here).")
        return
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html")

    @app.get("/docs/openapi.json", include_in_schema=False)
    def docs_schema() -> JSONResponse:
        # The bundled Swagger UI (4.x) only renders documents that say 3.0; the schema itself is unchanged.
        return JSONResponse({**app.openapi(), "openapi": "3.0.3"})


def _queue_full() -> HTTPException:
    return HTTPException(429, "video queue full: wait for running jobs to finish", headers={"Retry-After": "5"})


async def _read_image(request: Request, name: str | None) -> tuple[bytes, str]:
    if is_multipart(request):
        upload = await uploaded_file(request)
        try:
            return await upload.read(), display_name(name or upload.filename, "<upload>")
        finally:
            await upload.close()
    return await request.body(), display_name(name, "<upload>")


def _create_exclusive(path: Path):
    """A new file opened for writing; refuses to reuse an existing path or to follow a link planted there."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb")


async def _receive_video(request: Request, part: Path, name: str | None, idle_timeout: float) -> str:
    """Stream the video body into ``part`` (the Guard enforces the size limit); returns its shown name."""
    if is_multipart(request):
        upload = await uploaded_file(request)
        try:
            with _create_exclusive(part) as handle:
                await anyio.to_thread.run_sync(shutil.copyfileobj, upload.file, handle, 1024 * 1024)
            return display_name(name or upload.filename, "<upload>")
        finally:
            await upload.close()
    chunks = request.stream().__aiter__()
    with _create_exclusive(part) as handle:
        while True:
            try:
                with anyio.fail_after(idle_timeout):  # a client that stops sending does not hold the slot
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise HTTPException(408, f"upload stalled: nothing received for {idle_timeout:g} s") from None
            handle.write(chunk)
    return display_name(name, "<upload>")


def _version() -> str:
    from mien import __version__

    return __version__


def app_from_env() -> FastAPI:
    """Factory for uvicorn's worker processes: the config comes in the environment (see :func:`serve`).

    In a worker process started by the supervisor of ``--workers N``, a watchdog ends the worker when the
    supervisor is gone (killed with SIGKILL, say), so no orphan keeps serving the port."""
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if supervisor.isdigit() and int(supervisor) != os.getpid():
        start_parent_watchdog(int(supervisor))
    text = os.environ.get(CONFIG_ENV)
    return create_app(ServeConfig.from_json(text) if text else None)


def start_parent_watchdog(parent: int, interval: float = WATCHDOG_SECONDS, grace: float = WATCHDOG_GRACE) -> None:
    """End this process when ``parent`` stops being its parent: SIGTERM to itself first (uvicorn's graceful
    shutdown: a running video job goes back to the queue), then exit after ``grace`` seconds if still alive."""
    import signal
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("the supervisor (pid %d) is gone: this worker (pid %d) stops", parent, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="mien-parent-watchdog", daemon=True).start()


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          log_level: str = "info") -> None:
    """Run the server until interrupted (blocking). ``workers`` > 1 starts that many processes, each with
    its own models and video worker, sharing one job database."""
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    config.data_dir = config.data_dir.resolve()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if host not in ("127.0.0.1", "localhost", "::1") and not config.api_key:
        log.warning("serving on %s without an API key: anyone who can reach it can use it", host)
    os.environ[CONFIG_ENV] = config.to_json()
    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # worker processes watch for its end (app_from_env)
    uvicorn.run("mien.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=15)
