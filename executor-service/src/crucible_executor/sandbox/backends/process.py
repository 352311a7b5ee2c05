"""The `process` backend: each program runs under bubblewrap, as `nobody`, with no network.

One run is one process chain, each link exec'ing the next so that they share a pid:

    sh -c JOIN_CGROUPS   joins the run's memory and pids cgroups (as root)
    prlimit              sets the rlimits, without a preexec_fn
    setpriv              drops to uid/gid 65534 outside the sandbox too (when root)
    bwrap                new user, PID, network, IPC, UTS and cgroup namespaces
    python3 -I /sandbox/main.py

Where a cgroup cannot be made, rlimits stand in: RLIMIT_AS for memory (the
program then sees a `MemoryError` rather than being OOM-killed) and, when the
sandbox has a uid of its own, RLIMIT_NPROC for processes.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import suppress
from pathlib import Path

from crucible_executor.sandbox.base import OnStarted, SandboxUnavailable
from crucible_executor.sandbox.cgroups import ExecutorCgroups, RunCgroups
from crucible_executor.sandbox.judging import (
    CHANNEL_LIMIT_BYTES,
    HARNESS_NAME,
    Judge,
    harness_source,
    run_result,
)
from crucible_executor.sandbox.outcome import exit_status
from crucible_executor.sandbox.streams import CappedOutput, feed_stdin
from crucible_executor.sandbox.workspace import PROGRAM_NAME, program_workspace, sweep_workspaces
from crucible_shared import limits
from crucible_shared.lifecycle import SandboxImage
from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult
from crucible_shared.settings import ExecutorSettings

SANDBOX_UID = 65534
_TOOL_PATH = "/usr/bin:/bin"
_TOOL_PACKAGES = {
    "sh": "dash",
    "prlimit": "util-linux",
    "setpriv": "util-linux",
    "bwrap": "bubblewrap",
}
# Nothing of the executor's environment reaches even the wrapper tools.
_WRAPPER_ENV = {"PATH": _TOOL_PATH}
_SANDBOX_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}
# The process joins every cgroup named before `--` before it execs the rest, so
# that everything the sandbox will ever fork is born inside them.
_JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
_CLEANUP_SECONDS = 2.0
_CHECK_SECONDS = 10.0


class ProcessBackend:
    def __init__(self, settings: ExecutorSettings) -> None:
        self._settings = settings
        self._cgroups = ExecutorCgroups(settings.cgroup_root, settings.executor_id)

    def sweep(self) -> None:
        """Kill and remove whatever a previous life of this executor left behind."""
        self._cgroups.sweep(timeout=_CLEANUP_SECONDS)
        sweep_workspaces(self._settings.executor_id)

    def close(self) -> None:
        self._cgroups.remove_parents()

    async def run(self, request: ExecutionRequest, on_started: OnStarted) -> ExecutionResult:
        if request.image != SandboxImage.PYTHON:
            # The host's Python has no ML libraries, and installing them there is
            # no business of this backend's.
            raise SandboxUnavailable(
                f"image `{request.image}` is not offered by this executor's process backend, "
                "only `python`: run it on an executor with the docker backend"
            )
        python = self._interpreter()
        judge = Judge.of(request, self._settings.output_limit_bytes)
        extra = {HARNESS_NAME: harness_source()} if judge else None
        with program_workspace(self._settings.executor_id, request.code, extra) as workspace:
            cgroup = self._cgroups.create_run(
                uuid.uuid4().hex,
                memory_bytes=request.memory_mb * limits.MIB,
                max_processes=limits.SANDBOX_MAX_PROCESSES,
            )
            try:
                return await self._supervise(request, judge, on_started, python, workspace, cgroup)
            finally:
                await asyncio.to_thread(cgroup.remove, _CLEANUP_SECONDS)

    def check(self) -> None:
        python = self._interpreter()
        probe = ExecutionRequest(evaluation_id="ready-check", code="pass", timeout_seconds=5)
        with program_workspace(self._settings.executor_id, probe.code) as workspace:
            argv = self._command(probe, python, workspace, cgroup=None, status_fd=None)
            try:
                done = subprocess.run(
                    argv, env=_WRAPPER_ENV, capture_output=True, timeout=_CHECK_SECONDS
                )
            except subprocess.TimeoutExpired as exc:
                raise SandboxUnavailable("a trial sandbox did not finish") from exc
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()
            raise SandboxUnavailable(f"a trial sandbox failed ({done.returncode}): {detail}")

    async def _supervise(
        self,
        request: ExecutionRequest,
        judge: Judge | None,
        on_started: OnStarted,
        python: Path,
        workspace: Path,
        cgroup: RunCgroups,
    ) -> ExecutionResult:
        status = await _BwrapStatus.open()
        try:
            argv = self._command(request, python, workspace, cgroup, status_fd=status.write_fd)
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_WRAPPER_ENV,
                start_new_session=True,
                pass_fds=(status.write_fd,),
            )
        except BaseException:
            status.close()
            raise
        status.release_write_end()
        started_at = time.monotonic()
        assert process.stdin and process.stdout and process.stderr

        def kill() -> None:
            # Killing bwrap is enough (its sandbox dies with it, PID namespace and
            # all); the cgroup sweep is for anything that somehow is not.
            if process.returncode is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            cgroup.kill_all()

        limit = self._settings.output_limit_bytes
        # Under a harness stdout is its result channel, not the program's output.
        stdout = CappedOutput(CHANNEL_LIMIT_BYTES if judge else limit)
        stderr = CappedOutput(limit)
        stdin = judge.job() if judge else request.stdin.encode("utf-8", errors="surrogatepass")
        readers = [
            asyncio.create_task(stdout.read_from(process.stdout, on_overflow=kill)),
            asyncio.create_task(stderr.read_from(process.stderr, on_overflow=kill)),
        ]
        writer = asyncio.create_task(feed_stdin(process.stdin, stdin))
        started = timed_out = False
        try:
            async with asyncio.timeout(request.timeout_seconds):
                started = await status.sandbox_started()
                if started:
                    await on_started()
                    await process.wait()
        except TimeoutError:
            timed_out = True
        finally:
            kill()
            writer.cancel()
            await asyncio.wait([writer, *readers, asyncio.ensure_future(process.wait())])
            program_exited = await status.program_exited()
        duration_ms = round((time.monotonic() - started_at) * 1000)
        for reader in readers:
            reader.result()

        assert process.returncode is not None
        exit_code = exit_status(process.returncode)
        killed_by_us = timed_out or stdout.truncated or stderr.truncated
        if not started or not (program_exited or killed_by_us):
            # bwrap (or the wrapper before it) failed before the program ran;
            # what it said is on stderr.
            detail = stderr.text().strip() or f"exit status {exit_code}"
            raise SandboxUnavailable(f"the sandbox could not be set up: {detail}")
        if cgroup.memory is not None:
            memory_exceeded = cgroup.oom_killed()
        else:
            # Under RLIMIT_AS an allocation fails instead; Python reports it as
            # MemoryError, which is all there is to see.
            memory_exceeded = exit_code != 0 and "MemoryError" in stderr.text()
        return run_result(
            judge,
            stdout=stdout,
            stderr=stderr,
            exit_code=exit_code,
            timed_out=timed_out,
            memory_exceeded=memory_exceeded,
            duration_ms=duration_ms,
        )

    def _command(
        self,
        request: ExecutionRequest,
        python: Path,
        workspace: Path,
        cgroup: RunCgroups | None,
        status_fd: int | None,
    ) -> list[str]:
        procs_files = [str(path) for path in cgroup.procs_files()] if cgroup else []
        argv = [_tool("sh"), "-c", _JOIN_CGROUPS, "crucible-sandbox", *procs_files, "--"]
        argv += [_tool("prlimit"), *self._rlimits(request, cgroup), "--"]
        if os.geteuid() == 0:
            # As root, bwrap's user namespace would map the sandbox's uid to host
            # root: a process that escaped it would be root. As nobody it is not.
            argv += [_tool("setpriv"), f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}"]
            argv += ["--clear-groups", "--"]
        argv += [_tool("bwrap"), *_bwrap_options(workspace, status_fd)]
        # The harness needs no site-packages of its own: -S keeps what they run at
        # start-up away from it (the program's children get them as usual).
        program = (
            ["-S", f"/sandbox/{HARNESS_NAME}"] if request.tests else [f"/sandbox/{PROGRAM_NAME}"]
        )
        argv += ["--", str(python), "-I", *program]
        return argv

    def _rlimits(self, request: ExecutionRequest, cgroup: RunCgroups | None) -> list[str]:
        # prlimit sets soft and hard limits alike, so the program cannot raise them.
        options = [
            # CPU time is wall time at most, plus a second of slack for the wall
            # clock to win the race and report `timeout`.
            f"--cpu={request.timeout_seconds + 1}",
            f"--fsize={limits.SANDBOX_MAX_FILE_BYTES}",
            f"--nofile={limits.SANDBOX_MAX_OPEN_FILES}",
            "--core=0",
        ]
        if cgroup is None or cgroup.memory is None:
            options.append(f"--as={request.memory_mb * limits.MIB}")
        if (cgroup is None or cgroup.pids is None) and os.geteuid() == 0:
            # RLIMIT_NPROC counts a uid's processes host-wide, so it only means
            # something once the sandbox runs as its own uid, which the sandboxes
            # of this executor share: hence the capacity factor.
            max_processes = limits.SANDBOX_MAX_PROCESSES * self._settings.executor_capacity
            options.append(f"--nproc={max_processes}")
        return options

    def _interpreter(self) -> Path:
        python = self._settings.sandbox_python
        real = python.resolve()
        # Only /usr is in the sandbox, and /usr/local is hidden there.
        if (
            not real.is_relative_to("/usr")
            or real.is_relative_to("/usr/local")
            or not os.access(real, os.X_OK)
        ):
            raise SandboxUnavailable(
                f"sandbox_python {python} must be an executable under /usr, not /usr/local"
            )
        return python


def _bwrap_options(workspace: Path, status_fd: int | None) -> list[str]:
    options = ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    for name, value in _SANDBOX_ENV.items():
        options += ["--setenv", name, value]
    options += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    options += ["--ro-bind", "/usr", "/usr"]
    # /usr/local is what the host installed for itself: tools, their config, and
    # .pth hooks Python would run at start-up. Debian's Python needs none of it.
    options += ["--tmpfs", "/usr/local", "--remount-ro", "/usr/local"]
    for link in ("bin", "lib", "lib64"):
        options += ["--symlink", f"usr/{link}", f"/{link}"]
    options += ["--proc", "/proc", "--dev", "/dev"]
    # --dev makes /dev a tmpfs of no size of its own, writable by the sandbox:
    # it becomes read-only (device nodes work as before), and shared memory
    # (multiprocessing's) gets a tmpfs of its own, as small as the scratch.
    options += ["--size", str(limits.SANDBOX_SCRATCH_BYTES), "--tmpfs", "/dev/shm"]
    options += ["--remount-ro", "/dev"]
    options += ["--size", str(limits.SANDBOX_SCRATCH_BYTES), "--tmpfs", "/tmp"]
    options += ["--ro-bind", str(workspace), "/sandbox", "--chdir", "/tmp"]
    # bwrap builds the root on a tmpfs of no size of its own, writable by the
    # sandbox: left so, it is scratch space past SANDBOX_SCRATCH_BYTES (and past
    # RLIMIT_AS where there is no memory cgroup). Once every mount point is made,
    # it is read-only; the mounts on it keep their own flags.
    options += ["--remount-ro", "/"]
    options += ["--hostname", "sandbox"]
    if status_fd is not None:
        options += ["--json-status-fd", str(status_fd)]
    return options


class _BwrapStatus:
    """bwrap's `--json-status-fd` reports: one line once the sandbox's first process
    exists, one more only if the program itself ran and exited. A failure to set
    the sandbox up (mounts, namespaces) leaves the second line out."""

    def __init__(
        self, reader: asyncio.StreamReader, transport: asyncio.BaseTransport, write_fd: int
    ) -> None:
        self._reader = reader
        self._transport = transport
        self.write_fd = write_fd
        self._write_end_open = True

    @classmethod
    async def open(cls) -> "_BwrapStatus":
        read_fd, write_fd = os.pipe()
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        return cls(reader, transport, write_fd)

    def release_write_end(self) -> None:
        """Once bwrap has its copy: end-of-file must come when bwrap exits."""
        if self._write_end_open:
            os.close(self.write_fd)
            self._write_end_open = False

    def close(self) -> None:
        self.release_write_end()
        self._transport.close()

    async def sandbox_started(self) -> bool:
        async for line in self._reader:
            if "child-pid" in json.loads(line):
                return True
        return False

    async def program_exited(self) -> bool:
        """Read to the end, which comes once bwrap has exited; always closes the pipe."""
        try:
            rest = await self._reader.read()
        finally:
            self.close()
        return any("exit-code" in json.loads(line) for line in rest.splitlines())


def _tool(name: str) -> str:
    path = shutil.which(name, path=_TOOL_PATH)
    if path is None:
        raise SandboxUnavailable(
            f"{name} not found in {_TOOL_PATH} (Debian package {_TOOL_PACKAGES[name]})"
        )
    return path
