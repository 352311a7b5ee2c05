"""Programs that try to exhaust what the sandbox gives them: processes, memory, CPU, output, disk.

Each attack runs on a real executor of each backend; after it, the host must
hold nothing of the run and the same executor must serve the next one.
"""

import hashlib
import json
import signal

import pytest

from crucible_shared import limits
from crucible_shared.lifecycle import Outcome
from tests.hostile.conftest import Target, new_marker, tag

pytestmark = pytest.mark.hostile

FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def test_fork_bomb(executor: Target) -> None:
    run = executor.run(FORK_BOMB, timeout_seconds=3)

    assert run.result.outcome == Outcome.TIMEOUT
    assert 1 < run.processes_seen <= limits.SANDBOX_MAX_PROCESSES
    executor.assert_unharmed()


MEMORY_BOMB = """
hoard = []
while True:
    hoard.append(b'x' * (8 * 1024 * 1024))
"""


def test_memory_bomb(executor: Target) -> None:
    run = executor.run(MEMORY_BOMB, memory_mb=128, timeout_seconds=30)

    assert run.result.outcome == Outcome.MEMORY_EXCEEDED
    assert run.result.exit_code == 128 + signal.SIGKILL
    executor.assert_unharmed()


CPU_SPIN = """
import os
for _ in range(3):
    os.fork()
while True:
    pass
"""


def test_cpu_spin_in_every_process_it_can_make(executor: Target) -> None:
    run = executor.run(CPU_SPIN, timeout_seconds=2)

    assert run.result.outcome == Outcome.TIMEOUT
    assert run.processes_seen > 1
    executor.assert_unharmed()


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_hundred_megabytes_of_output(executor: Target, stream: str) -> None:
    quiet = "stderr" if stream == "stdout" else "stdout"
    code = (
        "import sys\n"
        "block = 'x' * (1024 * 1024)\n"
        "for _ in range(100):\n"
        f"    sys.{stream}.write(block)\n"
        f"sys.{stream}.flush()\n"
        # Reached only if the flood was let through to its end.
        f"print('survived', file=sys.{quiet}, flush=True)\n"
    )
    result = executor.run(code, timeout_seconds=60).result

    assert result.outcome == Outcome.OUTPUT_LIMIT_EXCEEDED
    flooded = result.stdout if stream == "stdout" else result.stderr
    assert flooded == "x" * limits.DEFAULT_OUTPUT_LIMIT_BYTES
    assert (result.stdout_truncated, result.stderr_truncated) == (
        stream == "stdout",
        stream == "stderr",
    )
    assert "survived" not in result.stdout + result.stderr
    executor.assert_unharmed()


FILL_EVERY_WRITABLE_PLACE = """
import errno, json, os
block = b'x' * (1024 * 1024)
report = {}
for place in ('/tmp', '/dev/shm', '/dev', '/', '/sandbox', '/var/tmp', '/run'):
    written, n, why = 0, 0, 'no error'
    try:
        while written < 1024:
            # Files of 8 MiB: under the per-file cap, so only space can stop it.
            with open(os.path.join(place, f'fill-{n}'), 'wb') as f:
                for _ in range(8):
                    f.write(block)
                    f.flush()
                    written += 1
            n += 1
    except OSError as exc:
        why = errno.errorcode.get(exc.errno, str(exc.errno))
    report[place] = [written, why]
print(json.dumps(report))
"""


def test_filling_the_scratch_disk(executor: Target) -> None:
    result = executor.run(FILL_EVERY_WRITABLE_PLACE, memory_mb=512, timeout_seconds=60).result

    assert result.outcome == Outcome.SUCCESS, result.stderr
    report = {place: (mib, why) for place, (mib, why) in json.loads(result.stdout).items()}
    # /tmp is the scratch: full at its size, and nowhere else is bigger than it.
    assert report["/tmp"] == (limits.SANDBOX_SCRATCH_BYTES // limits.MIB, "ENOSPC")
    for place, (mib, why) in report.items():
        assert why != "no error", f"{place} took {mib} MiB without complaint"
        assert mib * limits.MIB <= limits.SANDBOX_SCRATCH_BYTES, report

    leftover = executor.run("import os; print(sorted(os.listdir('/tmp')))").result
    assert leftover.stdout == "[]\n", "the scratch outlived its run"
    executor.assert_unharmed()


def test_deep_recursion(executor: Target) -> None:
    result = executor.run("def f(n):\n    return f(n + 1)\nf(0)\n").result

    assert result.outcome == Outcome.ERROR
    assert result.stderr.rstrip().endswith("RecursionError: maximum recursion depth exceeded")
    executor.assert_unharmed()


def test_deep_recursion_past_the_guard(executor: Target) -> None:
    # Python 3.11 keeps pure-Python frames on the heap: with the guard lifted,
    # the recursion grows until the memory limit stops it.
    code = "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1)\nf(0)\n"
    result = executor.run(code, memory_mb=128, timeout_seconds=60).result

    assert result.outcome == Outcome.MEMORY_EXCEEDED
    executor.assert_unharmed()


def test_stdin_at_its_bound(executor: Target) -> None:
    stdin = ("0123456789abcde\n" * (limits.MAX_STDIN_BYTES // 16))[: limits.MAX_STDIN_BYTES]
    code = (
        "import hashlib, sys\n"
        "data = sys.stdin.buffer.read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n"
    )
    result = executor.run(code, stdin=stdin).result

    assert result.outcome == Outcome.SUCCESS
    assert result.stdout == f"{len(stdin)} {hashlib.sha256(stdin.encode()).hexdigest()}\n"
    executor.assert_unharmed()


def test_a_mebibyte_of_code(executor: Target) -> None:
    # As many statements as fit in the bound once tagged: the compiler gets all of it.
    head, statement, tail = "n = 0\n", "n += 1\n", "print(n)\n"
    room = limits.MAX_CODE_BYTES - len(tag(head + tail, new_marker()).encode())
    count, padding = divmod(room, len(statement))
    code = head + statement * count + tail + "#" * padding

    assert len(tag(code, new_marker()).encode()) == limits.MAX_CODE_BYTES
    result = executor.run(code, timeout_seconds=60).result

    assert result.outcome == Outcome.SUCCESS, result.stderr[-500:]
    assert result.stdout == f"{count}\n"
    executor.assert_unharmed()
