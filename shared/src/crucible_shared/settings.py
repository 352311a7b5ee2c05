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


class ServiceTokenSettings(_CrucibleSettings):
    service_token: str | None = Field(
        default=None,
        description="Shared secret the services present to storage and executors, which refuse "
        "calls without it; unset, they accept any (start-platform.sh always sets one).",
    )


class BrokerSettings(_CrucibleSettings):
    broker_url: str = Field(
        default="redis://127.0.0.1:6380/0", description="Redis URL of the Celery broker."
    )


class StorageClientSettings(ServiceTokenSettings):
    storage_url: str = Field(
        default="http://127.0.0.1:8001", description="Base URL of the storage service."
    )
    storage_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one call to the storage service."
    )


class PoolSettings(_CrucibleSettings):
    pool_redis_url: str = Field(
        default="redis://127.0.0.1:6380/1",
        description="Redis URL of the executor pool (registrations, leases, cancellations).",
    )
    executor_heartbeat_ttl_seconds: float = Field(
        default=10.0, gt=0, description="An executor silent this long leaves the pool."
    )
    lease_ttl_seconds: float = Field(
        default=15.0, gt=0, description="A lease not renewed this long gives its slot back."
    )
    worker_heartbeat_ttl_seconds: float = Field(
        default=15.0, gt=0, description="A worker silent this long no longer counts as online."
    )


class CacheSettings(_CrucibleSettings):
    cache_redis_url: str = Field(
        default="redis://127.0.0.1:6380/2",
        description="Redis URL of storage's read cache and the evaluations' live-update channels.",
    )


class ApiSettings(BrokerSettings, StorageClientSettings, PoolSettings, CacheSettings):
    """api-service."""


class StorageSettings(CacheSettings, ServiceTokenSettings):
    """storage-service."""

    storage_backend: Literal["database", "file", "s3", "memory"] = Field(
        default="database",
        description="Where evaluations live: `database` (the URL below), `file` (JSON documents "
        "in the data directory), `s3` (objects in the bucket) or `memory` (tests only: lost on "
        "exit). docs/storage.md compares them.",
    )
    database_url: str = Field(
        default="sqlite:///.crucible/crucible.db",
        description="SQLAlchemy URL: `postgresql+psycopg://…` in production, SQLite embedded.",
    )
    blob_backend: Literal["file", "s3"] = Field(
        default="file",
        description="Where the `database` backend keeps outputs above the threshold; the `file` "
        "and `s3` backends keep them beside their documents.",
    )
    blob_threshold_bytes: int = Field(
        default=100 * limits.KIB,
        ge=1024,
        description="An output larger than this is kept as a blob; the evaluation holds a "
        "preview of this size.",
    )
    data_dir: Path = Field(
        default=Path(".crucible/storage"),
        description="Directory of the `file` backend and of file blobs.",
    )
    s3_bucket: str = Field(default="crucible", description="Bucket of the `s3` backend and blobs.")
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3 API endpoint (MinIO, Ceph…); AWS when unset. Credentials come from "
        "boto3's usual sources (`AWS_ACCESS_KEY_ID`…).",
    )
    s3_region: str = Field(default="us-east-1", description="Region of the bucket.")
    cache_ttl_seconds: int = Field(
        default=300, ge=1, description="How long an evaluation stays in the read cache."
    )
    retention_days: float = Field(
        default=30.0,
        ge=0,
        description="A deleted evaluation is purged, with its blobs, this long after deletion.",
    )


class WorkerSettings(BrokerSettings, StorageClientSettings, PoolSettings):
    """celery-worker."""

    executor_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long to wait for an executor to answer at all."
    )
    max_retries: int = Field(
        default=3, ge=0, description="Retries of a platform fault before the evaluation fails."
    )
    retry_backoff_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles each time, with jitter."
    )
    storage_retry_seconds: float = Field(
        default=60.0, ge=0, description="How long a worker keeps retrying a write to storage."
    )
    worker_metrics_port: int = Field(
        default=9808, description="Port of the worker's Prometheus /metrics (0: none)."
    )
    purge_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often Celery beat asks storage to purge old deleted evaluations.",
    )
    requeue_unqueued_after_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A `queued` evaluation that is in no ready queue (its submitter or its "
        "worker was lost between storage and Redis) is queued again after this long.",
    )
    reaper_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker looks for evaluations left orphaned."
    )


class ExecutorSettings(PoolSettings, ServiceTokenSettings):
    """executor-service."""

    executor_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Where workers reach this executor; registered in the pool.",
    )
    executor_id: str = Field(default="executor-1", description="Name recorded on evaluations.")
    executor_backend: Literal["process", "docker"] = Field(
        default="process",
        description="Sandbox backend: `process` (bubblewrap) or `docker` (a container per run, "
        "through the Docker Engine API at `DOCKER_HOST`: Docker or Podman).",
    )
    executor_capacity: int = Field(
        default=2, ge=1, le=1000, description="Evaluations run at once; one more gets 503."
    )
    sandbox_python: Path = Field(
        default=Path("/usr/bin/python3"),
        description="Interpreter inside the sandbox; must live under /usr.",
    )
    output_limit_bytes: int = Field(
        default=limits.DEFAULT_OUTPUT_LIMIT_BYTES, ge=1024, description="Bytes kept per stream."
    )
    sandbox_image_python: str = Field(
        default="crucible/executor-python:latest",
        description="docker backend: image for `image: python` (executor-service/images/python).",
    )
    sandbox_image_ml: str = Field(
        default="crucible/executor-ml:latest",
        description="docker backend: image for `image: ml` (numpy, pandas, sklearn, scipy).",
    )
    cgroup_root: Path = Field(
        default=Path("/sys/fs/cgroup"),
        description="process backend: where cgroup v1 controllers are mounted, or the cgroup v2 "
        "hierarchy or a subtree of it delegated to the executor; without it, rlimits only.",
    )
    sandbox_uid_base: int = Field(
        # Far above login users and the subordinate ranges (/etc/subuid) tools allocate.
        default=1_500_000_000,
        ge=1000,
        le=2**31 - 1 - 1000 * 1000,
        description="Sandboxes run as uid (and gid) base + 1000 × block + slot: each executor "
        "of a host holds a block of its own (a lock in uid_block_locks), so no two "
        "concurrent runs share a uid's host-wide budgets. The range must belong to no user.",
    )
    uid_block_locks: Path = Field(
        default=Path("/run/crucible/uid-blocks"),
        description="A writable directory every executor whose sandboxes share a kernel "
        "shares too (Compose: a volume), holding one lock file per uid block.",
    )
