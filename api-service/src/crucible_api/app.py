"""The API's application: routes under /api, health at the root."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from crucible_api.auth import AUTH_RESPONSES, KeyRing
from crucible_api.body_limit import BodySizeLimit
from crucible_api.fleet import Fleet
from crucible_api.gzip_body import GzipBody
from crucible_api.query_check import declared_query_only
from crucible_api.queueing import EvaluationQueue
from crucible_api.quotas import Quotas
from crucible_api.routes import (
    batches,
    dead_letters,
    docs,
    evaluations,
    health,
    keys,
    metrics,
    queue,
    statistics,
    stream,
)
from crucible_api.updates import EvaluationUpdates
from crucible_shared.settings import ApiSettings
from crucible_shared.storage_client import (
    EvaluationNotFound,
    RequestRejected,
    StorageClient,
    StorageError,
    TransitionRefused,
)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.storage = StorageClient(settings)
        app.state.queue = EvaluationQueue(settings)
        app.state.fleet = Fleet(settings)
        app.state.updates = EvaluationUpdates(settings)
        app.state.keys = KeyRing(app.state.storage)
        app.state.quotas = Quotas(settings.cache_redis_url)
        yield
        app.state.storage.close()
        app.state.queue.close()
        app.state.fleet.close()
        app.state.quotas.close()
        await app.state.updates.close()

    app = FastAPI(
        title="Crucible",
        summary="Runs untrusted Python in sandboxes with hard limits.",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        # routes/docs.py serves the page, without a CDN.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    # Added last, so outermost: the wire's bytes are counted before any are inflated.
    app.add_middleware(GzipBody)
    app.add_middleware(BodySizeLimit)
    app.include_router(health.router)
    docs.add_docs(app)
    app.include_router(metrics.router)
    for router in (
        evaluations.router,
        stream.router,
        batches.router,
        queue.router,
        dead_letters.router,
        statistics.router,
        keys.router,
    ):
        app.include_router(
            router,
            prefix="/api",
            responses=AUTH_RESPONSES,
            dependencies=[Depends(declared_query_only)],
        )
    _add_storage_error_handlers(app)
    return app


def _add_storage_error_handlers(app: FastAPI) -> None:
    # Order matters: the specific StorageError subclasses first.
    statuses: list[tuple[type[StorageError], int]] = [
        (EvaluationNotFound, 404),
        (TransitionRefused, 409),
        (RequestRejected, 422),
        (StorageError, 503),
    ]
    for error_type, code in statuses:

        def handler(_: Request, exc: Exception, code: int = code) -> JSONResponse:
            detail = str(exc) if code != 503 else f"storage service unavailable: {exc}"
            return JSONResponse(status_code=code, content={"detail": detail})

        app.add_exception_handler(error_type, handler)
