"""The history of an evaluation: one event per status transition."""

from datetime import datetime

from pydantic import BaseModel

from crucible_shared.lifecycle import EvaluationStatus


class EvaluationEvent(BaseModel):
    evaluation_id: str
    sequence: int
    status: EvaluationStatus
    at: datetime
    detail: str | None = None
