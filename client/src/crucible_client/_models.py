"""What the API answers, as typed objects.

Each object keeps the whole answer in `raw` too: a field the server adds later
is there before this package knows its name.
"""

from dataclasses import dataclass, field
from typing import Any

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class TestResult:
    """One test case's verdict: passed, failed, error, timeout, memory_exceeded or skipped."""

    index: int
    name: str | None
    verdict: str
    message: str | None
    duration_ms: int | None
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "TestResult":
        return cls(
            index=data["index"],
            name=data.get("name"),
            verdict=data["verdict"],
            message=data.get("message"),
            duration_ms=data.get("duration_ms"),
            stdout=data.get("stdout") or "",
            stderr=data.get("stderr") or "",
        )


@dataclass(frozen=True)
class Evaluation:
    """An evaluation as `GET /api/evaluations/{id}` serves it.

    `status` is queued, provisioning, running, completed, failed (the platform
    could not run it; `error` says why) or cancelled; `outcome`, once completed,
    is success, error, timeout, memory_exceeded, output_limit_exceeded or
    tests_failed: what the program did.
    """

    id: str
    status: str
    outcome: str | None
    error: str | None
    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: int | None
    label: str | None
    batch_id: str | None
    tests_passed: int | None
    tests_total: int | None
    test_results: tuple[TestResult, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """In a terminal status: nothing about it changes any more."""
        return self.status in TERMINAL_STATUSES

    @property
    def passed(self) -> bool:
        """The program ran and succeeded (every test case passed, when it had some)."""
        return self.status == "completed" and self.outcome == "success"

    @property
    def platform_failed(self) -> bool:
        """The platform could not run it: not the program's fault, and worth running again."""
        return self.status == "failed"

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "Evaluation":
        return cls(
            id=data["id"],
            status=data["status"],
            outcome=data.get("outcome"),
            error=data.get("error"),
            exit_code=data.get("exit_code"),
            stdout=data.get("stdout") or "",
            stderr=data.get("stderr") or "",
            duration_ms=data.get("duration_ms"),
            label=data.get("label"),
            batch_id=data.get("batch_id"),
            tests_passed=data.get("tests_passed"),
            tests_total=data.get("tests_total"),
            test_results=tuple(TestResult.from_api(r) for r in data.get("test_results") or ()),
            raw=data,
        )


@dataclass(frozen=True)
class ItemResult:
    """What became of one item given to `evaluate` or `map`.

    `index` is the item's place in what was given, from 0. An item the API
    refused has no evaluation and says why in `errors` (each names the field).
    """

    index: int
    label: str | None
    evaluation: Evaluation | None
    errors: tuple[str, ...] = ()

    @property
    def rejected(self) -> bool:
        return self.evaluation is None

    @property
    def passed(self) -> bool:
        return self.evaluation is not None and self.evaluation.passed
