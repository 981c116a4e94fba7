"""The HTTP API around one candidate (FastAPI).

    POST /v1/predict   {"inputs": ["text", ...]}  or  {"inputs": [{"field": ...}, ...]}
                       -> {"predictions": [{"output", "probabilities"}], "candidate", ...}
    GET  /health       liveness and queue depth
    GET  /info         the candidate, its measured metrics and cost (and data version)
    POST /v1/reload    serve the folder's champion now, if `bakeoff update` promoted another

Bad requests get a 4xx with a message that says what to change; a full queue gets 503 with
Retry-After; a request the model fails on gets its own 500 (the others in its micro-batch are
answered). With a bearer token configured, every path but /health needs it — checked before
the body is read — and the interactive docs are off. Serving a run folder, the server follows
its champion (serve/follow.py): a promoted challenger replaces it between micro-batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bakeoff.errors import ProblemsError
from bakeoff.serve.batcher import MicroBatcher, QueueFull
from bakeoff.serve.follow import Follower, Live
from bakeoff.strategy import Candidate, Prediction
from bakeoff.task.example import Example
from bakeoff.task.load import RawRow, ReadResult
from bakeoff.task.spec import TaskSpec
from bakeoff.task.validate import input_examples


@dataclass(frozen=True)
class ServeSettings:
    max_batch: int = 32  # rows per model call
    max_queue: int = 256  # rows waiting; more -> 503
    batch_wait_ms: float = 5.0
    max_inputs: int = 64  # rows per request
    max_input_chars: int = 4000
    token: str | None = None  # bearer token; None = no auth
    follow_seconds: float | None = None  # check the folder's champion this often (None: never)
    device: str = "auto"  # where candidates load: auto (a GPU when there is one) | cpu | cuda:N


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str | dict[str, Any]] = Field(min_length=1)


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        self.status, self.message, self.headers = status, message, headers or {}


MAX_LISTED = 10  # problems named in one 422 answer (every one, up to this many)


def _examples(task: TaskSpec, inputs: list[str | dict[str, Any]]) -> list[Example]:
    field = task.fields.input
    rows = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            if field is None:
                raise HTTPError(
                    422,
                    f"inputs[{i}]: this task builds its input from several fields "
                    "(input_template); send objects with those fields, not strings",
                )
            item = {field: item}
        rows.append(RawRow("request", i, item))
    try:
        return input_examples(ReadResult(rows, []), task)
    except ProblemsError as exc:
        listed = [f"inputs[{p.line}].{p.field}: {p.message}" for p in exc.problems[:MAX_LISTED]]
        raise HTTPError(422, "; ".join(listed)) from None


def create_app(
    candidate: Candidate,
    task: TaskSpec,
    info: dict[str, Any],
    settings: ServeSettings,
    follow: Path | None = None,
    allow_remote: bool = False,
) -> FastAPI:
    """`follow`: the run folder whose champion to follow (None: the candidate is pinned)."""
    pinned = Live(candidate, info, task)
    follower = (
        Follower(follow, pinned, allow_remote, settings.device) if follow is not None else None
    )

    def live() -> Live:
        return follower.live if follower is not None else pinned

    def answer(examples: Sequence[Example]) -> list[tuple[Prediction, str | None]]:
        now = live()  # read once: the whole batch is answered by one candidate
        name = now.info.get("candidate")
        return [(p, name) for p in now.candidate.predict(examples)]

    batcher = MicroBatcher(answer, settings.max_batch, settings.max_queue, settings.batch_wait_ms)
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bakeoff-reload")

    async def check() -> bool:
        assert follower is not None
        return await asyncio.get_running_loop().run_in_executor(loader, follower.check)

    async def watch(every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        watcher = None
        if follower is not None and settings.follow_seconds:
            watcher = asyncio.get_running_loop().create_task(watch(settings.follow_seconds))
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await batcher.stop()
        loader.shutdown(wait=True)

    docs = {} if settings.token is None else {"docs_url": None, "redoc_url": None}
    app = FastAPI(title="bakeoff", lifespan=lifespan, **docs)  # type: ignore[arg-type]

    @app.exception_handler(HTTPError)
    async def http_error(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        listed = []
        for err in exc.errors()[:MAX_LISTED]:
            where = ".".join(str(x) for x in err["loc"] if x != "body")
            listed.append(f"{where or 'body'}: {err['msg']}")
        message = f'{"; ".join(listed)} — send {{"inputs": ["text", ...]}}'
        return JSONResponse({"error": message}, 422)

    def authorized(request: Request) -> bool:
        if settings.token is None:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {settings.token}".encode())

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        """Before anything reads the body: a request without the token costs no parsing."""
        if request.url.path != "/health" and not authorized(request):
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await call_next(request)

    @app.post("/v1/predict")
    async def predict(body: PredictRequest) -> dict[str, Any]:
        if len(body.inputs) > settings.max_inputs:
            raise HTTPError(
                413, f"{len(body.inputs)} inputs; send at most {settings.max_inputs} per request"
            )
        examples = _examples(task, body.inputs)
        for i, ex in enumerate(examples):
            if len(ex.text) > settings.max_input_chars:
                raise HTTPError(
                    413,
                    f"inputs[{i}]: {len(ex.text)} characters; the limit is "
                    f"{settings.max_input_chars} — shorten it",
                )
        start = time.perf_counter()
        try:
            answered = await batcher.submit(examples)
        except QueueFull as exc:
            raise HTTPError(503, f"busy: {exc}; retry shortly", {"Retry-After": "1"}) from None
        except Exception as exc:  # the model failed on this request alone (see batcher)
            raise HTTPError(500, f"the model failed on this request: {exc}") from None
        return {
            "candidate": answered[0][1],  # a request is never split across batches
            "predictions": [
                {"output": p.output, "probabilities": p.probabilities} for p, _ in answered
            ],
            "latency_ms": 1000 * (time.perf_counter() - start),
        }

    @app.post("/v1/reload")
    async def reload() -> dict[str, Any]:
        if follower is None:
            raise HTTPError(
                409,
                "this server serves a pinned candidate (an artifact folder or --candidate); "
                "serve the run folder without --candidate to follow its champion",
            )
        swapped = await check()
        if follower.last_error is not None:
            raise HTTPError(500, f"still serving the previous champion: {follower.last_error}")
        return {"reloaded": swapped, **_identity(follower.live.info)}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "queued_rows": batcher.queued_rows}

    @app.get("/info")
    async def about() -> dict[str, Any]:
        follow = (
            {"follow": follower.status(settings.follow_seconds)} if follower is not None else {}
        )
        return {
            **live().info,
            **follow,
            "task": {"name": task.name, "kind": task.kind, "labels": live().task.label_names},
            "limits": {
                "max_inputs": settings.max_inputs,
                "max_input_chars": settings.max_input_chars,
                "max_queue": settings.max_queue,
            },
            "served": {"batches": batcher.batches, "rows": batcher.rows},
        }

    return app


def _identity(info: dict[str, Any]) -> dict[str, Any]:
    return {k: info.get(k) for k in ("candidate", "run", "data_version")}
