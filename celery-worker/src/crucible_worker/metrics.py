"""The worker's Prometheus metrics.

The pool's child processes do the counting; the main process serves the sum.
That is prometheus_client's multiprocess mode, which needs
PROMETHEUS_MULTIPROC_DIR to name an empty directory before the worker starts
(./start-platform.sh and the container image set it). Without it, only the
main process's own counts are served.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

FINISHED = Counter(
    "crucible_evaluations_finished_total",
    "Evaluations brought to a terminal status by a worker, by status and outcome.",
    ["status", "outcome"],
)
QUEUE_WAIT = Histogram("crucible_queue_wait_seconds", "From queued to running.", buckets=_SECONDS)
RUN_TIME = Histogram(
    "crucible_run_seconds", "Time the program ran in its sandbox.", buckets=_SECONDS
)
RETRIES = Counter("crucible_retries_total", "Platform faults retried.")
DEAD_LETTERS = Counter("crucible_dead_letters_total", "Evaluations the platform gave up on.")


def serve(port: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        start_http_server(port, registry=registry)
    else:
        start_http_server(port)
