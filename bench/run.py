"""The benchmark: the floor, Crucible end to end, and epicbox, side by side, in one run.

    uv run python -m bench.run --quick        docker backend and epicbox, fewer runs
    uv run python -m bench.run                both backends and epicbox, more runs each

Writes bench/results/<timestamp>.json and .png, and prints the ratios that
docs/performance.md quotes. Run it on a quiet machine: it prints the load
average before and after, because other work on the cores shows in every number.
"""

import argparse
import asyncio
import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from bench.chart import draw
from bench.client import PlatformClient
from bench.floor import BackendName, measure_floor
from bench.reference import ReferenceResult, measure_epicbox
from bench.scenarios import (
    auth_headers,
    closed_loop,
    stages,
    submission_rate,
    throughput,
)
from bench.workload import PYTHON_IMAGE
from tests.support.platform import REPO, Platform, local_platform

RESULTS = Path(__file__).with_name("results")
# The first runs after a start are slower (cold worker processes): not measured.
_WARM_UP_RUNS = 3
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Sizes:
    floor_sequential: int
    floor_throughput: int
    end_to_end: dict[int, int]  # concurrency: evaluations
    throughput: int
    submissions: int
    epicbox_runs: int


QUICK = Sizes(8, 10, {1: 8, 10: 20, 50: 50}, 30, 40, 8)
FULL = Sizes(40, 100, {1: 40, 10: 100, 50: 150}, 200, 300, 40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs; docker backend only")
    parser.add_argument(
        "--backends", help="comma-separated: process,docker (default: both; docker with --quick)"
    )
    parser.add_argument(
        "--capacity", type=int, default=2, help="executor slots and worker processes (default 2)"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    backends: list[BackendName] = []
    for name in (args.backends or ("docker" if args.quick else "process,docker")).split(","):
        if name not in ("process", "docker"):
            parser.error(f"unknown backend {name!r}")
        backends.append("process" if name == "process" else "docker")

    # The floor, the platform's executor and epicbox all use the one engine.
    os.environ["DOCKER_HOST"] = engine_host()
    report: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "capacity": args.capacity,
        "sizes": asdict(sizes),
        "backends": {},
    }
    for backend in backends:
        report["backends"][backend] = _bench_backend(backend, sizes, args.capacity)
    _say("epicbox", f"{sizes.epicbox_runs} runs, then as many {args.capacity} at once")
    epicbox: ReferenceResult | None = None
    try:
        epicbox = measure_epicbox(PYTHON_IMAGE, sizes.epicbox_runs, args.capacity, dict(os.environ))
        report["epicbox"] = asdict(epicbox)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        # What Crucible measured is worth keeping without the reference.
        report["epicbox"] = {"error": str(exc)}
    report["load_average_after"] = os.getloadavg()
    report["ratios"] = _ratios(report["backends"], epicbox)

    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / time.strftime("%Y%m%d-%H%M%S")
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, default=_plain) + "\n")
    draw(report, stem.with_suffix(".png"))
    _print_summary(report, stem)


def _bench_backend(backend: BackendName, sizes: Sizes, capacity: int) -> dict[str, Any]:
    _say(backend, "floor: the sandbox backend alone...")
    floor = asyncio.run(
        measure_floor(
            backend,
            sequential_runs=sizes.floor_sequential,
            throughput_runs=sizes.floor_throughput,
            parallelism=capacity,
        )
    )
    _say(backend, "starting the platform...")
    with (
        tempfile.TemporaryDirectory(prefix="crucible-bench-") as state_dir,
        local_platform(
            Path(state_dir),
            CRUCIBLE_EXECUTOR_BACKEND=backend,
            CRUCIBLE_EXECUTOR_CAPACITY=str(capacity),
            CRUCIBLE_WORKER_CONCURRENCY=str(capacity),
        ) as running,
    ):
        measured = asyncio.run(_measure_platform(running, sizes, backend))
    return {"floor": asdict(floor), **measured}


