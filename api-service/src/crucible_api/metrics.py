"""The API's Prometheus metrics; queue-wide gauges are read from Redis at scrape time."""

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from starlette.responses import Response

from crucible_shared.schemas.queue import QueueOverview

SUBMISSIONS = Counter(
    "crucible_submissions_total", "Evaluations accepted, by priority.", ["priority"]
)
QUEUE_DEPTH = Gauge("crucible_queue_depth", "Evaluations waiting, by priority.", ["priority"])
WORKERS_ONLINE = Gauge("crucible_workers_online", "Workers that beat recently.")
SLOTS_TOTAL = Gauge("crucible_executor_slots_total", "Capacity of the live executors.")
LEASES_HELD = Gauge("crucible_leases_held", "Executor slots claimed by workers.")
LEASE_DOUBLE_RELEASES = Gauge(
    "crucible_lease_double_releases",
    "Lease releases that found nothing to release, since the pool Redis started.",
)


def render(overview: QueueOverview | None) -> Response:
    if overview is not None:
        for priority, depth in overview.depths.items():
            QUEUE_DEPTH.labels(priority.value).set(depth)
        WORKERS_ONLINE.set(overview.workers_online)
        SLOTS_TOTAL.set(overview.slots_total)
        LEASES_HELD.set(overview.leases_held)
        LEASE_DOUBLE_RELEASES.set(overview.lease_double_releases)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
