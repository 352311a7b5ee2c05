"""An evaluation as submitted, stored, updated and listed."""

from datetime import UTC, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crucible_shared import limits
from crucible_shared.ids import ID_PATTERN
from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority, SandboxImage
from crucible_shared.schemas.fields import Bounded, within_bytes
from crucible_shared.schemas.tests import CaseResult, Flag, Provenance, TestCases

Language = Literal["python"]
Label = Annotated[
    str | None,
    Field(
        max_length=limits.MAX_LABEL_CHARS,
        description=f"The caller's name for it (e.g. `HumanEval/17#3`), at most "
        f"{limits.MAX_LABEL_CHARS} characters; returned with it.",
    ),
]


class EvaluationCreate(BaseModel):
    """A submission, as the public API accepts it."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, description="Python source, at most 1 MiB.")]
    language: Language = "python"
    stdin: Annotated[str, Field(description="Sent to the program's standard input.")] = ""
    timeout_seconds: Annotated[int, Bounded(limits.TIMEOUT_SECONDS)] = (
        limits.TIMEOUT_SECONDS.default
    )
    memory_mb: Annotated[int, Bounded(limits.MEMORY_MB)] = limits.MEMORY_MB.default
    priority: Priority = Priority.NORMAL
    image: SandboxImage = SandboxImage.PYTHON
    tests: TestCases = Field(
        default_factory=list,
        description="At most 1,000 cases; each gets a verdict, and the outcome is `success` "
        "only when every one passed.",
    )
    stop_on_first_failure: bool = False
    label: Label = None

    @field_validator("code")
    @classmethod
    def _code_size(cls, value: str) -> str:
        return within_bytes(value, "code", limits.MAX_CODE_BYTES)

    @field_validator("stdin")
    @classmethod
    def _stdin_size(cls, value: str) -> str:
        return within_bytes(value, "stdin", limits.MAX_STDIN_BYTES)

    @model_validator(mode="after")
    def _case_timeouts(self) -> Self:
        for index, case in enumerate(self.tests):
            if case.timeout_seconds is not None and case.timeout_seconds > self.timeout_seconds:
                raise ValueError(
                    f"tests[{index}].timeout_seconds is {case.timeout_seconds}; the limit is "
                    f"the submission's timeout_seconds, {self.timeout_seconds}"
                )
        return self


class OwnedSubmission(EvaluationCreate):
    """A submission as storage receives it: with the key that made it (internal)."""

    owner: str | None = None


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
    owner: str | None = Field(default=None, description="Id of the API key that submitted it.")
    label: str | None = None
    batch_id: str | None = Field(default=None, description="The batch it was submitted in.")
    code_sha256: str = Field(description="SHA-256 of the code's UTF-8 bytes, in hex.")
    stdout_bytes: int = Field(default=0, description="Size of the whole stdout kept, in bytes.")
    stderr_bytes: int = Field(default=0, description="Size of the whole stderr kept, in bytes.")
    created_at: datetime
    queued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = Field(default=None, description="Time of the last change.")
    deleted_at: datetime | None = Field(
        default=None, description="When it was deleted; it can be restored until purged."
    )
    tests_passed: int | None = Field(default=None, description="None when it had no tests.")
    tests_total: int | None = None


class Evaluation(EvaluationSummary):
    """An evaluation in full, as stored and as the API serves it."""

    code: str
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = Field(
        default=False, description="The program wrote more than the executor keeps."
    )
    stderr_truncated: bool = False
    stdout_preview: bool = Field(
        default=False,
        description="`stdout` holds only its beginning; the whole is at `/output/stdout`.",
    )
    stderr_preview: bool = False
    tests: TestCases = Field(default_factory=list)
    stop_on_first_failure: bool = False
    test_results: list[CaseResult] | None = None
    flags: list[Flag] = Field(default_factory=list)
    provenance: Provenance | None = None


class EvaluationPublic(Evaluation):
    """An evaluation as the API serves it."""

    queue_position: int | None = Field(
        default=None,
        description="While queued: its place in its priority's queue, 1 when it runs next.",
    )


class EvaluationFilter(BaseModel):
    """Which evaluations a list or a count covers; every condition given must hold."""

    status: EvaluationStatus | None = None
    outcome: Outcome | None = None
    priority: Priority | None = None
    language: Language | None = None
    image: SandboxImage | None = None
    since: datetime | None = Field(default=None, description="Created at or after (ISO 8601).")
    until: datetime | None = Field(default=None, description="Created before (ISO 8601).")
    queued_since: datetime | None = Field(
        default=None, description="Queued (last, for a retry) at or after (ISO 8601)."
    )
    queued_until: datetime | None = Field(
        default=None, description="Queued (last, for a retry) before (ISO 8601)."
    )
    code_sha256: Annotated[str | None, Field(pattern="^[0-9a-f]{64}$")] = None
    q: Annotated[
        str | None, Field(min_length=1, max_length=200, description="Text the code contains.")
    ] = None
    include_deleted: bool = False
    # An id, checked as one: anything else matches nothing, and text a
    # database cannot compare (a NUL character) must be refused, not sent.
    owner: str | None = Field(
        default=None, pattern=f"^{ID_PATTERN}$", description="Id of the submitting API key."
    )
    active: bool | None = Field(
        default=None, description="true: queued or running; false: finished."
    )
    batch_id: str | None = Field(
        default=None, pattern=f"^{ID_PATTERN}$", description="Id of the batch it belongs to."
    )

    @field_validator("since", "until", "queued_since", "queued_until", mode="before")
    @classmethod
    def _not_a_number(cls, value: object) -> object:
        """pydantic would read a bare number as Unix time; the document
        promises ISO 8601, and a number there is more likely a mistake."""
        if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
            raise ValueError("must be an ISO 8601 time such as 2026-01-31T12:00:00Z, not a number")
        return value

    @field_validator("since", "until", "queued_since", "queued_until")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        """A time without an offset is UTC's."""
        if moment is None:
            return None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            # Within a day of the calendar's ends: the bound is as far as time goes.
            return (
                datetime.min.replace(tzinfo=UTC)
                if moment.year == 1
                else datetime.max.replace(tzinfo=UTC)
            )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class EvaluationCount(BaseModel):
    count: int


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
    tests_passed: int | None = None
    tests_total: int | None = None
    test_results: list[CaseResult] | None = None
    flags: list[Flag] | None = None
    provenance: Provenance | None = None
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


class BatchItem(BaseModel):
    """One submission of a batch: its id if accepted, or why it was rejected."""

    index: int = Field(description="Its place in the batch, from 0.")
    id: str | None = None
    label: str | None = None
    errors: list[str] = Field(default_factory=list)


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    items: list[BatchItem] = Field(description="One per submission, in the batch's order.")
