"""The process (bubblewrap) backend's own workings: cgroups, rlimits, the view from inside."""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import Redis

from crucible_executor.sandbox.backends import open_backend
from crucible_executor.sandbox.base import SandboxBackend, SandboxUnavailable
from crucible_executor.sandbox.cgroups import ExecutorCgroups
from crucible_executor.sandbox.outcome import platform_detail
from crucible_shared import limits
from crucible_shared.executor_registry import pool_status
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionResult
from crucible_shared.settings import ExecutorSettings
from tests.executor.conftest import unique_executor_id
from tests.executor.support import (
    SLOT_UID,
    executor_server,
    processes_with,
    run_program,
    run_program_async,
    spawn_marked_child,
    wait_until,
)
from tests.support.servers import RedisServer

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _settings(**overrides: object) -> ExecutorSettings:
    return ExecutorSettings.model_validate(
        {"executor_id": unique_executor_id(), "executor_backend": "process"} | overrides
    )


def _run_groups(settings: ExecutorSettings, controller: str) -> list[Path]:
    parent = CGROUP_ROOT / controller / "crucible" / settings.executor_id
    return [path for path in parent.iterdir() if path.is_dir()] if parent.exists() else []


@pytest.fixture
def settings() -> ExecutorSettings:
    return _settings()


@pytest.fixture
def process_backend(settings: ExecutorSettings) -> Iterator[SandboxBackend]:
    with open_backend(settings) as backend:
        yield backend


@dataclass
class _RunSnapshot:
    """The host's view of a run, taken while its program was sleeping."""

    memory_limit: int
    memsw_limit: int
    tcp_limit: int
    pids_max: str
    cpu_quota_us: int
    member_uids: list[int]
    bwrap_argv: list[str]
    workspace_mode: int
    program_mode: int


def _snapshot(settings: ExecutorSettings) -> _RunSnapshot | None:
    memory_groups, pids_groups = _run_groups(settings, "memory"), _run_groups(settings, "pids")
    if not memory_groups or not pids_groups:
        return None
    memory, pids = memory_groups[0], pids_groups[0]
    members = (memory / "cgroup.procs").read_text().split()
    argvs = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1] for pid in members]
    bwrap = [[arg.decode() for arg in argv] for argv in argvs if argv[0].endswith(b"bwrap")]
    # Wait for the program itself: bwrap, its init, python.
    if len(members) < 3 or not bwrap:
        return None
    workspace = Path(bwrap[0][bwrap[0].index("/sandbox") - 1])
    return _RunSnapshot(
        memory_limit=int((memory / "memory.limit_in_bytes").read_text()),
        memsw_limit=int((memory / "memory.memsw.limit_in_bytes").read_text()),
        tcp_limit=int((memory / "memory.kmem.tcp.limit_in_bytes").read_text()),
        pids_max=(pids / "pids.max").read_text().strip(),
        cpu_quota_us=int((_run_groups(settings, "cpu")[0] / "cpu.cfs_quota_us").read_text()),
        member_uids=[_host_uid(int(pid)) for pid in members],
        bwrap_argv=bwrap[0],
        workspace_mode=workspace.stat().st_mode & 0o777,
        program_mode=(workspace / "main.py").stat().st_mode & 0o777,
    )


def _host_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def test_each_run_gets_cgroups_and_a_workspace_that_are_removed_after(
    settings: ExecutorSettings, process_backend: SandboxBackend
) -> None:
    async def run_and_look() -> tuple[ExecutionResult, _RunSnapshot]:
        run = asyncio.create_task(
            run_program_async(process_backend, "import time; time.sleep(1)", memory_mb=128)
        )
        while (snapshot := _snapshot(settings)) is None:
            assert not run.done(), "the run ended before it could be seen"
            await asyncio.sleep(0.02)
        return await run, snapshot

    result, seen = asyncio.run(run_and_look())

    assert result.outcome == Outcome.SUCCESS
    assert seen.memory_limit == seen.memsw_limit == seen.tcp_limit == 128 * limits.MIB
    assert seen.pids_max == str(limits.SANDBOX_MAX_PROCESSES)
    # One core's worth a period, however many processes share it.
    assert seen.cpu_quota_us == 100_000 * limits.SANDBOX_CPU_CORES
    # Not root outside the sandbox either: setpriv dropped the whole chain to the slot's uid.
    assert set(seen.member_uids) == {SLOT_UID}
    for option in ("--unshare-all", "--disable-userns", "--die-with-parent", "--seccomp"):
        assert option in seen.bwrap_argv
    assert (seen.workspace_mode, seen.program_mode) == (0o755, 0o644)
    workspace = Path(seen.bwrap_argv[seen.bwrap_argv.index("/sandbox") - 1])
    assert not workspace.exists()
    assert all(_run_groups(settings, c) == [] for c in ("memory", "pids", "cpu"))


