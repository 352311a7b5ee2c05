"""The commands a worker and the reaper send storage, each one transaction.

Storage is the one authority on an evaluation's run: a claim moves it from
`queued` to `provisioning` and counts an attempt before any sandbox starts;
`start`, `finish` and `requeue` name the attempt they belong to, and storage
refuses one whose attempt is no longer the current one (a fencing token), so
that a run that lost its slot can never store a result over its successor's.
Answers are summaries: code and outputs are not echoed back.
"""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult

Attempt = Annotated[int, Field(ge=1, description="The attempt this command belongs to.")]
# What of a reason is kept: enough to read, never a program's whole output.
MAX_REASON_CHARS = 2000


class ClaimCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    executor: str
    max_attempts: Annotated[int, Field(ge=1)]


class Claim(BaseModel):
    """A claim granted: the attempt it is, and what to run."""

    attempt: int
    queued_at: datetime
    request: ExecutionRequest


class StartCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempt: Attempt
    executor: str


class FinishCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempt: Attempt
    result: ExecutionResult


class RequeueCommand(BaseModel):
    """A platform fault on this attempt: back to `queued`, or `failed` and
    dead-lettered once `max_attempts` are spent."""

    model_config = ConfigDict(extra="forbid")

    attempt: Attempt
    reason: str
    max_attempts: Annotated[int, Field(ge=1)]


class FailCommand(BaseModel):
    """The platform gives up on it whatever its status (not yet finished)."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    dead_letter: bool = False
