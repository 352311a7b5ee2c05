"""API keys: who calls the API, with which role and quotas.

A key is shown once, when it is made; storage keeps only its SHA-256 (a key
is 256 random bits, so a fast hash is enough: there is nothing to guess).
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from crucible_shared import limits
from crucible_shared.schemas.fields import Bounded


class Role(StrEnum):
    ADMIN = "admin"  # everything, and key management
    RESEARCHER = "researcher"  # submits; sees and cancels only their own evaluations
    VIEWER = "viewer"  # reads everything, changes nothing


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # ASCII spelled out: `\w` is Unicode to pydantic and ASCII to JSON Schema,
    # so the document and the API would disagree about "José".
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            pattern=r"^[A-Za-z0-9_ .@-]+$",
            description="ASCII letters and digits, space, and _ . @ -",
        ),
    ]
    role: Role
    max_running: Annotated[
        int,
        Bounded(limits.MAX_RUNNING_PER_KEY, "Evaluations running at once."),
    ] = limits.MAX_RUNNING_PER_KEY.default
    max_queued: Annotated[
        int, Bounded(limits.MAX_QUEUED_PER_KEY, "Evaluations accepted and not yet finished.")
    ] = limits.MAX_QUEUED_PER_KEY.default
    submissions_per_minute: Annotated[int, Bounded(limits.SUBMISSIONS_PER_MINUTE)] = (
        limits.SUBMISSIONS_PER_MINUTE.default
    )


class ApiKey(BaseModel):
    """A key as listed: never the key itself."""

    id: str
    name: str
    role: Role
    prefix: str = Field(description="The key's first characters, to recognise it.")
    max_running: int
    max_queued: int = limits.MAX_QUEUED_PER_KEY.default
    submissions_per_minute: int
    created_at: datetime
    revoked_at: datetime | None = None


class StoredKey(ApiKey):
    """A key as storage keeps it (internal)."""

    key_sha256: str


class ApiKeyCreated(ApiKey):
    key: str = Field(description="Shown this once; keep it secret.")
