"""The load table: 10, 20, 50 and 100 evaluations submitted at once, with the CPU and
memory of every service sampled from /proc meanwhile.

    uv run python -m bench.load [--backend process|docker] [--quick]

Writes bench/results/load-<timestamp>.json and prints the tables that
docs/testing/performance-metrics.md quotes.
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.client import PlatformClient
from bench.run import RESULTS, engine_host, machine
from bench.scenarios import auth_headers, closed_loop
from bench.services import ServiceSampler
from tests.support.platform import Platform, local_platform

LEVELS = (10, 20, 50, 100)
_QUICK_LEVELS = (10, 20)
_WARM_UP_RUNS = 3
# Between levels: the last evaluations' stores and the services' idle housekeeping settle.
_SETTLE_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    parser.add_argument("--quick", action="store_true", help=f"only {_QUICK_LEVELS}")
    args = parser.parse_args()
    levels = _QUICK_LEVELS if args.quick else LEVELS
    if args.backend == "docker":
        os.environ["DOCKER_HOST"] = engine_host()

    report: dict[str, Any] = {
        "backend": args.backend,
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "levels": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="crucible-load-") as state_dir,
        local_platform(Path(state_dir), CRUCIBLE_EXECUTOR_BACKEND=args.backend) as platform,
    ):
        report["levels"] = asyncio.run(_measure(platform, levels))
    report["load_average_after"] = os.getloadavg()

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    _print_tables(report)
    print(f"\nwrote {path}")


async def _measure(platform: Platform, levels: tuple[int, ...]) -> list[dict[str, Any]]:
    measured = []
    async with PlatformClient(platform.front_door_url, auth_headers(platform)) as client:
        for _ in range(_WARM_UP_RUNS):
            await client.run()
        for count in levels:
            await asyncio.sleep(_SETTLE_SECONDS)
            print(f"{count} at once...", flush=True)
            sampler = ServiceSampler(platform.state_dir)
            sampler.start()
            result, _ = await closed_loop(client, count, count)
            usage = sampler.stop()
            measured.append({**asdict(result), "services": [asdict(row) for row in usage]})
    return measured


def _print_tables(report: dict[str, Any]) -> None:
    before, after = report["load_average_before"][0], report["load_average_after"][0]
    print(f"\nbackend {report['backend']}, {report['machine']['cores']} cores, ", end="")
    print(f"load average (1 min) {before:.2f} before, {after:.2f} after")
    print("\n| at once | succeeded | p50 | p95 | all done in |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for level in report["levels"]:
        latency = level["latency"] or {}
        rate = 100 * level["succeeded"] / level["attempted"]
        print(
            f"| {level['concurrency']} | {level['succeeded']}/{level['attempted']} ({rate:.0f} %) "
            f"| {_seconds(latency.get('p50_ms'))} | {_seconds(latency.get('p95_ms'))} "
            f"| {level['elapsed_seconds']:.1f} s |"
        )
    services = [row["service"] for row in report["levels"][0]["services"]]
    print("\nCPU (% of one core, mean over the level) and memory (RSS, mean / peak MiB):\n")
    print(
        "| service | "
        + " | ".join(f"{level['concurrency']} at once" for level in report["levels"])
        + " |"
    )
    print("| --- |" + " ---: |" * len(report["levels"]))
    for service in services:
        cells = []
        for level in report["levels"]:
            row = next(row for row in level["services"] if row["service"] == service)
            cell = (
                f"{row['cpu_percent']:.0f} %, {row['rss_mean_mib']:.0f} / {row['rss_peak_mib']:.0f}"
            )
            cells.append(cell)
        print(f"| {service} | " + " | ".join(cells) + " |")
    reaped = [
        next(row for row in level["services"] if row["service"] == "executor-service")
        for level in report["levels"]
    ]
    print(
        "| sandboxes (reaped by the executor) | "
        + " | ".join(f"{row['reaped_cpu_percent']:.0f} %" for row in reaped)
        + " |"
    )


def _seconds(milliseconds: float | None) -> str:
    return "" if milliseconds is None else f"{milliseconds / 1000:.2f} s"


if __name__ == "__main__":
    main()
