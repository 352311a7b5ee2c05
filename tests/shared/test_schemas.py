import pytest
from pydantic import ValidationError

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority
from crucible_shared.schemas.evaluations import (
    EvaluationCreate,
    EvaluationFilter,
    EvaluationUpdate,
)
from crucible_shared.schemas.keys import ApiKeyCreate, Role


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


@pytest.mark.parametrize("schema", [EvaluationCreate, ApiKeyCreate])
def test_integer_fields_take_what_json_schema_calls_an_integer(
    schema: type[EvaluationCreate | ApiKeyCreate],
) -> None:
    field = "timeout_seconds" if schema is EvaluationCreate else "max_running"
    valid = {"code": "1"} if schema is EvaluationCreate else {"name": "n", "role": "viewer"}
    for integer in (30, 30.0):
        assert getattr(schema.model_validate({**valid, field: integer}), field) == 30
    # Lax pydantic would take these for 1 and 30: a client's bug, reported to it.
    for not_an_integer in (True, "30", 30.5):
        with pytest.raises(ValidationError, match=field):
            schema.model_validate({**valid, field: not_an_integer})


@pytest.mark.parametrize("number", ["5", "1.7e9", 1700000000])
def test_a_filter_time_is_iso_8601_not_a_unix_time(number: object) -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        EvaluationFilter.model_validate({"until": number})
    moment = EvaluationFilter.model_validate({"until": "2026-01-31T12:00:00+01:00"}).until
    assert moment is not None and moment.isoformat() == "2026-01-31T11:00:00+00:00"


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


@pytest.mark.parametrize("name", ["José", "名前", "a\tb", ""])
def test_a_key_name_is_what_the_documents_pattern_allows(name: str) -> None:
    # The document's pattern is checked by clients as JSON Schema (ASCII `\w`),
    # the API's by pydantic: a name one accepts and the other refuses was a bug.
    with pytest.raises(ValidationError):
        ApiKeyCreate(name=name, role=Role.RESEARCHER)


def test_a_key_name_takes_ascii_words_spaces_and_punctuation() -> None:
    assert ApiKeyCreate(name="ci-bot_2 alice@lab.example", role=Role.RESEARCHER).name
