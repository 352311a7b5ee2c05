"""What storage's reads and writes cost as the store grows: `uv run python -m bench.backlog`.

For each backend (SQLite, PostgreSQL, and the in-memory document backend that
stands for `file` and `s3`, whose index and counters are the same), the store
is filled to each size with queued evaluations inserted in batches, a few
hundred of them finished within the hour so that statistics have timings to
work on, and then one insert, one get, one page of a list, one count by status
and one `/statistics` report are timed, each several times (the median is
reported). In-process calls on the backends: what is measured is the store's
cost, not HTTP's.
"""

import argparse
import json
import os
import statistics as stats
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.run import machine
from crucible_shared.lifecycle import EvaluationStatus, Outcome
from crucible_shared.schemas.evaluations import Evaluation, EvaluationFilter, OwnedSubmission
from crucible_storage import rules, statistics
from crucible_storage.backends.base import StorageBackend
from crucible_storage.backends.database import DatabaseBackend
from crucible_storage.backends.documents import DocumentBackend
from crucible_storage.db.engine import create_database_engine
from crucible_storage.migrate import upgrade_to_head
from crucible_storage.objects.memory import MemoryObjects
from tests.support.servers import postgres_server

_RESULTS = Path(__file__).parent / "results"
_BATCH = 1000
_FINISHED = 300
_REPEATS = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", default="0,100000", help="comma-separated store sizes (evaluations)"
    )
    parser.add_argument("--backends", default="sqlite,postgresql,memory")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    report: dict[str, Any] = {
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "sizes": sizes,
        "backends": {},
    }
    for name in arguments.backends.split(","):
        with _backend(name) as backend:
            report["backends"][name] = _measure(backend, sizes)
    report["load_average_after"] = os.getloadavg()
    _RESULTS.mkdir(exist_ok=True)
    path = _RESULTS / f"backlog-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["backends"], indent=2))
    print(f"written to {path}")


@contextmanager
def _backend(name: str) -> Iterator[StorageBackend]:
    if name == "memory":
        yield DocumentBackend("memory", MemoryObjects())
        return
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield _database(f"sqlite:///{directory}/crucible.db")
        return
    with postgres_server() as server:
        yield _database(server.create_database("backlog"))


def _database(url: str) -> DatabaseBackend:
    engine = create_database_engine(url)
    upgrade_to_head(engine)
    return DatabaseBackend(engine)


def _measure(backend: StorageBackend, sizes: list[int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    stored = 0
    for size in sorted(sizes):
        began = time.perf_counter()
        while stored < size:
            batch = min(_BATCH, size - stored)
            backend.insert([_evaluation() for _ in range(batch)])
            stored += batch
        fill_seconds = time.perf_counter() - began
        if size:
            _finish_some(backend)
        results[str(size)] = {"fill_seconds": round(fill_seconds, 2), **_costs(backend)}
        stored = backend.totals()[0]
        print(f"{backend.name} at {size}: {results[str(size)]}", flush=True)
    return results


def _costs(backend: StorageBackend) -> dict[str, float]:
    probe = _evaluation()
    backend.insert([probe])
    queued = EvaluationFilter(status=EvaluationStatus.QUEUED)
    return {
        "insert_ms": _median_ms(lambda: backend.insert([_evaluation()])),
        "get_ms": _median_ms(lambda: backend.get(probe.id)),
        "page_ms": _median_ms(lambda: backend.page(queued, limit=50, cursor=None)),
        "count_queued_ms": _median_ms(lambda: backend.count(queued)),
        "statistics_ms": _median_ms(lambda: _statistics(backend)),
    }


def _statistics(backend: StorageBackend) -> None:
    # What StorageService.statistics does, without its cache and Redis.
    now = datetime.now(UTC)
    statistics.report(backend.tallies(), backend.timings(now - statistics.WINDOW), now)


def _finish_some(backend: StorageBackend) -> None:
    """Finished ones in the window, as a busy hour leaves them: the timings' work."""
    for _ in range(_FINISHED):
        evaluation = _evaluation()
        now = datetime.now(UTC)
        backend.insert(
            [
                evaluation.model_copy(
                    update={
                        "status": EvaluationStatus.COMPLETED,
                        "outcome": Outcome.SUCCESS,
                        "started_at": now - timedelta(seconds=1),
                        "finished_at": now,
                    }
                )
            ]
        )


def _evaluation() -> Evaluation:
    return rules.new_evaluation(OwnedSubmission(code="print(1)"), datetime.now(UTC))


def _median_ms(call: Callable[[], object]) -> float:
    spans = []
    for _ in range(_REPEATS):
        began = time.perf_counter()
        call()
        spans.append((time.perf_counter() - began) * 1000)
    return round(stats.median(spans), 3)


if __name__ == "__main__":
    main()
