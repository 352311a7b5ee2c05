"""Who is calling: API keys, their roles, and what each role may see.

A key arrives as `Authorization: Bearer <key>` or `X-API-Key: <key>`; its
SHA-256 is looked up in storage, and what was found is remembered for a few
seconds so that a busy client does not cost a storage call per request (a
revoked key therefore works for up to `_REMEMBER_SECONDS` more on API
processes other than the one that revoked it).
"""

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from threading import Lock
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from crucible_api.deps import app_state
from crucible_shared import limits
from crucible_shared.ids import new_id
from crucible_shared.schemas.evaluations import Evaluation
from crucible_shared.schemas.keys import ApiKey, ApiKeyCreate, ApiKeyCreated, Role, StoredKey
from crucible_shared.storage_client import StorageClient

_REMEMBER_SECONDS = 10.0
# Recognisable in logs and secret scanners; the rest is 256 random bits.
KEY_PREFIX = "cru_"


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_key(request: ApiKeyCreate, storage: StorageClient) -> ApiKeyCreated:
    """A new key, stored as its hash; the key itself is in the answer only."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    stored = StoredKey(
        id=new_id(),
        name=request.name,
        role=request.role,
        prefix=key[:10],
        max_running=request.max_running,
        max_queued=request.max_queued,
        submissions_per_minute=request.submissions_per_minute,
        created_at=datetime.now(UTC),
        key_sha256=key_sha256(key),
    )
    storage.add_key(stored)
    return ApiKeyCreated(**ApiKey.model_validate(stored.model_dump()).model_dump(), key=key)


class KeyRing:
    """Finds the live key a caller presents, remembering recent answers."""

    def __init__(self, storage: StorageClient) -> None:
        self._storage = storage
        self._remembered: dict[str, tuple[float, StoredKey]] = {}
        self._lock = Lock()

    def find(self, key: str) -> StoredKey | None:
        digest = key_sha256(key)
        now = time.monotonic()
        with self._lock:
            remembered = self._remembered.get(digest)
        if remembered is not None and now - remembered[0] < _REMEMBER_SECONDS:
            found: StoredKey | None = remembered[1]
        else:
            found = self._storage.find_key(digest)
            if found is not None:
                with self._lock:
                    self._remembered[digest] = (now, found)
        return found if found is not None and found.revoked_at is None else None

    def forget(self, key_id: str) -> None:
        with self._lock:
            for digest, (_, key) in list(self._remembered.items()):
                if key.id == key_id:
                    del self._remembered[digest]


# Declared as security schemes, so that the OpenAPI document (and /api/docs'
# Authorize button) says how to send a key.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer cru_…`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

# What every /api route may answer before its own handling.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or one unknown or revoked."},
    403: {"description": "The key's role may not do this."},
}
# What a route with a body may answer before its own handling.
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body could not be parsed (not JSON, or a form)."},
    413: {"description": f"The body exceeds {limits.MAX_REQUEST_BYTES // limits.MIB} MiB."},
}


KeyRingDep = Annotated[KeyRing, app_state("keys")]


def authenticated(
    ring: KeyRingDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_api_key_header)],
) -> StoredKey:
    presented = bearer.credentials if bearer is not None else header
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = ring.find(presented)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="this API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return key


def _role_in(*roles: Role) -> Callable[[StoredKey], StoredKey]:
    def check(key: Annotated[StoredKey, Depends(authenticated)]) -> StoredKey:
        if key.role not in roles:
            allowed = " or ".join(role.value for role in roles)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"a {key.role} key may not do this; it takes an {allowed} key",
            )
        return key

    return check


# Every role reads; researchers only what they submitted (see `owner_scope`).
Reader = Annotated[StoredKey, Depends(authenticated)]
Submitter = Annotated[StoredKey, Depends(_role_in(Role.ADMIN, Role.RESEARCHER))]
Admin = Annotated[StoredKey, Depends(_role_in(Role.ADMIN))]


def owner_scope(caller: StoredKey) -> str | None:
    """The owner a caller's lists are confined to: researchers see their own."""
    return caller.id if caller.role is Role.RESEARCHER else None


def require_visible(caller: StoredKey, evaluation: Evaluation) -> None:
    """Another researcher's evaluation answers as if it did not exist."""
    scope = owner_scope(caller)
    if scope is not None and evaluation.owner != scope:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"evaluation {evaluation.id} not found"
        )
