"""Summaries of measured latencies, the same for every series."""

from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "LatencySummary":
        return cls(
            count=len(seconds),
            p50_ms=_ms(percentile(seconds, 0.50)),
            p95_ms=_ms(percentile(seconds, 0.95)),
            p99_ms=_ms(percentile(seconds, 0.99)),
            mean_ms=_ms(sum(seconds) / len(seconds)),
            max_ms=_ms(max(seconds)),
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
