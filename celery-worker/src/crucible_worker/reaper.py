"""Finds evaluations whose worker vanished, and puts them back on the queue.

A worker holds a lease for every evaluation it has past `queued` and renews
it while it runs. An evaluation `provisioning` or `running` with no lease,
unchanged for longer than a lease lives, has lost its worker: the broker
would give the message back only after its visibility timeout (an hour), so
the reaper requeues it now, or fails it once it has had all its attempts.

A `queued` evaluation can lose its message too: a worker that dies holds the
message it had reserved but not started, again for the visibility timeout
(and a message can be lost outright). One queued for longer than
`requeue_unqueued_after_seconds`, in no queue, with no lease and not marked
taken by a live worker (one waiting for a slot or for a retry's countdown
has the message too), is sent again; a copy that arrives second finds it
moved on and drops itself.
"""

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from redis import Redis

from crucible_shared import limits, redis_keys
from crucible_shared.broker_queues import waiting_ids
from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.schemas.evaluations import (
    EvaluationFilter,
    EvaluationSummary,
    EvaluationUpdate,
)
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
        broker: Redis,
        enqueue: Enqueue,
        name: str,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._redis = redis
        self._pool = ExecutorPool(redis, settings.lease_ttl_seconds)
        self._broker = broker
        self._enqueue = enqueue
        self._name = name
        self._next_queued_sweep = 0.0

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
        return reaped + self._resend_unqueued()

    def _resend_unqueued(self) -> list[str]:
        # A sweep reads every old queued evaluation and every waiting message:
        # twice per threshold is often enough.
        threshold = self._settings.requeue_unqueued_after_seconds
        if time.monotonic() < self._next_queued_sweep:
            return []
        self._next_queued_sweep = time.monotonic() + threshold / 2
        stale_before = datetime.now(UTC) - timedelta(seconds=threshold)
        waiting = waiting_ids(self._broker)
        resent = []
        for evaluation in self._listed(
            EvaluationFilter(status=EvaluationStatus.QUEUED, until=stale_before)
        ):
            if (
                evaluation.queued_at > stale_before
                or evaluation.id in waiting
                or self._pool.is_held(evaluation.id)
                or self._pool.is_taken(evaluation.id)
                # Once per threshold at most, however long the one sent waits.
                or not self._redis.set(
                    redis_keys.evaluation_resent(evaluation.id), 1, nx=True, ex=int(threshold) + 1
                )
            ):
                continue
            log.warning("evaluation %s is queued in no queue; sending it again", evaluation.id)
            self._enqueue(evaluation.id, evaluation.priority)
            metrics.RETRIES.inc()
            resent.append(evaluation.id)
        return resent

    def _in_flight(self) -> Iterator[EvaluationSummary]:
        for status in (EvaluationStatus.PROVISIONING, EvaluationStatus.RUNNING):
            yield from self._listed(EvaluationFilter(status=status))

    def _listed(self, where: EvaluationFilter) -> Iterator[EvaluationSummary]:
        cursor = None
        while True:
            page = self._storage.list_evaluations(
                where, limit=limits.LIST_PAGE_SIZE.maximum, cursor=cursor
            )
            yield from page.items
            if page.next_cursor is None:
                return
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
