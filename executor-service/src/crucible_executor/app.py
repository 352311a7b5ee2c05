"""The executor's FastAPI app: `uvicorn crucible_executor.app:create_app --factory`."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from crucible_executor.capacity import Capacity, UidBlock
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
    close_inherited_descriptors()
    # uvicorn configures only its own loggers; without this the executor's
    # (which cgroup it uses, cancellations, sandboxes that failed) say nothing.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = bounded_redis(settings.pool_redis_url)
        # A lease renewed at a beat is sure to hold for its TTL less a beat's interval.
        beat = min(settings.executor_heartbeat_ttl_seconds, settings.lease_ttl_seconds) / 3
        runs = RunningEvaluations(
            ExecutorPool(redis, settings.lease_ttl_seconds), settings.lease_ttl_seconds - beat
        )
        with open_backend(settings) as backend:
            app.state.settings = settings
            app.state.backend = backend
            uids = UidBlock(settings.sandbox_uid_base, settings.uid_block_locks)
            app.state.capacity = Capacity(settings.executor_capacity, uids.first_uid)
            app.state.runs = runs
            try:
                async with pool_membership(settings, runs, redis, cgroup=backend.cgroup):
                    yield
            finally:
                uids.close()
        redis.close()

    app = FastAPI(title="Crucible executor", lifespan=lifespan)
    app.add_middleware(ServiceTokenRequired, token=settings.service_token)
    app.include_router(execute.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app


def close_inherited_descriptors() -> None:
    """Mark every descriptor past stderr close-on-exec, so no sandbox inherits one.

    What the executor was started with (a supervisor's sockets, a shell's
    redirections) would otherwise reach every program: uvloop's subprocesses
    do not honour `close_fds`.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            # The listing's own descriptor is closed by the time it is reached.
            with suppress(OSError):
                os.set_inheritable(fd, False)
