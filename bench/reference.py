"""Runs bench/epicbox_reference.py in the environment epicbox needs, and reads its answer."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.stats import LatencySummary

_SCRIPT = Path(__file__).with_name("epicbox_reference.py")
# epicbox 1.1 predates urllib3 2, docker 7 and requests 2.32; uv caches the environment.
_ENVIRONMENT = ["epicbox==1.1.0", "urllib3<2", "docker<7", "requests<2.32"]
_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class ReferenceResult:
    latency: LatencySummary
    successes: int
    throughput_runs: int
    throughput_successes: int
    throughput_per_second: float


def measure_epicbox(
    image: str, runs: int, parallelism: int, env: dict[str, str]
) -> ReferenceResult:
    command = ["uv", "run", "--no-project", "--quiet"]
    for requirement in _ENVIRONMENT:
        command += ["--with", requirement]
    command += ["python", str(_SCRIPT), image, str(runs), str(parallelism)]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the epicbox reference failed ({done.returncode})")
    # epicbox logs on stdout too; the answer is the last line.
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return ReferenceResult(
        latency=LatencySummary.of(answer["seconds"]),
        successes=answer["successes"],
        throughput_runs=answer["throughput_runs"],
        throughput_successes=answer["throughput_successes"],
        throughput_per_second=answer["throughput_per_second"],
    )
