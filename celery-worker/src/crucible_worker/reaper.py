"""Finds what the platform lost track of, and puts it back on its way.

Storage is the truth; Redis holds the ready queue, the leases and the
dispatch messages, and any of them can be lost (a process killed between
two steps, a Redis restarted without persistence). Each round, one worker:

- requeues a run whose lease is gone (its executor renews the lease while
  the sandbox lives, so a missing lease means no sandbox runs it any more),
  through storage's `requeue`, which spends the attempt, or fails it once
  every attempt is spent;
- puts back what a worker took from the ready queue but never claimed;
- queues again what storage has queued lately but the ready queue lacks
  (its submitter died between storing and queueing), looking at each
  evaluation once, when it is `requeue_unqueued_after_seconds` old;
- fills the ready queue from storage after the pool Redis lost it;
- sends dispatch messages when fewer wait than evaluations.

Every step costs what it finds, not the size of the backlog.
"""

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from redis import Redis

from crucible_shared import limits, redis_keys
from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.pool.leases import ExecutorPool
from crucible_shared.pool.ready import ReadyQueue, Where
from crucible_shared.queues import QUEUES_BY_PRIORITY
from crucible_shared.schemas.commands import RequeueCommand
from crucible_shared.schemas.evaluations import EvaluationFilter, EvaluationSummary
from crucible_shared.settings import WorkerSettings
from crucible_shared.storage_client import StorageClient, TransitionRefused
from crucible_worker import metrics

log = logging.getLogger(__name__)

SendDispatch = Callable[[Priority, int], None]
# Overlap between one round's look at what was queued lately and the next's,
# for clocks that differ between the services by up to this much.
_CLOCK_MARGIN = timedelta(seconds=5)


class Reaper:
    def __init__(
        self,
        settings: WorkerSettings,
        storage: StorageClient,
        redis: Redis,
        broker: Redis,
        send_dispatch: SendDispatch,
        name: str,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._redis = redis
        self._pool = ExecutorPool(redis, settings.lease_ttl_seconds)
        self._ready = ReadyQueue(redis)
        self._broker = broker
        self._send = send_dispatch
        self._name = name

    def reap_once(self) -> list[str]:
        """The ids requeued, queued again or failed this round; none if another worker reaps."""
        lock_ms = int(self._settings.reaper_interval_seconds * 1000)
        if not self._redis.set(redis_keys.REAPER_LOCK, self._name, nx=True, px=lock_ms):
            return []
        touched = self._lost_runs() + self._lost_claims() + self._unqueued()
        self._top_up()
        return touched

    def _lost_runs(self) -> list[str]:
        stale_before = datetime.now(UTC) - timedelta(seconds=self._settings.lease_ttl_seconds)
        lost = []
        for status in (EvaluationStatus.PROVISIONING, EvaluationStatus.RUNNING):
            for evaluation in self._listed(EvaluationFilter(status=status)):
                changed = evaluation.updated_at or evaluation.queued_at
                if changed > stale_before or self._pool.is_held(evaluation.id):
                    continue
                log.warning("evaluation %s lost its run; requeueing it", evaluation.id)
                command = RequeueCommand(
                    attempt=evaluation.attempts,
                    reason="its worker or executor was lost",
                    max_attempts=self._settings.max_retries + 1,
                )
                try:
                    summary = self._storage.requeue(evaluation.id, command)
                except TransitionRefused:
                    continue  # it moved on by itself meanwhile
                if summary.status is EvaluationStatus.QUEUED:
                    self._queue(summary, "front")
                    metrics.RETRIES.inc()
                else:
                    metrics.FINISHED.labels("failed", "").inc()
                    metrics.DEAD_LETTERS.inc()
                lost.append(evaluation.id)
        return lost

    def _lost_claims(self) -> list[str]:
        restored = []
        for evaluation_id in self._ready.lost_in_claiming():
            evaluation = self._storage.get_evaluation(evaluation_id)
            if evaluation.status is EvaluationStatus.QUEUED:
                log.warning(
                    "evaluation %s was taken but never claimed; back in line", evaluation_id
                )
                self._queue(evaluation, "front")
                restored.append(evaluation_id)
        return restored

    def _unqueued(self) -> list[str]:
        """Queued in storage and in no ready line: lately (each looked at once), or
        all of them when the pool Redis has lost its ready queue."""
        now = datetime.now(UTC)
        until = now - timedelta(seconds=self._settings.requeue_unqueued_after_seconds)
        where = EvaluationFilter(status=EvaluationStatus.QUEUED, queued_until=until)
        refill = not self._ready.has_epoch()
        if not refill:
            checked = self._redis.get(redis_keys.REAPER_CHECKED_UNTIL)
            if checked is not None:
                since = datetime.fromtimestamp(float(checked), UTC) - _CLOCK_MARGIN
                where = where.model_copy(update={"queued_since": since})
        resent = []
        page: list[EvaluationSummary] = []
        for evaluation in self._listed(where):
            page.append(evaluation)
            if len(page) == limits.LIST_PAGE_SIZE.maximum:
                resent += self._queue_missing(page)
                page = []
        resent += self._queue_missing(page)
        if refill:
            # What runs now, and what is queued after `until`, is in the ready
            # queue already or will be looked at by a later round.
            self._ready.mark_epoch()
            log.info("ready queue filled from storage: %s evaluations", len(resent))
        self._redis.set(redis_keys.REAPER_CHECKED_UNTIL, until.timestamp())
        return resent

    def _queue_missing(self, evaluations: list[EvaluationSummary]) -> list[str]:
        waiting = self._ready.are_waiting([e.id for e in evaluations])
        missing = [e for e, present in zip(evaluations, waiting, strict=True) if not present]
        for evaluation in missing:
            log.warning("evaluation %s is queued in no ready line; queueing it", evaluation.id)
            self._queue(evaluation, "back")
        return [e.id for e in missing]

    def _top_up(self) -> None:
        """Dispatch messages can be lost with the broker; one missing leaves an evaluation
        waiting for nobody. Sending too many costs a worker a look at an empty queue."""
        with self._broker.pipeline(transaction=False) as pipe:
            for queue in QUEUES_BY_PRIORITY:
                pipe.llen(queue)
            messages = sum(pipe.execute())
        missing = self._ready.waiting() - messages
        if missing > 0:
            log.warning("%s evaluations wait with no dispatch message; sending them", missing)
            self._send(Priority.HIGH, missing)

    def _queue(self, evaluation: EvaluationSummary, where: Where) -> None:
        added = self._ready.enqueue(
            [evaluation.id], owner=evaluation.owner, priority=evaluation.priority, where=where
        )
        if added:
            self._send(evaluation.priority, added)

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
