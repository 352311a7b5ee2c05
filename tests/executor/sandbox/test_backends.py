"""What every sandbox backend guarantees, proved against each one with real programs.

Nothing here may depend on how a backend works: checks that do belong in the
backend's own test module.
"""

import asyncio
import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest

from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared import limits
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionRequest
from tests.executor.conftest import OUTPUT_LIMIT_BYTES
from tests.executor.support import (
    SLOT_UID,
    processes_with,
    run_program,
    run_program_async,
    spawn_marked_child,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_hello(backend: SandboxBackend) -> None:
    result = run_program(backend, "print('hello')")

    assert result.outcome == Outcome.SUCCESS
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    assert result.stderr == ""
    assert not result.stdout_truncated and not result.stderr_truncated


def test_exception_is_an_error_with_its_traceback(backend: SandboxBackend) -> None:
    result = run_program(backend, "raise ValueError('x')")

    assert result.outcome == Outcome.ERROR
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: x" in result.stderr


def test_exit_status_is_the_programs(backend: SandboxBackend) -> None:
    result = run_program(backend, "import sys; sys.exit(3)")

    assert result.outcome == Outcome.ERROR
    assert result.exit_code == 3


def test_infinite_loop_times_out(backend: SandboxBackend) -> None:
    started = time.monotonic()
    result = run_program(backend, "while True: pass", timeout_seconds=2)

    assert result.outcome == Outcome.TIMEOUT
    assert time.monotonic() - started < 3
    assert 2000 <= result.duration_ms < 3000


def test_timeout_kills_a_child_left_sleeping(backend: SandboxBackend) -> None:
    marker = f"crucible-test-{uuid.uuid4().hex}"

    async def run_and_watch() -> tuple[Outcome, str, bool]:
        run = asyncio.create_task(
            run_program_async(backend, spawn_marked_child(marker), timeout_seconds=1)
        )
        seen = False
        while not run.done():
            seen = seen or bool(processes_with(marker))
            await asyncio.sleep(0.05)
        result = run.result()
        return result.outcome, result.stdout, seen

    outcome, stdout, seen = asyncio.run(run_and_watch())

    assert outcome == Outcome.TIMEOUT
    assert stdout == "spawned\n"
    assert seen, "the child never showed up: the check below would prove nothing"
    assert processes_with(marker) == []


def test_cancelling_a_run_kills_the_sandbox(backend: SandboxBackend) -> None:
    marker = f"crucible-test-{uuid.uuid4().hex}"

    async def start_then_cancel() -> float:
        started = asyncio.Event()

        async def on_started() -> None:
            started.set()

        request = ExecutionRequest(
            evaluation_id="test", code=spawn_marked_child(marker), timeout_seconds=60
        )
        run = asyncio.create_task(backend.run(request, on_started, uid=SLOT_UID))
        await started.wait()
        while not processes_with(marker):
            await asyncio.sleep(0.05)
        cancelled_at = time.monotonic()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return time.monotonic() - cancelled_at

    assert asyncio.run(start_then_cancel()) < 2
    assert processes_with(marker) == []


def test_runs_side_by_side_keep_to_themselves(backend: SandboxBackend) -> None:
    async def three_at_once() -> list[str]:
        runs = [
            run_program_async(backend, f"import time; time.sleep(0.3); print({n})", stdin=str(n))
            for n in range(3)
        ]
        return [result.stdout for result in await asyncio.gather(*runs)]

    assert asyncio.run(three_at_once()) == ["0\n", "1\n", "2\n"]


def test_memory_limit(backend: SandboxBackend) -> None:
    code = "b = bytearray(1024**3)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nprint('done')"
    result = run_program(backend, code, memory_mb=256)

    assert result.outcome == Outcome.MEMORY_EXCEEDED
    assert result.exit_code != 0
    assert "done" not in result.stdout


def test_no_network(backend: SandboxBackend) -> None:
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 80), timeout=3)\n"
        "except OSError as exc:\n"
        "    print('blocked:', exc)\n"
        "else:\n"
        "    print('connected')\n"
    )
    result = run_program(backend, code)

    assert result.outcome == Outcome.SUCCESS
    assert result.stdout.startswith("blocked:"), result.stdout


def test_stdout_and_stderr_are_kept_apart(backend: SandboxBackend) -> None:
    code = (
        "import sys\n"
        "for i in range(200):\n"
        "    print('out', i, flush=True)\n"
        "    print('err', i, file=sys.stderr, flush=True)\n"
    )
    result = run_program(backend, code)

    assert result.stdout == "".join(f"out {i}\n" for i in range(200))
    assert result.stderr == "".join(f"err {i}\n" for i in range(200))


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_is_cut_at_the_cap(backend: SandboxBackend, stream: str) -> None:
    code = f"import sys\nwhile True:\n    sys.{stream}.write('x' * 1000)\n"
    started = time.monotonic()
    result = run_program(backend, code, timeout_seconds=30)

    assert time.monotonic() - started < 2
    assert result.outcome == Outcome.OUTPUT_LIMIT_EXCEEDED
    flooded, quiet = (
        (result.stdout, result.stderr) if stream == "stdout" else (result.stderr, result.stdout)
    )
    assert flooded == "x" * OUTPUT_LIMIT_BYTES
    assert quiet == ""
    assert result.stdout_truncated == (stream == "stdout")
    assert result.stderr_truncated == (stream == "stderr")


def test_output_up_to_the_cap_is_not_truncated(backend: SandboxBackend) -> None:
    result = run_program(backend, f"print('x' * {OUTPUT_LIMIT_BYTES - 1})")

    assert result.outcome == Outcome.SUCCESS
    assert len(result.stdout) == OUTPUT_LIMIT_BYTES
    assert not result.stdout_truncated


