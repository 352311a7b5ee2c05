"""The docker backend's own workings: the container it makes, its labels, removal, images."""

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import docker
import pytest

from crucible_executor.sandbox import container_seccomp as seccomp
from crucible_executor.sandbox.backends import open_backend
from crucible_executor.sandbox.backends.docker import (
    EXECUTOR_LABEL,
    RUN_PREFIX,
    DockerBackend,
    _remove,
)
from crucible_executor.sandbox.base import SandboxBackend, SandboxUnavailable
from crucible_shared import limits
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult
from crucible_shared.settings import ExecutorSettings
from tests.executor.conftest import unique_executor_id
from tests.executor.support import SLOT_UID, run_program, run_program_async, wait_until


@pytest.fixture(scope="module")
def engine(docker_host: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=docker_host, version="1.41")
    yield client
    client.close()


def _settings(**overrides: object) -> ExecutorSettings:
    return ExecutorSettings.model_validate(
        {"executor_id": unique_executor_id(), "executor_backend": "docker"} | overrides
    )


@pytest.fixture
def settings(docker_host: str) -> ExecutorSettings:
    return _settings()


@pytest.fixture
def docker_backend(settings: ExecutorSettings) -> Iterator[SandboxBackend]:
    with open_backend(settings) as backend:
        yield backend


def _labelled(engine: docker.DockerClient, executor_id: str) -> list[str]:
    """The names of every container of the executor's, warm ones waiting for a program included.

    Listed without inspecting each, which fails for one removed in between.
    """
    found = engine.api.containers(all=True, filters={"label": f"{EXECUTOR_LABEL}={executor_id}"})
    return [container["Names"][0].lstrip("/") for container in found]


def _used(engine: docker.DockerClient, executor_id: str) -> list[str]:
    """The executor's containers that have been given a program."""
    return [name for name in _labelled(engine, executor_id) if name.startswith(RUN_PREFIX)]


def _while_running(
    backend: SandboxBackend, engine: docker.DockerClient, executor_id: str, code: str, **fields: Any
) -> tuple[ExecutionResult, dict[str, Any]]:
    """Runs `code` and inspects its container while it runs."""

    async def run_and_look() -> tuple[ExecutionResult, dict[str, Any]]:
        run = asyncio.create_task(run_program_async(backend, code, **fields))
        while not (found := await asyncio.to_thread(_used, engine, executor_id)):
            assert not run.done(), "the run ended before its container could be seen"
            await asyncio.sleep(0.02)
        seen: dict[str, Any] = engine.containers.get(found[0]).attrs
        return await run, seen

    return asyncio.run(run_and_look())


def test_the_container_is_made_as_promised_and_removed_after(
    docker_backend: SandboxBackend, engine: docker.DockerClient, settings: ExecutorSettings
) -> None:
    result, seen = _while_running(
        docker_backend, engine, settings.executor_id, "import time; time.sleep(1)", memory_mb=128
    )

    assert result.outcome == Outcome.SUCCESS
    host = seen["HostConfig"]
    assert seen["Config"]["Labels"][EXECUTOR_LABEL] == settings.executor_id
    assert seen["Name"].lstrip("/").startswith(f"{RUN_PREFIX}test-")
    assert seen["Config"]["User"] == f"{SLOT_UID}:{SLOT_UID}"
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == host["MemorySwap"] == 128 * limits.MIB
    assert host["NanoCpus"] == 10**9 or host["CpuQuota"] == host["CpuPeriod"]
    assert host["PidsLimit"] == limits.SANDBOX_MAX_PROCESSES
    assert host["ReadonlyRootfs"] is True
    # Podman lists the capabilities ALL stood for; the proof is the view from inside.
    dropped = {cap.upper().removeprefix("CAP_") for cap in host["CapDrop"]}
    assert "ALL" in dropped or {"CHOWN", "DAC_OVERRIDE", "KILL", "SETUID", "SETGID"} <= dropped
    assert "no-new-privileges" in " ".join(host["SecurityOpt"] or [])
    assert {"/tmp", "/sandbox"} <= set(host["Tmpfs"])
    assert f"size={limits.SANDBOX_SCRATCH_BYTES}" in host["Tmpfs"]["/tmp"]
    ulimits = {u["Name"].lower().removeprefix("rlimit_"): u["Hard"] for u in host["Ulimits"]}
    assert ulimits["nofile"] == limits.SANDBOX_MAX_OPEN_FILES
    assert ulimits["fsize"] == limits.SANDBOX_MAX_FILE_BYTES
    # Removed in the background, soon after the result.
    wait_until(lambda: _used(engine, settings.executor_id) == [])


