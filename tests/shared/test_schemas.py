import pytest
from pydantic import ValidationError

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority
from crucible_shared.schemas.evaluations import EvaluationCreate, EvaluationUpdate


def test_defaults_come_from_the_limits() -> None:
    submission = EvaluationCreate(code="print(1)")

    assert submission.timeout_seconds == limits.TIMEOUT_SECONDS.default == 30
    assert submission.memory_mb == limits.MEMORY_MB.default == 256
    assert submission.priority is Priority.NORMAL
    assert submission.language == "python"


def test_code_is_bounded_in_bytes_not_characters() -> None:
    # 'é' is two bytes in UTF-8: half the limit in characters is the whole limit in bytes.
    at_limit = "é" * (limits.MAX_CODE_BYTES // 2)
    EvaluationCreate(code=at_limit)

    with pytest.raises(ValidationError, match=f"limit is {limits.MAX_CODE_BYTES} bytes"):
        EvaluationCreate(code=at_limit + "x")


def test_stdin_is_bounded() -> None:
    with pytest.raises(ValidationError, match="stdin is"):
        EvaluationCreate(code="1", stdin="x" * (limits.MAX_STDIN_BYTES + 1))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": EvaluationStatus.COMPLETED}, "needs an outcome"),
        ({"status": EvaluationStatus.RUNNING, "outcome": Outcome.SUCCESS}, "only a `completed`"),
        ({"status": EvaluationStatus.FAILED}, "needs an error"),
    ],
)
def test_an_update_carries_what_its_status_needs(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EvaluationUpdate.model_validate(fields)
