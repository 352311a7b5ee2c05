"""Finds evaluations whose worker vanished, and puts them back on the queue.

A worker holds a lease for every evaluation it has past `queued` and renews
it while it runs. An evaluation `provisioning` or `running` with no lease,
unchanged for longer than a lease lives, has lost its worker: the broker
would give the message back only after its visibility timeout (an hour), so
the reaper requeues it now, or fails it once it has had all its attempts.
"""

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from redis import Redis

from crucible_shared import redis_keys
from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.schemas.evaluations import EvaluationSummary, EvaluationUpdate
from crucible_shared.settings import WorkerSettings
from crucible_shared.storage_client import StorageClient, TransitionRefused
from crucible_worker import metrics
from crucible_worker.pool.leases import ExecutorPool

log = logging.getLogger(__name__)

Enqueue = Callable[[str, Priority], None]


class Reaper:
    def __init__(
        self,
        settings: WorkerSettings,
        storage: StorageClient,
        redis: Redis,
        enqueue: Enqueue,
        name: str,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._redis = redis
        self._pool = ExecutorPool(redis, settings.lease_ttl_seconds)
        self._enqueue = enqueue
        self._name = name

    def reap_once(self) -> list[str]:
        """The ids requeued or failed this round; none if another worker reaps it."""
        lock_ms = int(self._settings.reaper_interval_seconds * 1000)
        if not self._redis.set(redis_keys.REAPER_LOCK, self._name, nx=True, px=lock_ms):
            return []
        stale_before = datetime.now(UTC) - timedelta(seconds=self._settings.lease_ttl_seconds)
        reaped = []
        for evaluation in self._in_flight():
            changed = evaluation.updated_at or evaluation.queued_at
            if changed > stale_before or self._pool.is_held(evaluation.id):
                continue
            try:
                self._reap(evaluation)
            except TransitionRefused:
                continue  # it moved on by itself meanwhile
            reaped.append(evaluation.id)
        return reaped

    def _in_flight(self) -> Iterator[EvaluationSummary]:
        for status in (EvaluationStatus.PROVISIONING, EvaluationStatus.RUNNING):
            cursor = None
            while True:
                page = self._storage.list_evaluations(status=status, limit=200, cursor=cursor)
                yield from page.items
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor

    def _reap(self, evaluation: EvaluationSummary) -> None:
        if evaluation.attempts > self._settings.max_retries:
            log.warning("evaluation %s lost its worker on its last attempt", evaluation.id)
            self._storage.update_evaluation(
                evaluation.id,
                EvaluationUpdate(
                    status=EvaluationStatus.FAILED,
                    dead_letter=True,
                    error=f"its worker was lost on each of {evaluation.attempts} attempts",
                ),
            )
            metrics.FINISHED.labels("failed", "").inc()
            metrics.DEAD_LETTERS.inc()
            return
        log.warning("evaluation %s lost its worker; requeueing it", evaluation.id)
        self._storage.update_evaluation(
            evaluation.id,
            EvaluationUpdate(
                status=EvaluationStatus.QUEUED, detail="reaped: the worker running it was lost"
            ),
        )
        self._enqueue(evaluation.id, evaluation.priority)
        metrics.RETRIES.inc()
