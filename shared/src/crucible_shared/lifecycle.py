"""The evaluation lifecycle: statuses, outcomes, priorities and legal transitions."""

from enum import StrEnum


class EvaluationStatus(StrEnum):
    QUEUED = "queued"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


class Outcome(StrEnum):
    """How a program ended; set only when the status is `completed`.

    `failed` (a status, not an outcome) means the platform could not run the
    program at all; everything here is the program's own doing.
    """

    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_LIMIT_EXCEEDED = "output_limit_exceeded"
    # The program ran under its test cases and not every one passed; each
    # case's verdict says how it ended.
    TESTS_FAILED = "tests_failed"


class SandboxImage(StrEnum):
    """The allow-listed images a program may ask for; each backend says which it offers."""

    PYTHON = "python"
    ML = "ml"  # python plus numpy, pandas, scikit-learn, scipy


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


TERMINAL_STATUSES = frozenset(
    {EvaluationStatus.COMPLETED, EvaluationStatus.FAILED, EvaluationStatus.CANCELLED}
)

_S = EvaluationStatus
# Going back to `queued` is how a platform fault is retried; nothing leaves a
# terminal status.
ALLOWED_TRANSITIONS: dict[EvaluationStatus, frozenset[EvaluationStatus]] = {
    _S.QUEUED: frozenset({_S.PROVISIONING, _S.FAILED, _S.CANCELLED}),
    _S.PROVISIONING: frozenset({_S.QUEUED, _S.RUNNING, _S.FAILED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.QUEUED, _S.COMPLETED, _S.FAILED, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_transition(current: EvaluationStatus, new: EvaluationStatus) -> bool:
    return new in ALLOWED_TRANSITIONS[current]
