"""The executor's FastAPI app: `uvicorn crucible_executor.app:create_app --factory`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from crucible_executor.capacity import Capacity
from crucible_executor.pool_membership import pool_membership
from crucible_executor.routes import execute, health, metrics
from crucible_executor.runs import RunningEvaluations
from crucible_executor.sandbox.backends import open_backend
from crucible_shared.pool.leases import ExecutorPool
from crucible_shared.redis_client import bounded_redis
from crucible_shared.service_auth import ServiceTokenRequired
from crucible_shared.settings import ExecutorSettings


def create_app(settings: ExecutorSettings | None = None) -> FastAPI:
    settings = settings or ExecutorSettings()
    _log_runs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = bounded_redis(settings.pool_redis_url)
        runs = RunningEvaluations(ExecutorPool(redis, settings.lease_ttl_seconds))
        with open_backend(settings) as backend:
            app.state.settings = settings
            app.state.backend = backend
            app.state.capacity = Capacity(settings.executor_capacity)
            app.state.runs = runs
            async with pool_membership(settings, runs, redis):
                yield
        redis.close()

    app = FastAPI(title="Crucible executor", lifespan=lifespan)
    app.add_middleware(ServiceTokenRequired, token=settings.service_token)
    app.include_router(execute.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app


def _log_runs() -> None:
    """A line per run started and ended, with its evaluation's id: what an
    operator (and the tests that count runs) reads in the executor's log."""
    package = logging.getLogger("crucible_executor")
    if not package.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        package.addHandler(handler)
        package.setLevel(logging.INFO)