_PRIVILEGES = """
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines())
print(status['CapPrm'].strip(), status['CapEff'].strip(), status['CapBnd'].strip(),
      status['NoNewPrivs'].strip())
"""


def test_no_capabilities_and_no_new_privileges(docker_backend: SandboxBackend) -> None:
    result = run_program(docker_backend, _PRIVILEGES)

    assert result.stdout.split() == ["0000000000000000"] * 3 + ["1"], result.stderr


@pytest.mark.parametrize(
    "path", ["/crucible-probe", "/etc/crucible-probe", "/run/crucible-probe", "/var/tmp/probe"]
)
def test_the_root_file_system_is_read_only(docker_backend: SandboxBackend, path: str) -> None:
    code = (
        "import errno\n"
        "try:\n"
        f"    open({path!r}, 'w')\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno])\n"
    )
    assert run_program(docker_backend, code).stdout == "EROFS\n"


def test_the_program_runs_as_a_file_of_its_own_with_its_own_stdin(
    docker_backend: SandboxBackend,
) -> None:
    code = (
        "import json, os, sys\n"
        "print(json.dumps({'argv': sys.argv, 'file': __file__, 'name': __name__,\n"
        "                  'sandbox': sorted(os.listdir('/sandbox')), 'stdin': sys.stdin.read(),\n"
        "                  'cwd': os.getcwd(), 'hostname': os.uname().nodename}))\n"
    )
    # Control bytes an engine could take for a detach sequence (ctrl-p ctrl-q).
    stdin = "a\x10\x11b\x00c\n"

    seen = json.loads(run_program(docker_backend, code, stdin=stdin).stdout)

    assert seen == {
        "argv": ["/sandbox/main.py"],
        "file": "/sandbox/main.py",
        "name": "__main__",
        "sandbox": ["main.py"],
        "stdin": stdin,
        "cwd": "/tmp",
        "hostname": "sandbox",
    }


def test_a_mebibyte_of_code_arrives_whole(docker_backend: SandboxBackend) -> None:
    padding = "#" * (limits.MAX_CODE_BYTES - 100) + "\n"
    code = padding + "print(len(open(__file__).read()))\n"
    assert len(code.encode()) <= limits.MAX_CODE_BYTES

    assert run_program(docker_backend, code).stdout == f"{len(code)}\n"


def test_out_of_memory_is_an_oom_kill(docker_backend: SandboxBackend) -> None:
    code = "b = bytearray(1024**3)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\n"
    result = run_program(docker_backend, code, memory_mb=128)

    assert result.outcome == Outcome.MEMORY_EXCEEDED
    assert result.exit_code == 128 + 9
    assert "MemoryError" not in result.stderr


