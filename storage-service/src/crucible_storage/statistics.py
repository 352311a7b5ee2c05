"""`/statistics`, computed from what any backend can hand over cheaply.

Backends count by (priority, status, outcome) themselves and hand over the
timestamps of what finished within the window; percentiles and buckets are
computed here, once for every backend.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority
from crucible_shared.schemas.statistics import (
    Percentiles,
    Statistics,
    StatisticsReport,
    ThroughputBucket,
)

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Tally:
    priority: Priority
    status: EvaluationStatus
    outcome: Outcome | None
    count: int


@dataclass(frozen=True)
class Timing:
    """An evaluation that reached a terminal status within the window."""

    priority: Priority
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime


def report(tallies: list[Tally], timings: list[Timing], now: datetime) -> StatisticsReport:
    """`timings` are those of the evaluations finished within WINDOW before `now`."""
    overall = _statistics(tallies, timings, now)
    per_priority = {
        priority: _statistics(
            [tally for tally in tallies if tally.priority is priority],
            [timing for timing in timings if timing.priority is priority],
            now,
        )
        for priority in Priority
    }
    return StatisticsReport(
        **overall.model_dump(),
        generated_at=now,
        window_seconds=int(WINDOW.total_seconds()),
        per_priority=per_priority,
    )


def _statistics(tallies: list[Tally], timings: list[Timing], now: datetime) -> Statistics:
    by_status: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    for tally in tallies:
        by_status[tally.status.value] += tally.count
        if tally.outcome is not None:
            by_outcome[tally.outcome.value] += tally.count
    started = [timing for timing in timings if timing.started_at is not None]
    return Statistics(
        by_status=dict(by_status),
        by_outcome=dict(by_outcome),
        queue_wait=_percentiles(
            [_ms(timing.started_at - timing.queued_at) for timing in started if timing.started_at]
        ),
        run_time=_percentiles(
            [_ms(timing.finished_at - timing.started_at) for timing in started if timing.started_at]
        ),
        finished_last_hour=len(timings),
        throughput=_per_minute(timings, now),
    )


def _ms(span: timedelta) -> float:
    return max(span.total_seconds() * 1000, 0.0)


def _percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(count=0)
    ordered = sorted(values)
    return Percentiles(
        count=len(ordered), p50_ms=_nearest_rank(ordered, 50), p95_ms=_nearest_rank(ordered, 95)
    )


def _nearest_rank(ordered: list[float], percentile: int) -> float:
    rank = max(1, -(-percentile * len(ordered) // 100))  # ceil without floats
    return ordered[rank - 1]


def _per_minute(timings: list[Timing], now: datetime) -> list[ThroughputBucket]:
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = int(WINDOW / timedelta(minutes=1))
    counts = Counter(timing.finished_at.replace(second=0, microsecond=0) for timing in timings)
    starts = [end - timedelta(minutes=minutes - index) for index in range(minutes)]
    return [ThroughputBucket(start=start, finished=counts.get(start, 0)) for start in starts]
