"""FastAPI service: ``GET /health``, ``GET /models``, ``POST /generate`` and the web page.

Generation and encoding run on the service's own generation threads (``workers`` of them), so
the event loop keeps answering while segments are made; torch releases the GIL inside its
kernels. Models are loaded once, when the app starts, on those same threads.

Why threads of their own, and why the models load there: torch's intra-op parallelism is
OpenMP, and every thread that runs a parallel region gets its own OpenMP team. Once two teams
exist on a 2-core machine (the event loop's, from loading the weights, and a worker's), libgomp
stops spin-waiting between regions and each of the generator's ~20 parallel ops waits for a
sleeping thread to wake: a 100-segment request took 3.7 ms on a worker thread against 2.2 ms
when no other thread had run torch (bench/RESULTS.md). With ``workers: 1`` only one team
ever exists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from ecg_synth.generation.core import MAX_SEED, GenerationError, GeneratorHandle
from ecg_synth.serve.formats import encode
from ecg_synth.serve.registry import Registry, discover
from ecg_synth.serve.schemas import GenerateRequest, ServeSettings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes``, judged by its
    Content-Length or, for a chunked body, by reading it (at most ``max_bytes`` + one chunk)
    before the app sees it. Bodies here are small JSON objects, so buffering them is cheap."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send) -> None:
        body = json.dumps(
            {
                "detail": f"request body larger than the limit of {self.max_bytes} "
                "bytes (max_body_bytes)"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                return await self._reject(send)
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self._reject(send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _field_error(field: str, msg: str, status: int = 422) -> HTTPException:
    """The shape of FastAPI's own validation errors, so clients parse one format."""
    return HTTPException(
        status, detail=[{"loc": ["body", field], "msg": msg, "type": "value_error"}]
    )


def _timed(job):
    """``(job(), seconds it took)``, timed on the thread that runs it (queueing excluded)."""
    start = time.perf_counter()
    return job(), time.perf_counter() - start


def create_app(settings: ServeSettings, registry: Registry | None = None) -> FastAPI:
    """The service. ``registry``: models already loaded (tests); else loaded from
    ``settings.model_dir`` / ``settings.models`` at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.registry is None:
            app.state.registry = await _on_generation_thread(
                partial(discover, settings.model_dir, settings.models)
            )
        yield  # the executor outlives a lifespan: an app may be started again (tests do)

    app = FastAPI(
        title="ecg_synth",
        summary="Synthetic ECG segments from trained generators",
        lifespan=lifespan,
    )
    app.state.registry = registry
    executor = ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="ecg-generate")

    async def _on_generation_thread(job):
        return await asyncio.get_running_loop().run_in_executor(executor, job)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def models() -> dict[str, GeneratorHandle]:
        return app.state.registry.models

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "models": sorted(models()),
            "skipped": app.state.registry.skipped,
            "limits": {
                "max_n": settings.max_n,
                "max_body_bytes": settings.max_body_bytes,
                "max_seed": MAX_SEED,
            },
        }

    @app.get("/models")
    async def list_models() -> list[dict]:
        return [h.describe() for _, h in sorted(models().items())]

    @app.post("/generate")
    async def generate(req: GenerateRequest) -> Response:
        available = models()
        name = req.model or (next(iter(sorted(available))) if len(available) == 1 else None)
        if name is None:
            raise _field_error(
                "model", f"several models are loaded; choose one of {sorted(available)}"
            )
        if name not in available:
            raise HTTPException(
                404, detail=f"unknown model {name!r}; available: {sorted(available)}"
            )
        if req.n > settings.max_n:
            raise _field_error(
                "n",
                f"n={req.n} is over this server's limit of {settings.max_n}"
                " segments per request (max_n); use generate.py for more",
            )
        seed = req.seed if req.seed is not None else secrets.randbelow(2**32)
        job = partial(
            encode,
            available[name],
            req.format,
            req.n,
            req.class_,
            req.subject,
            seed,
            settings,
            req.preview,
        )
        try:
            (body, media, headers), seconds = await _on_generation_thread(partial(_timed, job))
        except GenerationError as e:
            raise _field_error(e.field or "body", str(e)) from e
        # W3C Server-Timing: browsers' devtools and bench/bench_serve.py split a request's
        # latency into the generation (with encoding) and everything around it.
        headers["Server-Timing"] = f"generate;dur={seconds * 1e3:.3f}"
        return Response(body, media_type=media, headers=headers)

    return app
