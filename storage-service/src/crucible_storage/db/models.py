"""The tables: one row per evaluation, one row per status transition of it."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority, SandboxImage
from crucible_shared.schemas.evaluations import Language
from crucible_shared.schemas.keys import Role
from crucible_storage.db.types import BinaryText, UTCDateTime

# Named constraints, so that a migration can refer to them on every database
# (SQLite's batch mode rebuilds tables and needs the names).
_NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING_CONVENTION)


def _enum(values: type[StrEnum]) -> Enum:
    # A plain VARCHAR holding the value ("queued"), not a database enum type,
    # so that adding a status in crucible_shared needs no migration.
    return Enum(
        values,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    # Lists page newest first by (created_at, id).
    __table_args__ = (
        Index("ix_evaluations_created_at_id", "created_at", "id"),
        # Statistics read what finished in the last hour.
        Index("ix_evaluations_finished_at", "finished_at"),
        # The reaper looks at what was queued lately.
        Index("ix_evaluations_status_queued_at", "status", "queued_at"),
        # A batch's counts, and its results in the order they finished.
        Index("ix_evaluations_batch_id_status", "batch_id", "status"),
        Index("ix_evaluations_batch_id_finish_sequence", "batch_id", "finish_sequence"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[EvaluationStatus] = mapped_column(_enum(EvaluationStatus), index=True)
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    error: Mapped[str | None] = mapped_column(Text)
    language: Mapped[Language] = mapped_column(String(16))
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    image: Mapped[SandboxImage] = mapped_column(_enum(SandboxImage))
    image_digest: Mapped[str | None] = mapped_column(Text)
    timeout_seconds: Mapped[int]
    memory_mb: Mapped[int]
    attempts: Mapped[int] = mapped_column(default=0)
    code: Mapped[str] = mapped_column(BinaryText())
    stdin: Mapped[str] = mapped_column(BinaryText())
    stdout: Mapped[str] = mapped_column(BinaryText(), default="")
    stderr: Mapped[str] = mapped_column(BinaryText(), default="")
    stdout_truncated: Mapped[bool] = mapped_column(default=False)
    stderr_truncated: Mapped[bool] = mapped_column(default=False)
    exit_code: Mapped[int | None]
    duration_ms: Mapped[int | None]
    executor: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(36), index=True)
    label: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"))
    # Its place among its batch's evaluations in the order they finished:
    # taken under the batch's row lock, so in commit order too.
    finish_sequence: Mapped[int | None]
    code_sha256: Mapped[str] = mapped_column(String(64), index=True)
    stdout_bytes: Mapped[int] = mapped_column(default=0)
    stderr_bytes: Mapped[int] = mapped_column(default=0)
    stdout_preview: Mapped[bool] = mapped_column(default=False)
    stderr_preview: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Test cases and their verdicts (issue 16): read and written whole, never queried into.
    tests: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    stop_on_first_failure: Mapped[bool] = mapped_column(default=False)
    tests_passed: Mapped[int | None]
    tests_total: Mapped[int | None]
    test_results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BatchRow(Base):
    __tablename__ = "batches"
    # Lists page newest first by (created_at, id).
    __table_args__ = (Index("ix_batches_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(36), index=True)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    total: Mapped[int]
    # Its evaluations that have finished so far: the last finish_sequence given.
    finished: Mapped[int] = mapped_column(default=0)


class EventRow(Base):
    __tablename__ = "evaluation_events"

    evaluation_id: Mapped[str] = mapped_column(ForeignKey("evaluations.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[EvaluationStatus] = mapped_column(_enum(EvaluationStatus))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str | None] = mapped_column(Text)


class DeadLetterRow(Base):
    """An evaluation the platform gave up on, kept so that it can be run again."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # A failed evaluation stays failed, so it is given up on once at most.
    evaluation_id: Mapped[str] = mapped_column(ForeignKey("evaluations.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requeued_as: Mapped[str | None] = mapped_column(ForeignKey("evaluations.id"))


class ApiKeyRow(Base):
    """An API key: its hash, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(_enum(Role))
    prefix: Mapped[str] = mapped_column(String(16))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    max_running: Mapped[int]
    max_queued: Mapped[int]
    submissions_per_minute: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
