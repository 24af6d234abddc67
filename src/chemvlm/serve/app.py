"""The FastAPI app: /v1/chat/completions (plain and SSE), /v1/models, /health, the document routes
(serve.document_api) and the web page."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from chemvlm.engines import Engine, EngineError, Query
from chemvlm.record import Prediction
from chemvlm.serve import errors
from chemvlm.serve.backend import PREDICT, Backend, StreamJob
from chemvlm.serve.batcher import Batcher, Busy, Closed
from chemvlm.serve.chemistry import chemistry
from chemvlm.serve.config import ServeConfig
from chemvlm.serve.document_api import install as install_documents
from chemvlm.serve.errors import APIError
from chemvlm.serve.images import read_images
from chemvlm.serve.limits import BodyLimit
from chemvlm.serve.request import ChatRequest, read_turn

STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere; images it shows are data: or blob: URLs.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'"}


def pixels(payload: Query | StreamJob) -> int:
    """What a queued request will cost decoded: its images' pixels, read from their headers."""
    query = payload.query if isinstance(payload, StreamJob) else payload
    return sum(image.size[0] * image.size[1] for image in query.images)


def create_app(engine: Engine, config: ServeConfig | None = None) -> FastAPI:
    config = config or ServeConfig()
    backend = Backend(engine, config.max_pixels)
    batcher = Batcher(backend.handle, config.batch_size or engine.batch_size, config.batch_wait, config.queue_size,
                      config.queue_timeout, weigh=pixels,
                      max_weight=config.batch_pixels or config.max_pixels * max(1, config.max_images))
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(_):
        batcher.start()
        yield
        await batcher.stop()
        documents.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="chemvlm", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher, app.state.config = batcher, config
    errors.install(app)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)

    def require_key(request: Request) -> None:
        if config.api_key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), config.api_key.encode()):
            raise APIError(401, "missing or wrong API key: send the header 'Authorization: Bearer KEY'")

    def require_json(request: Request) -> None:
        # Only JSON with its header: a body without one could come from any web page (a form, or a fetch
        # that needs no CORS preflight), and this server has no key by default.
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "application/json" and not kind.endswith("+json"):
            raise APIError(415, f"Content-Type: send the body as JSON with the header 'Content-Type: application/json' "
                                f"(got {kind or 'no Content-Type'})", "Content-Type")

    def submit(payload, key, alone=False) -> asyncio.Future:
        try:
            return batcher.submit(payload, key, alone)
        except Busy as err:
            raise failure(err) from None
        except Closed as err:
            raise APIError(503, f"server unavailable: {err}", retry_after=5) from None

    def failure(err: Exception) -> APIError:
        if isinstance(err, APIError):
            return err
        if isinstance(err, Busy):
            return APIError(429, f"server busy: {err}", retry_after=err.retry_after)
        if isinstance(err, (EngineError, Closed)):
            return APIError(503, f"engine unavailable: {err}", retry_after=5)
        return APIError(500, f"engine failed: {type(err).__name__}: {err}")

    async def answered(future: asyncio.Future, request: Request):
        """The job's result, or, when the client disconnects first, the job withdrawn (never computed if
        it was still queued)."""
        async def disconnected():
            while (await request.receive())["type"] != "http.disconnect":  # the body is read: only this is left
                pass

        gone = asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({future, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not future.done():
            future.cancel()
            raise APIError(499, "the client closed the connection")  # nobody is left to read it
        return future.result()

    def completion_id() -> str:
        return "chatcmpl-" + uuid.uuid4().hex[:24]

    @app.get("/health")
    def health():
        return {"status": "ok", "model": config.model_name, "engine": engine.name, "batch_size": batcher.batch_size,
                "queued": len(batcher.pending), "queue_size": batcher.queue_size, "in_engine": batcher.in_engine,
                "queue_timeout": config.queue_timeout, "expected_wait": round(batcher.expected_wait(), 2),
                **batcher.stats.to_dict()}

    @app.get("/v1/models", dependencies=[Depends(require_key)])
    def models():
        return {"object": "list", "data": [{"id": config.model_name, "object": "model", "created": started,
                                            "owned_by": "chemvlm"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(require_key), Depends(require_json)])
    async def chat_completions(body: ChatRequest, request: Request):
        turn = read_turn(body, config)
        # encoded bytes and header checks only: pixels are decoded in the engine's batch, once admitted
        images = await run_in_threadpool(read_images, turn.images, config)
        query = Query(id=completion_id(), images=images, question=turn.question, history=turn.history,
                      max_tokens=turn.max_tokens)
        if body.stream:
            return _stream(query)
        future = submit(query, PREDICT)
        try:
            prediction: Prediction = await answered(future, request)
        except Exception as err:
            raise failure(err) from None
        if prediction.error:
            raise APIError(422, f"the engine could not answer: {prediction.error}")
        return {"id": query.id, "object": "chat.completion", "created": int(time.time()), "model": config.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": prediction.answer},
                             "finish_reason": "stop"}],
                "chemistry": chemistry(prediction)}

    def _stream(query: Query) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()
        if backend.streams_tokens:
            job = StreamJob(query, lambda piece: loop.call_soon_threadsafe(pieces.put_nowait, piece))
            future = submit(job, ("stream", query.id), alone=True)
        else:  # the engine's stream is predict's answer in one piece: batched with the plain requests
            job, future = None, submit(query, PREDICT)
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # read even if the client left
        created = int(time.time())

        def chunk(delta: dict, finish=None, **extra) -> str:
            body = {"id": query.id, "object": "chat.completion.chunk", "created": created, "model": config.model_name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""})
            try:
                while not future.done() or not pieces.empty():
                    getter = asyncio.ensure_future(pieces.get())
                    done, _ = await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
                    if getter in done:
                        yield chunk({"content": getter.result()})
                    else:
                        getter.cancel()
                try:
                    prediction = future.result()
                except Exception as err:
                    yield f"data: {json.dumps(failure(err).body())}\n\n"
                    return
                if prediction.error:
                    yield f"data: {json.dumps(APIError(422, f'the engine could not answer: {prediction.error}').body())}\n\n"
                    return
                if job is None:  # a whole answer from an engine that does not stream
                    yield chunk({"content": prediction.answer})
                yield chunk({}, "stop", chemistry=chemistry(prediction))
                yield "data: [DONE]\n\n"
            finally:
                if not future.done():  # the client left: withdraw the job, or stop generating for nobody
                    future.cancel()
                    if job is not None:
                        job.cancelled.set()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    documents = app.state.documents = install_documents(app, engine, config, submit, failure, answered,
                                                        require_key, require_json)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