def test_a_program_killed_otherwise_is_not_out_of_memory(docker_backend: SandboxBackend) -> None:
    result = run_program(docker_backend, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")

    assert result.outcome == Outcome.ERROR
    assert result.exit_code == 128 + 9


def test_the_result_names_the_image_it_ran_in(
    docker_backend: SandboxBackend, engine: docker.DockerClient, settings: ExecutorSettings
) -> None:
    result = run_program(docker_backend, "print('hi')")

    image = engine.images.get(settings.sandbox_image_python)
    assert result.image_digest == image.id
    assert result.image_digest is not None and result.image_digest.startswith("sha256:")


def test_the_ml_image_has_its_libraries(
    docker_backend: SandboxBackend, engine: docker.DockerClient, settings: ExecutorSettings
) -> None:
    code = (
        "import numpy, pandas, scipy, sklearn\n"
        "from sklearn.linear_model import LinearRegression\n"
        "x = numpy.arange(10.0).reshape(-1, 1)\n"
        "print(round(LinearRegression().fit(x, 2 * x.ravel() + 1).coef_[0], 6))\n"
    )
    ml = run_program(docker_backend, code, image="ml")
    plain = run_program(docker_backend, "import numpy", image="python")

    assert ml.outcome == Outcome.SUCCESS, ml.stderr
    assert ml.stdout == "2.0\n"
    assert ml.image_digest == engine.images.get(settings.sandbox_image_ml).id
    assert plain.outcome == Outcome.ERROR and "No module named 'numpy'" in plain.stderr


def test_cancelling_removes_the_container(
    docker_backend: SandboxBackend, engine: docker.DockerClient, settings: ExecutorSettings
) -> None:
    async def start_then_cancel() -> None:
        started = asyncio.Event()

        async def on_started() -> None:
            started.set()

        request = ExecutionRequest(
            evaluation_id="test", code="import time; time.sleep(60)", timeout_seconds=60
        )
        run = asyncio.create_task(docker_backend.run(request, on_started, uid=SLOT_UID))
        await started.wait()
        await asyncio.to_thread(wait_until, lambda: len(_used(engine, settings.executor_id)) == 1)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(start_then_cancel())

    # Removed in the background, soon after the result.
    wait_until(lambda: _used(engine, settings.executor_id) == [])


_EXECUTOR_THAT_WILL_BE_KILLED = """
import asyncio, sys
from crucible_shared.schemas.execution import ExecutionRequest
from crucible_shared.settings import ExecutorSettings
from crucible_executor.sandbox.backends.docker import DockerBackend

async def started() -> None:
    print("started", flush=True)

settings = ExecutorSettings(executor_id=sys.argv[1], executor_backend="docker")
code = "import time; time.sleep(600)"
request = ExecutionRequest(evaluation_id="e", code=code, timeout_seconds=600)
asyncio.run(DockerBackend(settings).run(request, started, uid=settings.sandbox_uid_base))
"""


def test_a_killed_executors_containers_are_swept_by_the_next(
    engine: docker.DockerClient, docker_host: str
) -> None:
    settings = _settings()
    argv = [sys.executable, "-c", _EXECUTOR_THAT_WILL_BE_KILLED, settings.executor_id]
    env = os.environ | {"DOCKER_HOST": docker_host}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, env=env) as executor:
        try:
            assert executor.stdout is not None
            assert executor.stdout.readline() == b"started\n"
        finally:
            executor.kill()

    # Nobody was left to remove it (nor the warm one made for the next run,
    # whose create the engine may still finish after the executor died) ...
    time.sleep(2)
    left = len(_labelled(engine, settings.executor_id))
    assert left >= 1
    other = _settings()
    with open_backend(other):
        # ... and another executor's start-up leaves them alone ...
        assert len(_labelled(engine, settings.executor_id)) == left
    with open_backend(settings):
        # ... until the next executor with that id starts.
        assert _labelled(engine, settings.executor_id) == []


class _CaughtStopping:
    """A container the engine refuses to remove while it is between running and
    stopped, as Podman does now and then; that moment cannot be made on demand."""

    id = "caught-stopping"

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.removed = False

    def remove(self, force: bool) -> None:
        assert force
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError("container state improper: stopped")
        self.removed = True


def test_a_container_caught_stopping_is_removed_on_a_later_attempt() -> None:
    container = _CaughtStopping(refusals=2)
    _remove(container)
    assert container.removed


def test_a_container_that_stays_unremovable_is_left_to_the_sweep() -> None:
    container = _CaughtStopping(refusals=10)
    _remove(container)  # logged, not raised: the next start-up's sweep removes it
    assert not container.removed and container.refusals == 7


def test_check_passes_with_the_engine_and_images(docker_backend: SandboxBackend) -> None:
    docker_backend.check()


def test_a_missing_image_makes_the_backend_unavailable(docker_host: str) -> None:
    settings = _settings(sandbox_image_ml=f"crucible/no-such-image:{uuid.uuid4().hex[:8]}")
    with open_backend(settings) as backend:
        with pytest.raises(SandboxUnavailable, match="sandbox image missing"):
            backend.check()
        with pytest.raises(SandboxUnavailable, match="is missing on this engine"):
            run_program(backend, "print('hello')", image="ml")
        assert run_program(backend, "print('hello')").stdout == "hello\n"


# docker-py leaves the socket of a refused connection for the garbage collector.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_engine_that_does_not_answer_makes_the_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, docker_host: str
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    started = time.monotonic()
    # The start-up sweep only warns: the engine may come up later.
    with open_backend(_settings()) as backend:
        with pytest.raises(SandboxUnavailable, match="does not answer"):
            backend.check()
        with pytest.raises(SandboxUnavailable):
            run_program(backend, "print('hello')")
    assert time.monotonic() - started < 5
    gc.collect()


