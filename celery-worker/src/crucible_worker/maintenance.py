"""Periodic housekeeping that Celery beat schedules (`celery_app.config`)."""

import logging

from crucible_shared.queues import PURGE_DELETED_TASK
from crucible_shared.storage_client import StorageClient
from crucible_worker.celery_app.app import app
from crucible_worker.evaluations import settings

log = logging.getLogger(__name__)


@app.task(name=PURGE_DELETED_TASK, ignore_result=True)
def purge_deleted() -> int:
    """Has storage purge what was deleted longer ago than its retention."""
    storage = StorageClient(settings())
    try:
        purged = storage.purge()
    finally:
        storage.close()
    log.info("purged %d deleted evaluations", purged)
    return purged
