"""`/keys`: API keys as storage keeps them, by hash; the API makes and checks them."""

from fastapi import APIRouter, status

from crucible_shared.schemas.keys import StoredKey
from crucible_storage.routes.deps import StorageDep

router = APIRouter(prefix="/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED)
def add_key(key: StoredKey, storage: StorageDep) -> StoredKey:
    return storage.add_key(key)


@router.get("")
def list_keys(storage: StorageDep) -> list[StoredKey]:
    return storage.keys()


@router.get("/by-hash/{key_sha256}")
def find_key(key_sha256: str, storage: StorageDep) -> StoredKey:
    return storage.key_by_hash(key_sha256)


@router.post("/{key_id}/revoke")
def revoke_key(key_id: str, storage: StorageDep) -> StoredKey:
    return storage.revoke_key(key_id)