def test_closing_the_backend_removes_the_executors_cgroups() -> None:
    settings = _settings()
    with open_backend(settings) as backend:
        run_program(backend, "pass")
        assert (CGROUP_ROOT / "memory" / "crucible" / settings.executor_id).is_dir()

    assert not (CGROUP_ROOT / "memory" / "crucible" / settings.executor_id).exists()
    assert not (CGROUP_ROOT / "pids" / "crucible" / settings.executor_id).exists()


def test_a_fork_bomb_leaves_nothing_behind(
    settings: ExecutorSettings, process_backend: SandboxBackend
) -> None:
    code = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    result = run_program(process_backend, code, timeout_seconds=1)

    assert result.outcome == Outcome.TIMEOUT
    assert result.exit_code == 128 + 9
    # A cgroup can only be removed once every process in it is gone.
    assert _run_groups(settings, "pids") == [] and _run_groups(settings, "memory") == []


def test_out_of_memory_is_an_oom_kill(process_backend: SandboxBackend) -> None:
    code = "b = bytearray(1024**3)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\n"
    result = run_program(process_backend, code, memory_mb=128)

    assert result.outcome == Outcome.MEMORY_EXCEEDED
    assert result.exit_code == 128 + 9
    assert "MemoryError" not in result.stderr


_DESCRIBE_SANDBOX = """
import json, os, socket
print(json.dumps({
    "root": sorted(os.listdir("/")),
    "usr_local": os.listdir("/usr/local"),
    "sandbox": os.listdir("/sandbox"),
    "environment": dict(os.environ),
    "hostname": socket.gethostname(),
    "interfaces": [name for _, name in socket.if_nameindex()],
    "pid": os.getpid(),
    "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "kernel command line": open("/proc/cmdline").read(),
    "pressure": os.listdir("/proc/pressure") if os.path.isdir("/proc/pressure") else [],
}))
"""


def test_the_view_from_inside(process_backend: SandboxBackend) -> None:
    result = run_program(process_backend, _DESCRIBE_SANDBOX)
    seen = json.loads(result.stdout)

    assert seen["root"] == ["bin", "dev", "lib", "lib64", "proc", "sandbox", "tmp", "usr"]
    # The host's own installs (and their config, and their .pth start-up hooks).
    assert seen["usr_local"] == []
    assert seen["sandbox"] == ["main.py"]
    assert seen["environment"] == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "PWD": "/tmp",
    }
    assert seen["hostname"] == "sandbox"
    assert seen["interfaces"] == ["lo"]
    # Its own PID namespace: bwrap's init is 1, the program 2.
    assert seen["pid"] == 2
    assert seen["processes"] == [1, 2]
    # The host's boot parameters and memory pressure are hidden.
    assert seen["kernel command line"] == ""
    assert seen["pressure"] == []


def _limits_inside(backend: SandboxBackend, **fields: object) -> dict[str, str]:
    code = "print(open('/proc/self/limits').read())"
    table = run_program(backend, code, **fields).stdout.splitlines()[1:]
    # Columns: name (several words), soft, hard, [units].
    return {line[:26].strip(): line[26:47].strip() for line in table if line.strip()}


def test_rlimits_inside(process_backend: SandboxBackend) -> None:
    seen = _limits_inside(process_backend, timeout_seconds=7)

    assert seen["Max cpu time"] == "8"
    assert seen["Max file size"] == str(limits.SANDBOX_MAX_FILE_BYTES)
    assert seen["Max open files"] == str(limits.SANDBOX_MAX_OPEN_FILES)
    assert seen["Max core file size"] == "0"
    # Not the executor's own: its stack is unlimited, its NPROC the host's.
    assert seen["Max stack size"] == str(limits.SANDBOX_STACK_BYTES)
    assert seen["Max processes"] == str(limits.SANDBOX_MAX_PROCESSES)
    # Memory is the cgroup's job here: an address-space cap would also count
    # memory merely reserved, and break programs that reserve a lot.
    assert seen["Max address space"] == "unlimited"


@pytest.fixture
def backend_without_cgroups(tmp_path: Path) -> Iterator[SandboxBackend]:
    settings = _settings(cgroup_root=tmp_path / "no-cgroups-here", executor_capacity=1)
    with open_backend(settings) as backend:
        yield backend


