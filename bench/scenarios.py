"""Ways of loading the platform, shared by the benchmark and the load measurement."""

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from statistics import median
from typing import Any

import httpx

from bench.client import BenchError, Finished, PlatformClient, Submitted, epoch_seconds
from bench.services import ServiceSampler
from bench.stats import LatencySummary
from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus
from tests.support.platform import Platform

# Faults a benchmark counts as a failed evaluation rather than stopping for.
_FAILURES = (BenchError, httpx.HTTPError, TimeoutError)
_SUBMIT_CONCURRENCY = 10


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    attempted: int
    terminal: int
    succeeded: int
    elapsed_seconds: float
    latency: LatencySummary | None  # submission to terminal status, of the terminal ones
    submission: LatencySummary | None  # the POST alone
    errors: list[str]


def auth_headers(platform: Platform) -> dict[str, str]:
    """Headers every request carries: a researcher's key, with quotas no benchmark reaches
    (the defaults would refuse the eleventh evaluation in flight, and the sixty-first a minute)."""
    key = platform.new_key(
        "researcher",
        "benchmark",
        f"--max-running={limits.MAX_RUNNING_PER_KEY.maximum}",
        f"--submissions-per-minute={limits.SUBMISSIONS_PER_MINUTE.maximum}",
    )
    return {"Authorization": f"Bearer {key}"}


async def closed_loop(
    client: PlatformClient, concurrency: int, total: int
) -> tuple[LoadResult, list[Finished]]:
    """`concurrency` clients, each submitting the next evaluation once its last is terminal."""
    finished: list[Finished] = []
    submitted: list[Submitted] = []
    errors: list[str] = []

    async def one_evaluation() -> None:
        try:
            item = await client.submit()
            submitted.append(item)
            finished.append(await client.wait(item))
        except _FAILURES as exc:
            errors.append(repr(exc))

    begin = time.perf_counter()
    await _in_parallel(one_evaluation, total, concurrency)
    elapsed = time.perf_counter() - begin
    result = LoadResult(
        concurrency=concurrency,
        attempted=total,
        terminal=len(finished),
        succeeded=sum(item.succeeded for item in finished),
        elapsed_seconds=round(elapsed, 2),
        latency=_summary([item.latency_seconds for item in finished]),
        submission=_summary([item.post_seconds for item in submitted]),
        errors=errors,
    )
    return result, finished


async def submit_many(client: PlatformClient, count: int) -> list[Submitted]:
    """`count` submissions, a few at a time, as fast as the API takes them."""
    submitted: list[Submitted] = []

    async def one_submission() -> None:
        submitted.append(await client.submit())

    await _in_parallel(one_submission, count, _SUBMIT_CONCURRENCY)
    return submitted


async def throughput(client: PlatformClient, platform: Platform, count: int) -> dict[str, Any]:
    """Evaluations per second with the queue never empty: `count` submitted at once,
    from the first submission to the last terminal status; and what each
    evaluation cost every service in CPU time meanwhile."""
    sampler = ServiceSampler(platform.state_dir)
    sampler.start()
    submitted = await submit_many(client, count)
    finished = await asyncio.gather(*(client.wait(item) for item in submitted))
    usage = sampler.stop()
    first = min(item.submitted_at for item in submitted)
    last = max(item.finished_at for item in finished)
    return {
        "runs": count,
        "succeeded": sum(item.succeeded for item in finished),
        "elapsed_seconds": round(last - first, 2),
        "per_second": count / (last - first),
        "cpu_ms_per_evaluation": {
            row.service: round(row.cpu_seconds * 1000 / count, 1) for row in usage
        }
        | {"sandboxes": round(sum(row.reaped_cpu_seconds for row in usage) * 1000 / count, 1)},
    }


async def submission_rate(client: PlatformClient, platform: Platform, count: int) -> dict[str, Any]:
    """POST /api/evaluations alone: the workers are paused meanwhile, so that the
    sandboxes do not compete with the API for the cores; they run the backlog after."""
    with workers_paused(platform):
        begin = time.perf_counter()
        submitted = await submit_many(client, count)
        elapsed = time.perf_counter() - begin
    await asyncio.gather(*(client.wait(item) for item in submitted))
    return {
        "requests": count,
        "concurrency": _SUBMIT_CONCURRENCY,
        "latency": asdict(LatencySummary.of([item.post_seconds for item in submitted])),
        "per_second": count / elapsed,
    }


async def stages(client: PlatformClient, finished: list[Finished]) -> dict[str, float]:
    """Median milliseconds of each step, from the evaluations' own history."""
    steps: dict[str, list[float]] = {}
    for item in finished:
        events = await client.events(item.submitted.id)
        at = {EvaluationStatus(event["status"]): epoch_seconds(event["at"]) for event in events}
        moments = [
            ("POST until stored", item.submitted.submitted_at, item.created_at),
            ("stored until a worker claimed a slot", item.created_at, at.get(_PROVISIONING)),
            ("slot until the sandbox started", at.get(_PROVISIONING), at.get(_RUNNING)),
            ("sandbox started until the result was stored", at.get(_RUNNING), item.finished_at),
        ]
        for name, start, end in moments:
            if start is not None and end is not None:
                steps.setdefault(name, []).append((end - start) * 1000)
    return {name: round(median(values), 1) for name, values in steps.items()}


@contextmanager
def workers_paused(platform: Platform) -> Iterator[None]:
    group = platform.pid("celery-worker")
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


_PROVISIONING = EvaluationStatus.PROVISIONING
_RUNNING = EvaluationStatus.RUNNING


async def _in_parallel(job: Callable[[], Awaitable[None]], total: int, at_once: int) -> None:
    """`total` jobs, `at_once` of them running at any time: each runner takes the next."""
    remaining = total

    async def runner() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await job()

    await asyncio.gather(*(runner() for _ in range(at_once)))


def _summary(seconds: list[float]) -> LatencySummary | None:
    return LatencySummary.of(seconds) if seconds else None