def test_stdin_is_echoed_back(backend: SandboxBackend) -> None:
    stdin = "hello from stdin\nsecond line, ünïcode\n"
    result = run_program(backend, "import sys; sys.stdout.write(sys.stdin.read())", stdin=stdin)

    assert result.stdout == stdin


def test_a_mebibyte_of_stdin_arrives_whole(backend: SandboxBackend) -> None:
    stdin = ("0123456789abcde\n" * (limits.MAX_STDIN_BYTES // 16))[: limits.MAX_STDIN_BYTES]
    code = (
        "import hashlib, sys\n"
        "data = sys.stdin.buffer.read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n"
    )
    result = run_program(backend, code, stdin=stdin)

    assert result.stdout == f"{len(stdin)} {hashlib.sha256(stdin.encode()).hexdigest()}\n"


def test_unread_stdin_does_not_block(backend: SandboxBackend) -> None:
    started = time.monotonic()
    result = run_program(backend, "print('ignored stdin')", stdin="x" * limits.MAX_STDIN_BYTES)

    assert result.outcome == Outcome.SUCCESS
    assert result.stdout == "ignored stdin\n"
    assert time.monotonic() - started < 2


_TRY_TO_READ = """
import os
path = {path!r}
try:
    if os.path.isdir(path):
        seen = os.listdir(path)
    else:
        with open(path) as f:
            seen = [f.read()]
except OSError as exc:
    print('denied', type(exc).__name__)
else:
    print('visible', seen)
"""


@pytest.mark.parametrize("path", ["/root", "/home", "/etc/shadow", str(REPO_ROOT)])
def test_host_files_are_out_of_reach(backend: SandboxBackend, path: str) -> None:
    result = run_program(backend, _TRY_TO_READ.format(path=path))

    # An empty directory of the sandbox's own (a container's /home) reveals nothing.
    assert result.stdout.startswith("denied") or result.stdout == "visible []\n", result.stdout


def test_a_secret_file_beside_the_executor_is_out_of_reach(
    backend: SandboxBackend, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    secret.chmod(0o644)

    result = run_program(backend, _TRY_TO_READ.format(path=str(secret)))

    assert result.stdout.startswith("denied"), result.stdout


def test_the_executors_environment_is_not_inherited(
    backend: SandboxBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("CRUCIBLE_TEST_API_KEY", secret)

    result = run_program(backend, "import json, os; print(json.dumps(dict(os.environ)))")

    environment = json.loads(result.stdout)
    assert "CRUCIBLE_TEST_API_KEY" not in environment
    assert secret not in result.stdout


def test_runs_as_the_slots_own_uid(backend: SandboxBackend) -> None:
    code = "import os; print(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups())"
    result = run_program(backend, code)

    *ids, groups = result.stdout.split(" ", 4)
    assert ids == [str(SLOT_UID)] * 4
    # No group but the slot's own (Podman lists the primary group there too).
    assert groups in ("[]\n", f"[{SLOT_UID}]\n")


def test_usr_is_read_only(backend: SandboxBackend) -> None:
    code = (
        "import errno\n"
        "try:\n"
        "    open('/usr/lib/crucible-probe', 'w')\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno])\n"
    )
    result = run_program(backend, code)

    assert result.stdout == "EROFS\n"


def test_scratch_is_a_small_writable_tmp(backend: SandboxBackend) -> None:
    chunk_mib = 8
    code = (
        "import errno, os\n"
        "print(os.getcwd())\n"
        "block = b'x' * (1024 * 1024)\n"
        "try:\n"
        f"    for n in range({limits.SANDBOX_SCRATCH_BYTES // limits.MIB // chunk_mib + 1}):\n"
        "        with open(f'scratch-{n}', 'wb') as f:\n"
        f"            for _ in range({chunk_mib}):\n"
        "                f.write(block)\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno])\n"
    )
    result = run_program(backend, code)

    assert result.stdout == "/tmp\nENOSPC\n", result.stderr


def test_file_size_is_capped(backend: SandboxBackend) -> None:
    code = (
        "import errno\n"
        "try:\n"
        "    with open('/tmp/big', 'wb') as f:\n"
        f"        f.write(b'x' * {limits.SANDBOX_MAX_FILE_BYTES + 1})\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno])\n"
    )
    result = run_program(backend, code)

    assert result.stdout == "EFBIG\n", result.stderr


def test_open_files_are_capped(backend: SandboxBackend) -> None:
    code = (
        "import errno\n"
        "files = []\n"
        "try:\n"
        f"    for _ in range({limits.SANDBOX_MAX_OPEN_FILES + 1}):\n"
        "        files.append(open('/dev/null'))\n"
        "except OSError as exc:\n"
        "    print(len(files), errno.errorcode[exc.errno])\n"
    )
    result = run_program(backend, code)

    opened, error = result.stdout.split()
    assert error == "EMFILE"
    assert int(opened) < limits.SANDBOX_MAX_OPEN_FILES


def test_process_count_is_capped(backend: SandboxBackend) -> None:
    code = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        f"    for _ in range({limits.SANDBOX_MAX_PROCESSES * 2}):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as exc:\n"
        "    print(children, type(exc).__name__)\n"
    )
    result = run_program(backend, code, timeout_seconds=10)

    assert result.outcome == Outcome.SUCCESS
    children, error = result.stdout.split()
    assert error == "BlockingIOError"
    assert int(children) < limits.SANDBOX_MAX_PROCESSES


def test_fork_bomb_is_contained_and_stopped(backend: SandboxBackend) -> None:
    code = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    started = time.monotonic()
    result = run_program(backend, code, timeout_seconds=2)

    assert result.outcome == Outcome.TIMEOUT
    assert time.monotonic() - started < 4