async def _measure_platform(platform: Platform, sizes: Sizes, backend: str) -> dict[str, Any]:
    async with PlatformClient(platform.front_door_url, auth_headers(platform)) as client:
        for _ in range(_WARM_UP_RUNS):
            await client.run()
        levels = {}
        for concurrency, total in sizes.end_to_end.items():
            _say(backend, f"end to end: {total} at concurrency {concurrency}...")
            result, finished = await closed_loop(client, concurrency, total)
            levels[str(concurrency)] = asdict(result)
            if concurrency == 1:
                sequential_stages = await stages(client, finished)
        _say(backend, f"throughput: {sizes.throughput} at once...")
        saturated = await throughput(client, platform, sizes.throughput)
        _say(backend, f"submissions alone: {sizes.submissions}...")
        submissions = await submission_rate(client, platform, sizes.submissions)
    return {
        "end_to_end": levels,
        "stages_ms": sequential_stages,
        "throughput": saturated,
        "submission": submissions,
    }


def _ratios(backends: dict[str, Any], epicbox: ReferenceResult | None) -> dict[str, Any]:
    ratios: dict[str, Any] = {}
    for backend, measured in backends.items():
        floor = measured["floor"]
        sequential = measured["end_to_end"]["1"]["latency"]
        fifty = measured["end_to_end"].get("50")
        ratios[backend] = {
            "end_to_end_p50_over_floor": sequential["p50_ms"] / floor["latency"]["p50_ms"],
            "throughput_over_floor": measured["throughput"]["per_second"]
            / floor["throughput_per_second"],
            "fifty_concurrent": f"{fifty['succeeded']}/{fifty['attempted']}" if fifty else None,
        }
        if epicbox is not None:
            ratios[backend] |= {
                "end_to_end_p50_over_epicbox": sequential["p50_ms"] / epicbox.latency.p50_ms,
                "floor_p50_over_epicbox": floor["latency"]["p50_ms"] / epicbox.latency.p50_ms,
                "throughput_over_epicbox": measured["throughput"]["per_second"]
                / epicbox.throughput_per_second,
            }
    return ratios


def _print_summary(report: dict[str, Any], stem: Path) -> None:
    epicbox = report["epicbox"]
    if "error" in epicbox:
        print(f"\nepicbox: {epicbox['error']}")
    else:
        print(f"\nepicbox: p50 {epicbox['latency']['p50_ms']} ms, ", end="")
        print(f"{epicbox['throughput_per_second']:.2f}/s at {report['capacity']} at once; ", end="")
        print(f"{epicbox['successes']}/{epicbox['latency']['count']} succeeded")
    for backend, measured in report["backends"].items():
        floor = measured["floor"]
        print(f"\n[{backend}] floor p50 {floor['latency']['p50_ms']} ms, ", end="")
        print(f"{floor['throughput_per_second']:.2f}/s at {floor['parallelism']} at once")
        for concurrency, level in measured["end_to_end"].items():
            latency = level["latency"] or {}
            print(
                f"  concurrency {concurrency:>2}: {level['succeeded']}/{level['attempted']} "
                f"succeeded; p50 {latency.get('p50_ms')} p95 {latency.get('p95_ms')} "
                f"p99 {latency.get('p99_ms')} ms"
            )
        print(f"  throughput {measured['throughput']['per_second']:.2f}/s; ", end="")
        submission = measured["submission"]
        print(
            f"POST alone p50 {submission['latency']['p50_ms']} ms, "
            f"{submission['per_second']:.0f} requests/s"
        )
        print(f"  stages (median ms, concurrency 1): {measured['stages_ms']}")
        cpu = measured["throughput"]["cpu_ms_per_evaluation"]
        print(f"  CPU ms per evaluation at saturation: {cpu}")
        for name, value in report["ratios"][backend].items():
            shown = f"{value:.2f}" if isinstance(value, float) else value
            print(f"  {name}: {shown}")
    load = report["load_average_before"][0], report["load_average_after"][0]
    print(f"\nload average (1 min) before {load[0]:.2f}, after {load[1]:.2f}")
    print(f"wrote {stem}.json and {stem}.png")


def _say(what: str, message: str) -> None:
    print(f"{time.monotonic() - _STARTED:6.1f} s [{what}] {message}", flush=True)


def _plain(value: object) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def engine_host() -> str:
    script = REPO / "scripts" / "container-engine.sh"
    done = subprocess.run(
        [str(script), "executor-images"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    def output(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "podman": output("podman", "--version"),
        "commit": output("git", "-C", str(REPO), "rev-parse", "--short", "HEAD"),
    }


if __name__ == "__main__":
    main()
