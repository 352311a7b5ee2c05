"""Builds the storage service's `Storage` from its settings."""

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta

from crucible_shared.settings import StorageSettings
from crucible_storage.backends.base import StorageBackend
from crucible_storage.backends.database import DatabaseBackend
from crucible_storage.backends.documents import DocumentBackend
from crucible_storage.backlog import Backlog
from crucible_storage.db.engine import create_database_engine
from crucible_storage.migrate import upgrade_to_head
from crucible_storage.objects.base import ObjectStore
from crucible_storage.objects.claim import claim_directory
from crucible_storage.objects.files import FileObjects
from crucible_storage.objects.memory import MemoryObjects
from crucible_storage.objects.s3 import S3Objects
from crucible_storage.redis_link import RedisLink
from crucible_storage.service import Storage


@contextmanager
def open_storage(settings: StorageSettings) -> Iterator[Storage]:
    with ExitStack() as resources:
        backend: StorageBackend
        if settings.storage_backend == "database":
            engine = create_database_engine(settings.database_url)
            resources.callback(engine.dispose)
            upgrade_to_head(engine)
            backend = DatabaseBackend(engine)
            blobs = _object_store(settings, settings.blob_backend)
            blob_backend: str = settings.blob_backend
        else:
            if settings.storage_backend == "file":
                # Its index lives in this process: no other may write there.
                resources.callback(os.close, claim_directory(settings.data_dir))
            blobs = _object_store(settings, settings.storage_backend)
            backend = DocumentBackend(settings.storage_backend, blobs)
            blob_backend = settings.storage_backend
        redis = RedisLink(settings.cache_redis_url, ttl_seconds=settings.cache_ttl_seconds)
        resources.callback(redis.close)
        backlog = Backlog(settings.cache_redis_url)
        resources.callback(backlog.close)
        yield Storage(
            backend,
            blobs=blobs,
            blob_backend=blob_backend,
            blob_threshold_bytes=settings.blob_threshold_bytes,
            retention=timedelta(days=settings.retention_days),
            redis=redis,
            backlog=backlog,
        )


def _object_store(settings: StorageSettings, kind: str) -> ObjectStore:
    if kind == "file":
        return FileObjects(settings.data_dir)
    if kind == "s3":
        objects = S3Objects(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
        objects.ensure_bucket()
        return objects
    return MemoryObjects()
