"""The executor's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter(
    "crucible_executor_runs_total",
    "Runs ended, by how: an outcome, `failed` or `cancelled`.",
    ["result"],
)
RUN_TIME = Histogram(
    "crucible_executor_run_seconds",
    "Time programs ran in their sandbox.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
SLOTS_IN_USE = Gauge("crucible_executor_slots_in_use", "Evaluations running here now.")
CAPACITY = Gauge("crucible_executor_capacity", "Evaluations this executor runs at once.")
