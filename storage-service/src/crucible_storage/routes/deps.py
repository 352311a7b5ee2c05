"""What route functions are handed, as named `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Query, Request

from crucible_shared.limits import LIST_PAGE_SIZE
from crucible_storage.service import Storage


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


StorageDep = Annotated[Storage, Depends(get_storage)]
PageSize = Annotated[int, Query(ge=LIST_PAGE_SIZE.minimum, le=LIST_PAGE_SIZE.maximum)]
