"""Every setting of every service, read from `CRUCIBLE_*` environment variables.

One class per service; settings that two services share live in a base class
so that both read the same variable. The README's configuration table is
this module, rendered.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crucible_shared import limits


class _CrucibleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_", env_ignore_empty=True, extra="ignore")


class BrokerSettings(_CrucibleSettings):
    broker_url: str = Field(
        default="redis://127.0.0.1:6380/0", description="Redis URL of the Celery broker."
    )


class StorageClientSettings(_CrucibleSettings):
    storage_url: str = Field(
        default="http://127.0.0.1:8001", description="Base URL of the storage service."
    )
    storage_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one call to the storage service."
    )


class ApiSettings(BrokerSettings, StorageClientSettings):
    """api-service."""


class StorageSettings(_CrucibleSettings):
    """storage-service."""

    database_url: str = Field(
        default="sqlite:///.crucible/crucible.db",
        description="SQLAlchemy URL: `postgresql+psycopg://…` in production, SQLite embedded.",
    )


class WorkerSettings(BrokerSettings, StorageClientSettings):
    """celery-worker."""

    executor_url: str = Field(
        default="http://127.0.0.1:8002", description="Base URL of the executor to run on."
    )
    executor_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long to wait for an executor to answer at all."
    )
    max_retries: int = Field(
        default=3, ge=0, description="Retries of a platform fault before the evaluation fails."
    )
    retry_backoff_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles each time, with jitter."
    )


class ExecutorSettings(_CrucibleSettings):
    """executor-service."""

    executor_id: str = Field(default="executor-1", description="Name recorded on evaluations.")
    executor_backend: Literal["process"] = Field(
        default="process", description="Sandbox backend: `process` (bubblewrap)."
    )
    executor_capacity: int = Field(
        default=2, ge=1, description="Evaluations run at once; one more gets 503."
    )
    sandbox_python: Path = Field(
        default=Path("/usr/bin/python3"),
        description="Interpreter inside the sandbox; must live under /usr.",
    )
    output_limit_bytes: int = Field(
        default=limits.DEFAULT_OUTPUT_LIMIT_BYTES, ge=1024, description="Bytes kept per stream."
    )
    cgroup_root: Path = Field(
        default=Path("/sys/fs/cgroup"),
        description="Where cgroup v1 controllers are mounted; without it, rlimits only.",
    )