def test_latency(docker_backend: SandboxBackend) -> None:
    """Not a limit, a measurement: printed with -s, failing only if absurd."""
    timings = []
    for _ in range(5):
        started = time.monotonic()
        assert run_program(docker_backend, "print('hi')").stdout == "hi\n"
        timings.append(time.monotonic() - started)
    timings.sort()
    print(f"docker backend, print('hi'): median {timings[2] * 1000:.0f} ms of 5 runs")
    assert timings[2] < 5


@pytest.fixture
def docker_only(settings: ExecutorSettings) -> Iterator[DockerBackend]:
    backend = DockerBackend(settings)
    try:
        yield backend
    finally:
        backend.close()


async def _run_as(backend: DockerBackend, code: str, uid: int, **fields: Any) -> ExecutionResult:
    async def started() -> None:
        pass

    request = ExecutionRequest.model_validate({"evaluation_id": "test", "code": code, **fields})
    return await backend.run(request, started, uid=uid)


async def _when_warm(backend: DockerBackend, count: int = 1) -> None:
    """Until `count` containers wait ready, so that the next run takes a warm one."""
    await asyncio.to_thread(wait_until, lambda: backend.warm_containers() >= count, 30)


def _cold_then_warm(backend: DockerBackend, code: str, **fields: Any) -> list[ExecutionResult]:
    """`code` run twice on one loop: in a container made for it, then in a warm one."""

    async def both() -> list[ExecutionResult]:
        cold = await run_program_async(backend, code, **fields)
        await _when_warm(backend)
        return [cold, await run_program_async(backend, code, **fields)]

    return asyncio.run(both())


def test_the_program_runs_as_the_uid_it_is_given(docker_only: DockerBackend) -> None:
    code = "import os; print(os.getuid(), os.getgid(), os.geteuid())"

    async def as_two_uids() -> list[str]:
        first = await _run_as(docker_only, code, uid=61001)
        second = await _run_as(docker_only, code, uid=61002)
        return [first.stdout, second.stdout]

    assert asyncio.run(as_two_uids()) == ["61001 61001 61001\n", "61002 61002 61002\n"]
    # The executor's slot uid, as every run of the suite has it.
    assert run_program(docker_only, code).stdout == f"{SLOT_UID} {SLOT_UID} {SLOT_UID}\n"


_SYSTEM_CALLS = """
import ctypes, errno, json, os, socket, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
NUMBERS = {numbers!r}
def outcome(value):
    return 'allowed' if value >= 0 else errno.errorcode[ctypes.get_errno()]
seen = {{name: outcome(libc.syscall(NUMBERS[name], 0, 0, 0, 0, 0, 0)) for name in {refused!r}}}
seen['clone3'] = outcome(libc.syscall(NUMBERS['clone3'], 0, 0))
for name, flags in [('user', 0x10000000), ('mount', 0x20000), ('user+mount', 0x10020000),
                    ('network', 0x40000000), ('pid', 0x20000000)]:
    seen['unshare ' + name] = outcome(libc.unshare(flags))
pid = libc.syscall(NUMBERS['clone'], 0x10000000 | 17, 0, 0, 0, 0)
if pid == 0:
    os._exit(0)
seen['clone user'] = outcome(pid)
if pid > 0:
    os.waitpid(pid, 0)
seen['unshare files'] = outcome(libc.unshare(0x400))
for family in ('AF_INET', 'AF_INET6', 'AF_UNIX'):
    try:
        socket.socket(getattr(socket, family)).close()
        seen[family] = 'allowed'
    except OSError as exc:
        seen[family] = errno.errorcode[exc.errno]
seen['socketpair'] = len(socket.socketpair())
seen['subprocess'] = subprocess.run([sys.executable, '-c', 'print(7)'], capture_output=True).stdout
thread = threading.Thread(target=seen.__setitem__, args=('thread', 'ran'))
thread.start()
thread.join()
print(json.dumps(seen, default=bytes.decode))
"""


