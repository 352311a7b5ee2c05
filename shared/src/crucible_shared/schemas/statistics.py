"""`GET /api/statistics`: how the platform is doing, overall and per priority."""

from datetime import datetime

from pydantic import BaseModel, Field

from crucible_shared.lifecycle import Priority


class Percentiles(BaseModel):
    """Of the evaluations that finished within the window; null when there were none."""

    count: int
    p50_ms: float | None = None
    p95_ms: float | None = None


class ThroughputBucket(BaseModel):
    start: datetime = Field(description="Start of the minute.")
    finished: int = Field(description="Evaluations that reached a terminal status in it.")


class Statistics(BaseModel):
    by_status: dict[str, int] = Field(description="Every evaluation not deleted, by status.")
    by_outcome: dict[str, int] = Field(description="Completed evaluations, by outcome.")
    queue_wait: Percentiles = Field(description="From queued to running, last hour.")
    run_time: Percentiles = Field(description="From running to terminal, last hour.")
    finished_last_hour: int
    throughput: list[ThroughputBucket] = Field(
        description="The last hour, a bucket per minute, oldest first."
    )


class StatisticsReport(Statistics):
    generated_at: datetime
    window_seconds: int = 3600
    per_priority: dict[Priority, Statistics]
