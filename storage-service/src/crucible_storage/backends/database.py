"""Evaluations kept in a SQL database: PostgreSQL in production, SQLite embedded."""

from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationCreate,
    EvaluationPage,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_storage.db import repository
from crucible_storage.db.engine import for_writing


class DatabaseBackend:
    """One transaction per call; the schema must already be migrated."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reading = sessionmaker(engine)
        self._writing = sessionmaker(for_writing(engine))

    def create_evaluation(self, submission: EvaluationCreate) -> Evaluation:
        with self._writing.begin() as session:
            return repository.create_evaluation(session=session, submission=submission)

    def get_evaluation(self, evaluation_id: str) -> Evaluation:
        with self._reading.begin() as session:
            return repository.get_evaluation(session=session, evaluation_id=evaluation_id)

    def apply_update(self, evaluation_id: str, update: EvaluationUpdate) -> Evaluation:
        with self._writing.begin() as session:
            return repository.apply_update(
                session=session, evaluation_id=evaluation_id, update=update
            )

    def list_evaluations(
        self,
        *,
        status: EvaluationStatus | None,
        priority: Priority | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> EvaluationPage:
        with self._reading.begin() as session:
            return repository.list_evaluations(
                session=session,
                status=status,
                priority=priority,
                since=since,
                limit=limit,
                cursor=cursor,
            )

    def list_events(self, evaluation_id: str) -> list[EvaluationEvent]:
        with self._reading.begin() as session:
            return repository.list_events(session=session, evaluation_id=evaluation_id)

    def list_dead_letters(self, *, limit: int) -> list[DeadLetter]:
        with self._reading.begin() as session:
            return repository.list_dead_letters(session=session, limit=limit)

    def requeue_dead_letter(self, dead_letter_id: str) -> Evaluation:
        with self._writing.begin() as session:
            return repository.requeue_dead_letter(session=session, dead_letter_id=dead_letter_id)

    def ready(self) -> bool:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True