def test_without_cgroups_rlimits_stand_in(backend_without_cgroups: SandboxBackend) -> None:
    seen = _limits_inside(backend_without_cgroups, memory_mb=128)

    assert seen["Max address space"] == str(128 * limits.MIB)
    assert seen["Max processes"] == str(limits.SANDBOX_MAX_PROCESSES)
    assert run_program(backend_without_cgroups, "print('hello')").stdout == "hello\n"


def test_without_cgroups_memory_errors_count_as_memory_exceeded(
    backend_without_cgroups: SandboxBackend,
) -> None:
    result = run_program(backend_without_cgroups, "b = bytearray(1024**3)", memory_mb=256)

    assert result.outcome == Outcome.MEMORY_EXCEEDED
    assert result.exit_code == 1
    assert "MemoryError" in result.stderr


def test_without_cgroups_processes_are_still_capped(
    backend_without_cgroups: SandboxBackend,
) -> None:
    code = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError:\n"
        "    print(children)\n"
    )
    result = run_program(backend_without_cgroups, code, timeout_seconds=10)

    assert result.outcome == Outcome.SUCCESS
    assert int(result.stdout) < limits.SANDBOX_MAX_PROCESSES


def test_start_up_sweeps_what_a_previous_life_left_running() -> None:
    settings = _settings()
    orphan = subprocess.Popen(["sleep", "600"])
    groups = [
        CGROUP_ROOT / controller / "crucible" / settings.executor_id / "orphan"
        for controller in ("memory", "pids")
    ]
    try:
        for group in groups:
            group.mkdir(parents=True)
            (group / "cgroup.procs").write_text(str(orphan.pid))

        with open_backend(settings):
            assert orphan.wait(timeout=5) == -9
            assert not any(group.exists() for group in groups)
    finally:
        orphan.kill()
        orphan.wait()
        for group in groups:
            if group.exists():
                group.rmdir()


@pytest.mark.parametrize(
    "python",
    [
        "/usr/bin/no-such-python",
        sys.executable,  # the host's own interpreter, outside /usr
        "/usr/local/bin/python3",
    ],
)
def test_an_unusable_interpreter_makes_the_backend_unavailable(python: str) -> None:
    with open_backend(_settings(sandbox_python=python)) as backend:
        with pytest.raises(SandboxUnavailable, match="must be an executable under /usr"):
            backend.check()
        with pytest.raises(SandboxUnavailable):
            run_program(backend, "print('hello')")


def test_the_ml_image_is_refused(process_backend: SandboxBackend) -> None:
    with pytest.raises(SandboxUnavailable, match="image `ml` is not offered .* docker backend"):
        run_program(process_backend, "import numpy", image="ml")


def test_check_passes_on_this_host(process_backend: SandboxBackend) -> None:
    process_backend.check()


@pytest.mark.parametrize("executor_id", ["../escape", "a/b", "", ".hidden"])
def test_executor_ids_that_could_leave_the_cgroup_tree_are_refused(executor_id: str) -> None:
    with pytest.raises(ValueError, match="not usable as a cgroup name"):
        ExecutorCgroups(CGROUP_ROOT, executor_id)


_EXECUTOR_THAT_WILL_BE_KILLED = """
import asyncio, sys
from crucible_shared.schemas.execution import ExecutionRequest
from crucible_shared.settings import ExecutorSettings
from crucible_executor.sandbox.backends.process import ProcessBackend

async def started() -> None:
    print("started", flush=True)

request = ExecutionRequest(evaluation_id="e", code=sys.argv[2], timeout_seconds=600)
settings = ExecutorSettings(executor_id=sys.argv[1])
asyncio.run(ProcessBackend(settings).run(request, started, uid=settings.sandbox_uid_base))
"""


def test_a_killed_executor_takes_its_sandboxes_along_and_the_next_one_sweeps() -> None:
    settings = _settings()
    marker = f"crucible-test-{uuid.uuid4().hex}"
    argv = [sys.executable, "-c", _EXECUTOR_THAT_WILL_BE_KILLED, settings.executor_id]
    with subprocess.Popen([*argv, spawn_marked_child(marker)], stdout=subprocess.PIPE) as executor:
        try:
            assert executor.stdout is not None
            assert executor.stdout.readline() == b"started\n"
            wait_until(lambda: bool(processes_with(marker)))
        finally:
            executor.kill()

    # bwrap's --die-with-parent: the sandbox goes when the executor does.
    assert wait_until(lambda: not processes_with(marker)) < 2
    # Nobody was left to remove the run's cgroups and workspace ...
    assert len(_run_groups(settings, "memory")) == 1
    assert len(_workspaces(settings.executor_id)) == 1
    with open_backend(settings):
        # ... until the next executor with that id starts.
        assert _run_groups(settings, "memory") == [] and _run_groups(settings, "pids") == []
        assert _workspaces(settings.executor_id) == []


