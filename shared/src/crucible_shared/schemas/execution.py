"""The executor's contract: one request in, a stream of events out.

`POST /execute` answers 503 at once when the executor is full; otherwise
200 with newline-delimited JSON: `started` when the sandbox is up, then
exactly one of `finished` (the program ran; its outcome says how it ended),
`failed` (the platform could not run it) or `cancelled` (someone cancelled
the evaluation; the sandbox was killed).
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from crucible_shared import limits
from crucible_shared.lifecycle import Outcome, SandboxImage
from crucible_shared.schemas.fields import Bounded
from crucible_shared.schemas.tests import CaseResult, Flag, Provenance, TestCases


class ExecutionRequest(BaseModel):
    evaluation_id: str
    code: Annotated[str, Field(min_length=1)]
    stdin: str = ""
    timeout_seconds: Annotated[int, Bounded(limits.TIMEOUT_SECONDS)] = (
        limits.TIMEOUT_SECONDS.default
    )
    memory_mb: Annotated[int, Bounded(limits.MEMORY_MB)] = limits.MEMORY_MB.default
    image: SandboxImage = SandboxImage.PYTHON
    tests: TestCases = Field(default_factory=list)
    stop_on_first_failure: bool = False
    lease_token: str | None = Field(
        default=None,
        description="The slot's lease: the executor renews it while the program runs and "
        "kills the sandbox if it is lost; released when the sandbox is gone.",
    )


class ExecutionResult(BaseModel):
    outcome: Outcome
    exit_code: int | None = Field(
        description="The program's exit status; 128 + N when killed by signal N."
    )
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: int
    image_digest: str | None = Field(
        default=None, description="Digest of the container image it ran in; None without one."
    )
    tests_passed: int | None = None
    tests_total: int | None = None
    test_results: list[CaseResult] | None = None
    flags: list[Flag] = Field(default_factory=list)
    provenance: Provenance | None = None


class ExecutionStarted(BaseModel):
    type: Literal["started"] = "started"
    executor: str


class ExecutionFinished(BaseModel):
    type: Literal["finished"] = "finished"
    result: ExecutionResult


class ExecutionFailed(BaseModel):
    type: Literal["failed"] = "failed"
    error: str


class ExecutionCancelled(BaseModel):
    """The evaluation was cancelled while it ran; its sandbox is gone."""

    type: Literal["cancelled"] = "cancelled"


ExecutionEvent = Annotated[
    ExecutionStarted | ExecutionFinished | ExecutionFailed | ExecutionCancelled,
    Field(discriminator="type"),
]
execution_event_adapter: TypeAdapter[ExecutionEvent] = TypeAdapter(ExecutionEvent)
