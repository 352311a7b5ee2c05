"""The tables hold every field the shared schemas carry."""

from crucible_shared.schemas.batches import Batch
from crucible_shared.schemas.evaluations import DeadLetter, Evaluation, EvaluationUpdate
from crucible_shared.schemas.events import EvaluationEvent
from crucible_storage.db.models import BatchRow, DeadLetterRow, EvaluationRow, EventRow


def _columns(model: type[EvaluationRow] | type[EventRow] | type[DeadLetterRow]) -> set[str]:
    return set(model.__table__.columns.keys())


def test_every_field_of_an_evaluation_has_a_column() -> None:
    # Its place in its batch's finishing order is storage's own, served as a cursor.
    assert set(Evaluation.model_fields) | {"finish_sequence"} == _columns(EvaluationRow)


def test_every_field_of_a_batch_has_a_column() -> None:
    # `finished` numbers the batch's finishes; progress counts them afresh.
    assert set(Batch.model_fields) | {"finished"} == _columns(BatchRow)


def test_every_field_an_update_stores_has_a_column() -> None:
    # `detail` goes to the event, `dead_letter` to a dead-letter record.
    not_on_the_row = {"detail", "dead_letter"}
    assert set(EvaluationUpdate.model_fields) - not_on_the_row <= _columns(EvaluationRow)


def test_every_field_of_an_event_has_a_column() -> None:
    assert set(EvaluationEvent.model_fields) == _columns(EventRow)


def test_every_field_of_a_dead_letter_has_a_column() -> None:
    assert set(DeadLetter.model_fields) == _columns(DeadLetterRow)
