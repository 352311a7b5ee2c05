"""Evaluations kept in a SQL database: PostgreSQL in production, SQLite embedded."""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from crucible_shared.schemas.batches import Batch
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationFilter,
    EvaluationPage,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.schemas.keys import StoredKey
from crucible_storage.batches import BatchCounts
from crucible_storage.db import repository
from crucible_storage.db.engine import for_writing
from crucible_storage.errors import Conflict, NotFound
from crucible_storage.rules import Change
from crucible_storage.statistics import Tally, Timing

# Evaluations purged per transaction.
_PURGE_BATCH = 500


class DatabaseBackend:
    """One transaction per call; the schema must already be migrated."""

    name = "database"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reading = sessionmaker(engine)
        self._writing = sessionmaker(for_writing(engine))
        self.location = engine.url.render_as_string(hide_password=True)

    def insert(self, evaluations: list[Evaluation]) -> None:
        with self._writing.begin() as session:
            repository.insert(session=session, evaluations=evaluations)

    def insert_batch(self, batch: Batch, evaluations: list[Evaluation]) -> None:
        with self._writing.begin() as session:
            repository.insert_batch(session=session, batch=batch, evaluations=evaluations)

    def batch_counts(self, batch_id: str) -> BatchCounts:
        with self._reading.begin() as session:
            return repository.batch_counts(session=session, batch_id=batch_id)

    def batches(
        self, *, owner: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Batch], str | None]:
        with self._reading.begin() as session:
            return repository.list_batches(session=session, owner=owner, limit=limit, cursor=cursor)

    def finished(self, batch_id: str, *, after: int, limit: int) -> list[tuple[int, Evaluation]]:
        with self._reading.begin() as session:
            return repository.finished(session=session, batch_id=batch_id, after=after, limit=limit)

    def get(self, evaluation_id: str) -> Evaluation:
        with self._reading.begin() as session:
            return repository.get(session=session, evaluation_id=evaluation_id)

    def modify(
        self, evaluation_id: str, decide: Callable[[Evaluation], Change]
    ) -> tuple[Evaluation, EvaluationEvent]:
        with self._writing.begin() as session:
            return repository.modify(session=session, evaluation_id=evaluation_id, decide=decide)

    def modify_each(
        self, evaluation_ids: list[str], decide: Callable[[Evaluation], Change]
    ) -> list[tuple[Evaluation, EvaluationEvent]]:
        modified = []
        with self._writing.begin() as session:
            for evaluation_id in evaluation_ids:
                try:
                    # `decide` refuses before the row is touched: nothing to undo.
                    modified.append(
                        repository.modify(
                            session=session, evaluation_id=evaluation_id, decide=decide
                        )
                    )
                except (Conflict, NotFound):
                    continue
        return modified

    def page(self, where: EvaluationFilter, *, limit: int, cursor: str | None) -> EvaluationPage:
        with self._reading.begin() as session:
            return repository.list_evaluations(
                session=session, where=where, limit=limit, cursor=cursor
            )

    def count(self, where: EvaluationFilter) -> int:
        with self._reading.begin() as session:
            return repository.count(session=session, where=where)

    def events(self, evaluation_id: str) -> list[EvaluationEvent]:
        with self._reading.begin() as session:
            return repository.events(session=session, evaluation_id=evaluation_id)

    def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        with self._reading.begin() as session:
            return repository.dead_letters(session=session, limit=limit)

    def requeue(
        self, dead_letter_id: str, resubmit: Callable[[Evaluation], Evaluation]
    ) -> Evaluation:
        with self._writing.begin() as session:
            return repository.requeue(
                session=session, dead_letter_id=dead_letter_id, resubmit=resubmit
            )

    def tallies(self) -> list[Tally]:
        with self._reading.begin() as session:
            return repository.tallies(session=session)

    def timings(self, finished_since: datetime) -> list[Timing]:
        with self._reading.begin() as session:
            return repository.timings(session=session, finished_since=finished_since)

    def purge(self, deleted_before: datetime) -> list[str]:
        purged: list[str] = []
        while True:
            # A transaction per batch: none holds many locks for long.
            with self._writing.begin() as session:
                batch = repository.purge(
                    session=session, deleted_before=deleted_before, limit=_PURGE_BATCH
                )
            purged += batch
            if len(batch) < _PURGE_BATCH:
                return purged

    def totals(self) -> tuple[int, int]:
        with self._reading.begin() as session:
            return repository.totals(session=session)

    def insert_key(self, key: StoredKey) -> None:
        with self._writing.begin() as session:
            repository.insert_key(session=session, key=key)

    def keys(self) -> list[StoredKey]:
        with self._reading.begin() as session:
            return repository.keys(session=session)

    def key_by_hash(self, key_sha256: str) -> StoredKey:
        with self._reading.begin() as session:
            return repository.key_by_hash(session=session, key_sha256=key_sha256)

    def revoke_key(self, key_id: str, at: datetime) -> StoredKey:
        with self._writing.begin() as session:
            return repository.revoke_key(session=session, key_id=key_id, at=at)

    def ready(self) -> bool:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True
