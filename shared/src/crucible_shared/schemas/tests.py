"""Test cases of a submission, and the verdicts the executor's harness gives them (issue 16).

A case is one of two kinds, told apart by its fields (`expected_stdout` or
`code`), never by a type tag the caller must remember:

- a stdout case runs the program with the case's stdin and compares what it
  printed with `expected_stdout`;
- a code case runs the program, then the case's Python in the same interpreter
  state (HumanEval's `check(candidate)`); it passes if that raises nothing.
"""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crucible_shared import limits
from crucible_shared.schemas.fields import Bounded, within_bytes

HARNESS_VERSION = "1"

Compare = Literal["exact", "trim", "tokens"]


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    # Not run: an earlier case failed under `stop_on_first_failure`, or the
    # evaluation's own time ran out first.
    SKIPPED = "skipped"


class Flag(StrEnum):
    """Signals a researcher would want to see; none of them fails a case."""

    EXITED_BEFORE_TESTS = "exited_before_tests"
    TRIED_NETWORK = "tried_network"
    REPLACED_BUILTINS = "replaced_builtins"


CaseTimeout = Annotated[
    int,
    Bounded(
        limits.TIMEOUT_SECONDS,
        description="CPU seconds for this case, at most the submission's timeout_seconds "
        "(its default).",
    ),
]


class StdoutCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(max_length=200)] = None
    stdin: str = ""
    expected_stdout: str
    compare: Compare = Field(
        default="exact",
        description="exact: byte for byte; trim: ignoring trailing white space on each line "
        "and at the end; tokens: the white-space separated words alone.",
    )
    timeout_seconds: CaseTimeout | None = None

    @field_validator("expected_stdout")
    @classmethod
    def _expected_size(cls, value: str) -> str:
        return within_bytes(value, "expected_stdout", limits.MAX_EXPECTED_STDOUT_BYTES)

    @field_validator("stdin")
    @classmethod
    def _stdin_size(cls, value: str) -> str:
        return within_bytes(value, "stdin", limits.MAX_STDIN_BYTES)


class CodeCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(max_length=200)] = None
    code: Annotated[str, Field(min_length=1)]
    timeout_seconds: CaseTimeout | None = None

    @field_validator("code")
    @classmethod
    def _code_size(cls, value: str) -> str:
        return within_bytes(value, "code", limits.MAX_CODE_BYTES)


# Left to right: a case with `expected_stdout` is a stdout case, one with
# `code` a code case; a case with neither is refused naming both.
TestCase = StdoutCase | CodeCase
TestCases = Annotated[list[TestCase], Field(max_length=limits.MAX_TEST_CASES)]


class CaseResult(BaseModel):
    index: int = Field(description="The case's place in `tests`, from 0.")
    name: str | None = None
    verdict: Verdict
    message: str | None = Field(
        default=None,
        description="The first difference, the assertion's message, or the exception and "
        "its traceback.",
    )
    duration_ms: int = 0
    cpu_ms: int = Field(default=0, description="CPU time the case used: what its limit judges.")
    stdout: str = Field(default="", description="The case's stdout, capped.")
    stderr: str = Field(default="", description="The case's stderr, capped.")


class Provenance(BaseModel):
    """What judged an evaluation's cases, so that a verdict can be reproduced."""

    harness_version: str
    python_version: str | None = None
    image: str | None = None
    image_digest: str | None = None
    timeout_seconds: int
    memory_mb: int