def _workspaces(executor_id: str) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"crucible-run+{executor_id}+*"))


def test_the_workspace_sweep_spares_other_executors_and_other_users() -> None:
    settings = _settings()
    temp = Path(tempfile.gettempdir())
    ours = temp / f"crucible-run+{settings.executor_id}+left"
    other_executor = temp / f"crucible-run+{settings.executor_id}-b+running"
    planted = temp / f"crucible-run+{settings.executor_id}+planted"
    for path in (ours, other_executor, planted):
        path.mkdir()
    os.chown(planted, 65534, 65534)
    try:
        with open_backend(settings):
            assert not ours.exists()
            assert other_executor.is_dir() and planted.is_dir()
    finally:
        for path in (ours, other_executor, planted):
            if path.exists():
                path.rmdir()


_CGROUP_V2_RUN = """
import asyncio, json, subprocess, sys
from pathlib import Path
from crucible_executor.sandbox.backends import open_backend
from crucible_shared.schemas.execution import ExecutionRequest
from crucible_shared.settings import ExecutorSettings

root = Path(sys.argv[2])
subprocess.run(["mount", "-t", "cgroup2", "none", str(root)], check=True)
settings = ExecutorSettings(executor_id=sys.argv[1], cgroup_root=root)
parent = root / "crucible" / settings.executor_id
seen = {}

async def started() -> None:
    groups = [group for group in parent.iterdir() if group.is_dir()]
    seen["groups while running"] = len(groups)
    seen["members"] = len((groups[0] / "cgroup.procs").read_text().split())

code = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\ntime.sleep(600)\\n"
request = ExecutionRequest(evaluation_id="e", code=code, timeout_seconds=2)
with open_backend(settings) as backend:
    seen["cgroup"] = backend.cgroup
    result = asyncio.run(backend.run(request, started, uid=settings.sandbox_uid_base))
    seen["outcome"] = result.outcome.value
    seen["groups after"] = len([group for group in parent.iterdir() if group.is_dir()])
seen["parent after close"] = parent.exists()
seen["offered"] = (root / "cgroup.controllers").read_text().split()
print(json.dumps(seen))
"""


def test_cgroup_v2_in_a_private_mount_namespace(tmp_path: Path) -> None:
    # This host is cgroup v1: a cgroup2 hierarchy can be mounted in a mount
    # namespace of its own, but every controller the runs need stays bound to
    # v1. What this proves of v2: detection, the run's group made, joined and
    # killed (cgroup.kill) and removed, and rlimits standing in for the
    # controllers that are not offered. memory.max, memory.swap.max, pids.max,
    # cpu.max and memory.events are written and read only on a v2 host.
    settings = _settings()
    mount_point = tmp_path / "cgroup2"
    mount_point.mkdir()
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", _CGROUP_V2_RUN]
        + [settings.executor_id, str(mount_point)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    assert seen["cgroup"] == "v2"
    # bwrap and its init at least, once the sandbox exists; the group's removal
    # below means the program and its detached child were in it and were killed.
    assert seen["groups while running"] == 1 and seen["members"] >= 2
    assert seen["outcome"] == Outcome.TIMEOUT.value
    assert seen["groups after"] == 0 and seen["parent after close"] is False
    assert "memory" not in seen["offered"]


def test_a_platform_error_never_carries_the_programs_bytes_raw() -> None:
    program_said = "x" * 10_000 + "\0\x1b[2J\n"
    detail = platform_detail(program_said + "bwrap: Creating new namespace failed")

    assert "\0" not in detail and "\x1b" not in detail and "\n" not in detail
    assert len(detail) < 1000
    assert detail.endswith("bwrap: Creating new namespace failed")


def test_the_executor_registers_which_cgroup_interface_it_uses(
    redis: RedisServer, tmp_path: Path
) -> None:
    executor_id = unique_executor_id()
    client = Redis.from_url(redis.url)
    try:
        with executor_server(
            tmp_path / "uvicorn.log",
            executor_id=executor_id,
            executor_backend="process",
            pool_redis_url=redis.url,
        ):
            wait_until(lambda: any(s.id == executor_id for s in pool_status(client)))
            (status,) = [s for s in pool_status(client) if s.id == executor_id]
        log = (tmp_path / "uvicorn.log").read_text()
    finally:
        client.close()

    # This host is cgroup v1; /api/queue shows the same record.
    assert status.cgroup == "v1"
    assert "run limits through cgroup v1 at /sys/fs/cgroup" in log
