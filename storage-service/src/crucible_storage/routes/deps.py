"""What route functions are handed, as named `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Query, Request

from crucible_shared.limits import LIST_PAGE_SIZE
from crucible_storage.backends.base import StorageBackend


def get_backend(request: Request) -> StorageBackend:
    backend: StorageBackend = request.app.state.backend
    return backend


BackendDep = Annotated[StorageBackend, Depends(get_backend)]
PageSize = Annotated[int, Query(ge=LIST_PAGE_SIZE.minimum, le=LIST_PAGE_SIZE.maximum)]
