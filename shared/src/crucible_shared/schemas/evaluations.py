"""An evaluation as submitted, stored, updated and listed."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority, SandboxImage

Language = Literal["python"]


def _within_bytes(value: str, field: str, maximum: int) -> str:
    size = len(value.encode("utf-8"))
    if size > maximum:
        raise ValueError(f"{field} is {size} bytes; the limit is {maximum} bytes")
    return value


class EvaluationCreate(BaseModel):
    """A submission, as the public API accepts it."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, description="Python source, at most 1 MiB.")]
    language: Language = "python"
    stdin: Annotated[str, Field(description="Sent to the program's standard input.")] = ""
    timeout_seconds: Annotated[
        int, Field(ge=limits.TIMEOUT_SECONDS.minimum, le=limits.TIMEOUT_SECONDS.maximum)
    ] = limits.TIMEOUT_SECONDS.default
    memory_mb: Annotated[int, Field(ge=limits.MEMORY_MB.minimum, le=limits.MEMORY_MB.maximum)] = (
        limits.MEMORY_MB.default
    )
    priority: Priority = Priority.NORMAL
    image: SandboxImage = SandboxImage.PYTHON

    @field_validator("code")
    @classmethod
    def _code_size(cls, value: str) -> str:
        return _within_bytes(value, "code", limits.MAX_CODE_BYTES)

    @field_validator("stdin")
    @classmethod
    def _stdin_size(cls, value: str) -> str:
        return _within_bytes(value, "stdin", limits.MAX_STDIN_BYTES)


class EvaluationSummary(BaseModel):
    """What a list shows of an evaluation: everything but code and outputs."""

    id: str
    status: EvaluationStatus
    outcome: Outcome | None = None
    error: str | None = None
    language: Language = "python"
    priority: Priority
    image: SandboxImage = SandboxImage.PYTHON
    image_digest: str | None = None
    timeout_seconds: int
    memory_mb: int
    attempts: int = Field(default=0, description="Times a worker has taken it to an executor.")
    exit_code: int | None = None
    duration_ms: int | None = None
    executor: str | None = None
    created_at: datetime
    queued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = Field(default=None, description="Time of the last change.")


class Evaluation(EvaluationSummary):
    """An evaluation in full, as stored and as the API serves it."""

    code: str
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False


class EvaluationPublic(Evaluation):
    """An evaluation as the API serves it."""

    queue_position: int | None = Field(
        default=None,
        description="While queued: its place in its priority's queue, 1 when it runs next.",
    )


class EvaluationPage(BaseModel):
    items: list[EvaluationSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last."
    )


class EvaluationUpdate(BaseModel):
    """A status transition, with what the new status carries.

    `completed` carries the outcome and the program's output; `failed`
    carries the reason the platform could not run it.
    """

    model_config = ConfigDict(extra="forbid")

    status: EvaluationStatus
    outcome: Outcome | None = None
    error: str | None = None
    exit_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None
    duration_ms: int | None = None
    executor: str | None = None
    image_digest: str | None = None
    detail: str | None = Field(default=None, description="Recorded in the event history.")
    dead_letter: bool = Field(
        default=False,
        description="With `failed`: also keep a dead-letter record, in the same transaction.",
    )

    @model_validator(mode="after")
    def _fits_status(self) -> Self:
        if self.status is EvaluationStatus.COMPLETED and self.outcome is None:
            raise ValueError("a `completed` update needs an outcome")
        if self.status is not EvaluationStatus.COMPLETED and self.outcome is not None:
            raise ValueError("only a `completed` update carries an outcome")
        if self.status is EvaluationStatus.FAILED and not self.error:
            raise ValueError("a `failed` update needs an error saying why")
        if self.dead_letter and self.status is not EvaluationStatus.FAILED:
            raise ValueError("only a `failed` update is dead-lettered")
        return self


class DeadLetter(BaseModel):
    """An evaluation the platform gave up on, kept so that it can be run again."""

    id: str
    evaluation_id: str
    reason: str
    attempts: int
    created_at: datetime
    requeued_as: str | None = Field(
        default=None, description="The evaluation created when it was requeued."
    )
