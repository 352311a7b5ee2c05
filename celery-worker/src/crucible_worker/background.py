"""What a worker's main process does beside running tasks: beat, and reap.

Started when the worker is ready and stopped when it shuts down, through
Celery's signals; the pool's children never run it.
"""

import logging
import threading
import time
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from crucible_shared import redis_keys
from crucible_shared.lifecycle import Priority
from crucible_shared.queues import queue_for
from crucible_shared.redis_client import bounded_redis
from crucible_shared.storage_client import StorageClient
from crucible_worker import metrics
from crucible_worker.celery_app.app import app
from crucible_worker.evaluations import dispatch, settings
from crucible_worker.reaper import Reaper

log = logging.getLogger(__name__)

_stop = threading.Event()


def _send_dispatch(priority: Priority, count: int) -> None:
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            dispatch.apply_async(queue=queue_for(priority), producer=producer)


def _loop(hostname: str) -> None:
    current = settings()
    redis = bounded_redis(current.pool_redis_url)
    broker = bounded_redis(current.broker_url)
    reaper = Reaper(current, StorageClient(current), redis, broker, _send_dispatch, hostname)
    while not _stop.wait(current.reaper_interval_seconds):
        try:
            redis.zadd(redis_keys.WORKERS, {hostname: time.time()})
            reaper.reap_once()
        except Exception:  # storage or Redis away: the next round tries again
            log.exception("worker background round failed")


@worker_ready.connect
def _start(sender: Any, **_: Any) -> None:
    hostname = sender.hostname
    if settings().worker_metrics_port:
        metrics.serve(settings().worker_metrics_port)
    bounded_redis(settings().pool_redis_url).zadd(redis_keys.WORKERS, {hostname: time.time()})
    threading.Thread(
        target=_loop, args=(hostname,), name="crucible-background", daemon=True
    ).start()


@worker_shutdown.connect
def _stop_loop(sender: Any, **_: Any) -> None:
    _stop.set()
    bounded_redis(settings().pool_redis_url).zrem(redis_keys.WORKERS, sender.hostname)