def test_what_no_evaluation_needs_is_refused_in_cold_and_warm_containers(
    docker_only: DockerBackend,
) -> None:
    numbers = seccomp.SYSCALL_NUMBERS[os.uname().machine]
    code = _SYSTEM_CALLS.format(numbers=numbers, refused=list(seccomp.REFUSED))

    for result in _cold_then_warm(docker_only, code):
        assert result.outcome == Outcome.SUCCESS, result.stderr
        seen = json.loads(result.stdout)
        assert {name: seen[name] for name in seccomp.REFUSED} == dict.fromkeys(
            seccomp.REFUSED, "EPERM"
        )
        # No user namespace (the per-uid budget every sandbox would share), no
        # mount namespace (a tmpfs of its own past the scratch), no network one.
        for name in ("user", "mount", "user+mount", "network", "pid"):
            assert seen[f"unshare {name}"] == "EPERM"
        assert seen["clone user"] == "EPERM"
        assert seen["clone3"] == "ENOSYS"
        # No TCP: its buffers are memory no cgroup v1 limit counts.
        assert seen["AF_INET"] == seen["AF_INET6"] == "EAFNOSUPPORT"
        # What programs do use still works.
        assert seen["unshare files"] == "allowed"
        assert seen["AF_UNIX"] == "allowed" and seen["socketpair"] == 2
        assert seen["subprocess"] == "7\n" and seen["thread"] == "ran"


def test_exit_code_122_is_not_out_of_memory(docker_only: DockerBackend) -> None:
    for result in _cold_then_warm(docker_only, "import os; os._exit(122)"):
        assert result.outcome == Outcome.ERROR
        assert result.exit_code == 122


def test_a_child_killed_for_memory_leaves_the_program_its_own_outcome(
    docker_only: DockerBackend,
) -> None:
    code = (
        "import subprocess, sys\n"
        "hog = 'b = bytearray(1024**3)\\nfor i in range(0, len(b), 4096): b[i] = 1'\n"
        "child = subprocess.run([sys.executable, '-c', hog])\n"
        "print(child.returncode)\n"
    )
    for result in _cold_then_warm(docker_only, code, memory_mb=128):
        assert result.outcome == Outcome.SUCCESS, result.stderr
        assert result.stdout == "-9\n" and result.exit_code == 0


def test_the_program_killed_for_memory_in_a_warm_container_is_out_of_memory(
    docker_only: DockerBackend,
) -> None:
    code = "b = bytearray(1024**3)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\n"
    for result in _cold_then_warm(docker_only, code, memory_mb=128):
        assert result.outcome == Outcome.MEMORY_EXCEEDED
        assert result.exit_code == 128 + 9


_LEAVE_TRACES = """
import os, subprocess, sys
others = sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid())
print(os.path.exists('/tmp/left-behind'), len(others))
open('/tmp/left-behind', 'w').write('x')
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
"""


@pytest.mark.parametrize("ending", ["finished", "timed out", "cancelled"])
def test_a_container_serves_one_program_however_it_ends(
    docker_only: DockerBackend, engine: docker.DockerClient, settings: ExecutorSettings, ending: str
) -> None:
    first_code = _LEAVE_TRACES + ("" if ending == "finished" else "import time; time.sleep(60)\n")

    async def two_runs() -> tuple[ExecutionResult | None, ExecutionResult]:
        first: ExecutionResult | None = None
        run = asyncio.create_task(run_program_async(docker_only, first_code, timeout_seconds=2))
        if ending == "cancelled":
            await asyncio.to_thread(wait_until, lambda: bool(_used(engine, settings.executor_id)))
            run.cancel()
            with suppress(asyncio.CancelledError):
                await run
        else:
            first = await run
        await _when_warm(docker_only)
        return first, await run_program_async(docker_only, _LEAVE_TRACES)

    first, second = asyncio.run(two_runs())

    if ending == "timed out":
        assert first is not None and first.outcome == Outcome.TIMEOUT
    # The next program finds none of the first's files or processes: only its
    # container's init and bootstrap besides itself.
    assert second.outcome == Outcome.SUCCESS, second.stderr
    assert second.stdout.split("\n")[0] == "False 2"
    # Removed in the background, soon after the result.
    wait_until(lambda: _used(engine, settings.executor_id) == [])


def test_warm_containers_are_as_many_as_the_slots_and_gone_with_the_backend(
    engine: docker.DockerClient, docker_host: str
) -> None:
    settings = _settings(executor_capacity=2)
    backend = DockerBackend(settings)
    try:

        async def three_profiles() -> None:
            for uid in (61001, 61002, 61003):
                await _run_as(backend, "pass", uid=uid)
            await _when_warm(backend, 2)

        asyncio.run(three_profiles())
        time.sleep(1)
        assert backend.warm_containers() == 2
        assert len(_labelled(engine, settings.executor_id)) == 2
    finally:
        backend.close()
    assert _labelled(engine, settings.executor_id) == []
