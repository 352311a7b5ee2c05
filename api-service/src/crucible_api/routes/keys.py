"""`/api/keys`: API key management, for admins."""

from fastapi import APIRouter, status

from crucible_api.auth import BODY_RESPONSES, Admin, KeyRingDep, make_key
from crucible_api.deps import StorageDep
from crucible_shared.schemas.keys import ApiKey, ApiKeyCreate, ApiKeyCreated

router = APIRouter(prefix="/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=BODY_RESPONSES)
def create_key(request: ApiKeyCreate, caller: Admin, storage: StorageDep) -> ApiKeyCreated:
    """A new key; the answer is the only place the key itself ever appears."""
    return make_key(request, storage)


@router.get("")
def list_keys(caller: Admin, storage: StorageDep) -> list[ApiKey]:
    return [ApiKey.model_validate(key.model_dump()) for key in storage.list_keys()]


@router.delete("/{key_id}", responses={404: {"description": "No key has this id."}})
def revoke_key(key_id: str, caller: Admin, storage: StorageDep, ring: KeyRingDep) -> ApiKey:
    """Revoked at once on this API process, within seconds on the others."""
    revoked = storage.revoke_key(key_id)
    ring.forget(key_id)
    return ApiKey.model_validate(revoked.model_dump())
