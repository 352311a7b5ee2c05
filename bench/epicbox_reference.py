"""The outside reference: epicbox runs the same program on the same container engine.

Run in an environment of its own (epicbox 1.1 needs urllib3<2, docker<7 and
requests<2.32, older than the workspace's), by `bench.reference`:

    uv run --no-project --with epicbox==1.1.0 --with 'urllib3<2' --with 'docker<7' \
        --with 'requests<2.32' python bench/epicbox_reference.py IMAGE RUNS PARALLELISM

Prints one JSON object: the seconds of each sequential run, whether each
printed hello, and the throughput of RUNS more at PARALLELISM at once.
Imports nothing of Crucible's: it has only this environment.
"""

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import epicbox
import epicbox.exceptions
import epicbox.sandboxes
import epicbox.utils
from docker.types import Ulimit

_PROGRAM = {"name": "main.py", "content": b'print("hello")'}
_LIMITS = {"cputime": 31, "realtime": 30, "memory": 256, "processes": 64}
_WARM_UP_RUNS = 2
_create_ulimits = epicbox.utils.create_ulimits


def _ulimits_within_the_hosts(limits: dict[str, Any]) -> list[Ulimit]:
    # Podman gives a container that sets any ulimit its built-in nofile
    # (1048576), above this machine's hard limit, and the container fails to
    # start: nofile and nproc are set as Crucible's docker backend sets them.
    extra = [
        Ulimit(name="nofile", soft=1024, hard=1024),
        Ulimit(name="nproc", soft=4096, hard=4096),
    ]
    return list(_create_ulimits(limits)) + extra


def _run_once() -> tuple[float, bool]:
    begin = time.perf_counter()
    try:
        result = epicbox.run("python", "python3 main.py", files=[_PROGRAM], limits=_LIMITS)
    except epicbox.exceptions.DockerError as exc:
        # The engine's fault, counted as a failed run, as Crucible's are.
        print(f"epicbox run failed: {exc}", file=sys.stderr)
        return time.perf_counter() - begin, False
    seconds = time.perf_counter() - begin
    return seconds, result["exit_code"] == 0 and result["stdout"] == b"hello\n"


def main() -> None:
    image, runs, parallelism = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    epicbox.sandboxes.utils.create_ulimits = _ulimits_within_the_hosts
    epicbox.configure(
        profiles=[epicbox.Profile("python", image, user="65534", read_only=True)],
        docker_url=os.environ["DOCKER_HOST"],
    )
    for _ in range(_WARM_UP_RUNS):
        _run_once()
    sequential = [_run_once() for _ in range(runs)]
    with ThreadPoolExecutor(parallelism) as pool:
        begin = time.perf_counter()
        parallel = list(pool.map(lambda _: _run_once(), range(runs)))
        elapsed = time.perf_counter() - begin
    print(
        json.dumps(
            {
                "seconds": [seconds for seconds, _ in sequential],
                "successes": sum(ok for _, ok in sequential),
                "throughput_runs": runs,
                "throughput_successes": sum(ok for _, ok in parallel),
                "throughput_per_second": runs / elapsed,
            }
        )
    )


if __name__ == "__main__":
    main()
