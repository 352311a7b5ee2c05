"""The storage service's FastAPI application.

Run it with `uvicorn crucible_storage.app:create_app --factory`.
"""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from crucible_shared.service_auth import ServiceTokenRequired
from crucible_shared.settings import StorageSettings
from crucible_storage.backlog import BacklogFull
from crucible_storage.errors import Conflict, NotFound, RequestRejected
from crucible_storage.routes import batches, dead_letters, evaluations, health, keys
from crucible_storage.wiring import open_storage

_STATUS_CODES: dict[type[Exception], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    RequestRejected: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def create_app(settings: StorageSettings | None = None) -> FastAPI:
    settings = settings or StorageSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_storage(settings) as storage:
            app.state.storage = storage
            yield

    app = FastAPI(title="Crucible storage", lifespan=lifespan)
    app.add_middleware(ServiceTokenRequired, token=settings.service_token)
    app.include_router(evaluations.router)
    app.include_router(batches.router)
    app.include_router(dead_letters.router)
    app.include_router(health.router)
    app.include_router(keys.router)
    for error in _STATUS_CODES:
        app.add_exception_handler(error, _refuse)
    app.add_exception_handler(RequestValidationError, _reject_invalid)
    app.add_exception_handler(BacklogFull, _backlog_full)
    return app


async def _backlog_full(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BacklogFull)
    return JSONResponse(
        {"detail": str(exc)},
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(exc.retry_after_seconds)},
    )


async def _refuse(request: Request, exc: Exception) -> JSONResponse:
    status_code = next(code for base, code in _STATUS_CODES.items() if isinstance(exc, base))
    return JSONResponse({"detail": str(exc)}, status_code=status_code)


class _AsciiJSONResponse(JSONResponse):
    """JSON escaped to ASCII, so that it can quote input that is not Unicode text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


async def _reject_invalid(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler quotes the input back and fails with a 500 on a
    # lone surrogate, which JSON's \u escapes can carry but UTF-8 cannot.
    assert isinstance(exc, RequestValidationError)
    return _AsciiJSONResponse(
        {"detail": jsonable_encoder(exc.errors())},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )
