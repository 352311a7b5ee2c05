"""Pins the worker's Celery wiring: task names, queues and delivery guarantees."""

from crucible_shared.queues import (
    DISPATCH_TASK,
    MAINTENANCE_QUEUE,
    PURGE_DELETED_TASK,
    QUEUES_BY_PRIORITY,
)
from crucible_worker.celery_app.app import app
from crucible_worker.evaluations import retry_delay


def test_registered_tasks() -> None:
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == {DISPATCH_TASK, PURGE_DELETED_TASK}


def test_beat_schedules_the_purge_on_the_maintenance_queue() -> None:
    (entry,) = app.conf.beat_schedule.values()
    assert (entry["task"], entry["options"]["queue"]) == (PURGE_DELETED_TASK, MAINTENANCE_QUEUE)


def test_queues_in_priority_order() -> None:
    assert QUEUES_BY_PRIORITY == ("high", "normal", "low")
    assert [q.name for q in app.conf.task_queues] == ["high", "normal", "low"]
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"


def test_a_killed_worker_does_not_lose_its_evaluation() -> None:
    assert app.conf.task_acks_late
    assert app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1


def test_retry_delay_grows_and_is_capped() -> None:
    for retries in range(10):
        delay = retry_delay(retries, base_seconds=1.0)
        assert 0 <= delay <= min(2**retries, 60)
