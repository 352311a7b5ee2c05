"""Keeps a lease alive while its evaluation runs."""

import logging
import threading
from types import TracebackType

from crucible_worker.pool.leases import ExecutorPool, Lease

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the lease in the background, and releases it on leaving."""

    def __init__(self, pool: ExecutorPool, lease: Lease, ttl_seconds: float) -> None:
        self._pool = pool
        self._lease = lease
        self._interval = ttl_seconds / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self._lease

    def __exit__(
        self, _: type[BaseException] | None, __: BaseException | None, ___: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.release_lease(self._lease)

    def _renew(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self._pool.renew_lease(self._lease):
                    log.warning("lease for %s was lost", self._lease.evaluation_id)
                    return
            except Exception:  # a Redis blip must not end the run; the next beat retries
                log.exception("renewing the lease for %s failed", self._lease.evaluation_id)
