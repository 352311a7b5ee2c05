"""`/api/statistics` and `/api/storage`: how the platform and its storage are doing."""

from fastapi import APIRouter

from crucible_api.auth import Admin, Reader
from crucible_api.deps import StorageDep
from crucible_shared.schemas.statistics import StatisticsReport
from crucible_shared.schemas.storage import StorageInfo

router = APIRouter(tags=["statistics"])


@router.get("/statistics")
def read_statistics(caller: Reader, storage: StorageDep) -> StatisticsReport:
    """Counts by status and outcome, queue wait and run time percentiles and
    throughput over the last hour, overall and per priority."""
    return storage.statistics()


@router.get("/storage")
def read_storage(caller: Admin, storage: StorageDep) -> StorageInfo:
    """Which storage backends are in use, and how much they hold."""
    return storage.storage_info()
