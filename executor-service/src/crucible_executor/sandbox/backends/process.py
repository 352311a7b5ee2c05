"""The `process` backend: each program runs under bubblewrap, as its slot's uid, with no network.

One run is one process chain, each link exec'ing the next so that they share a pid:

    bash -c WRAPPER      closes inherited descriptors, OOM score 1000, joins the
                         run's cgroups (as root)
    prlimit              sets the rlimits, without a preexec_fn
    setpriv              drops to the slot's uid outside the sandbox too (when root)
    bwrap                new user, PID, network, IPC, UTS and cgroup namespaces,
                         no nested user namespaces, the seccomp filter
    python3 -I /sandbox/main.py

Where a cgroup cannot be made, rlimits stand in: RLIMIT_AS for memory (the
program then sees a `MemoryError` rather than being OOM-killed) and, when the
sandbox has a uid of its own, RLIMIT_NPROC for processes.
"""

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import closing, suppress
from pathlib import Path

from crucible_executor.sandbox.base import OnStarted, SandboxUnavailable
from crucible_executor.sandbox.cgroups import (
    NO_CGROUPS,
    CgroupVersion,
    ExecutorCgroups,
    RunCgroups,
    RunLimits,
)
from crucible_executor.sandbox.judging import (
    CHANNEL_LIMIT_BYTES,
    HARNESS_NAME,
    Judge,
    harness_source,
    run_result,
)
from crucible_executor.sandbox.outcome import exit_status, platform_detail
from crucible_executor.sandbox.seccomp import filter_fd
from crucible_executor.sandbox.streams import CappedOutput, feed_stdin
from crucible_executor.sandbox.workspace import PROGRAM_NAME, program_workspace, sweep_workspaces
from crucible_shared import limits
from crucible_shared.lifecycle import SandboxImage
from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult
from crucible_shared.settings import ExecutorSettings

logger = logging.getLogger(__name__)

_TOOL_PATH = "/usr/bin:/bin"
_TOOL_PACKAGES = {
    "bash": "bash",
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
# First, every descriptor but 0-2 and those named in $1 is closed: uvloop's
# subprocesses inherit the executor's (its close_fds does nothing), and bash,
# unlike dash, closes any number (--norc: bash reads ~/.bashrc when its stdin
# is a socket, as uvloop's are). Then the OOM score goes to the top, so that
# the kernel kills the program, not the executor or another run (written with
# CAP_SYS_RESOURCE, it cannot be lowered again). Last, the process joins every
# cgroup named before `--` before it execs the rest, so that everything the
# sandbox will ever fork is born inside them.
_WRAPPER = (
    'keep=" $1 "; shift; '
    "for fd in /proc/self/fd/*; do fd=${fd##*/}; "
    'case "$keep" in *" $fd "*) ;; *) '
    'if [ "$fd" -gt 2 ] && [ -e "/proc/self/fd/$fd" ]; then exec {fd}>&-; fi ;; esac; done; '
    "echo 1000 > /proc/self/oom_score_adj || exit 125; "
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
)
_HOST_PRESSURE = Path("/proc/pressure")
_CLEANUP_SECONDS = 2.0
_CHECK_SECONDS = 10.0


class ProcessBackend:
    def __init__(self, settings: ExecutorSettings) -> None:
        self._settings = settings
        self._cgroups = ExecutorCgroups(settings.cgroup_root, settings.executor_id)

    @property
    def cgroup(self) -> CgroupVersion:
        """Which cgroup interface the runs' limits go through: `v1`, `v2`, or `none` (rlimits)."""
        return self._cgroups.version

    def sweep(self) -> None:
        """Kill and remove whatever a previous life of this executor left behind."""
        logger.info(
            "process backend: run limits through cgroup %s at %s",
            self.cgroup,
            self._settings.cgroup_root,
        )
        self._cgroups.sweep(timeout=_CLEANUP_SECONDS)
        sweep_workspaces(self._settings.executor_id)

    def close(self) -> None:
        self._cgroups.remove_parents()

    async def run(
        self, request: ExecutionRequest, on_started: OnStarted, *, uid: int
    ) -> ExecutionResult:
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
                RunLimits(
                    memory_bytes=request.memory_mb * limits.MIB,
                    max_processes=limits.SANDBOX_MAX_PROCESSES,
                    cpu_cores=limits.SANDBOX_CPU_CORES,
                ),
            )
            try:
                return await self._supervise(
                    request, judge, on_started, python, workspace, cgroup, uid
                )
            finally:
                await asyncio.to_thread(cgroup.remove, _CLEANUP_SECONDS)

    def check(self) -> None:
        python = self._interpreter()
        probe = ExecutionRequest(evaluation_id="ready-check", code="pass", timeout_seconds=5)
        with (
            closing(_HandedFds()) as handed,
            program_workspace(self._settings.executor_id, probe.code) as workspace,
        ):
            argv = self._command(
                probe,
                python,
                workspace,
                NO_CGROUPS,
                uid=self._settings.sandbox_uid_base,
                status_fd=None,
                handed=handed,
            )
            try:
                done = subprocess.run(
                    argv,
                    env=_WRAPPER_ENV,
                    capture_output=True,
                    timeout=_CHECK_SECONDS,
                    pass_fds=handed.fds(),
                )
            except subprocess.TimeoutExpired as exc:
                raise SandboxUnavailable("a trial sandbox did not finish") from exc
        if done.returncode != 0:
            detail = platform_detail(done.stderr.decode(errors="replace"))
            raise SandboxUnavailable(f"a trial sandbox failed ({done.returncode}): {detail}")

    async def _supervise(
        self,
        request: ExecutionRequest,
        judge: Judge | None,
        on_started: OnStarted,
        python: Path,
        workspace: Path,
        cgroup: RunCgroups,
        uid: int,
    ) -> ExecutionResult:
        status = await _BwrapStatus.open()
        try:
            with closing(_HandedFds()) as handed:
                argv = self._command(
                    request,
                    python,
                    workspace,
                    cgroup,
                    uid=uid,
                    status_fd=status.write_fd,
                    handed=handed,
                )
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=_WRAPPER_ENV,
                    start_new_session=True,
                    pass_fds=(status.write_fd, *handed.fds()),
                )
        except BaseException:
            status.close()
            raise
        status.release_write_end()
        started_at = time.monotonic()
        assert process.stdin and process.stdout and process.stderr

        def kill() -> None:
            # The sandbox's init first, by its host pid: its death ends the PID
            # namespace and all in it, whatever became of bwrap's parent-death
            # signal. Then bwrap's session, and the cgroups for anything else.
            status.kill_sandbox()
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
                started = await status.sandbox_started(bwrap_pid=process.pid)
                if started:
                    await on_started()
                    await process.wait()
        except TimeoutError:
            timed_out = True
        finally:
            kill()
            writer.cancel()
            # Every wait is bounded: a process that survived all of the above
            # must not hold the slot, or the executor, for ever.
            tasks = [writer, *readers, asyncio.ensure_future(process.wait())]
            _, stuck = await asyncio.wait(tasks, timeout=_CLEANUP_SECONDS)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
            program_exit = await status.program_exit(timeout=_CLEANUP_SECONDS)
        duration_ms = round((time.monotonic() - started_at) * 1000)
        if process.returncode is None:
            raise SandboxUnavailable("the sandbox did not exit when killed")
        for reader in readers:
            if not reader.cancelled():
                reader.result()

        exit_code = exit_status(process.returncode)
        killed_by_us = timed_out or stdout.truncated or stderr.truncated
        # Checked before anything is called a platform failure: a program that
        # fills its memory may get bwrap itself killed, which then reports no
        # exit status. The run died of its memory limit all the same.
        oom_kills = cgroup.oom_kills()
        if not started or not (program_exit is not None or killed_by_us or oom_kills):
            # bwrap (or the wrapper before it) failed before the program ran;
            # what it said is on stderr, after whatever the program wrote.
            detail = platform_detail(stderr.text()) or f"exit status {exit_code}"
            raise SandboxUnavailable(f"the sandbox could not be set up: {detail}")
        if cgroup.limits_memory:
            # Only when the program itself died of it: a child killed by the
            # OOM killer is something a program may handle and go on.
            memory_exceeded = oom_kills > 0 and (
                program_exit is None or exit_code == 128 + signal.SIGKILL
            )
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
        cgroup: RunCgroups,
        *,
        uid: int,
        status_fd: int | None,
        handed: "_HandedFds",
    ) -> list[str]:
        procs_files = [str(path) for path in cgroup.procs_files()]
        keep = " ".join(str(fd) for fd in (status_fd, *handed.fds()) if fd is not None)
        argv = [_tool("bash"), "--norc", "--noprofile", "-c", _WRAPPER, "crucible-sandbox"]
        argv += [keep, *procs_files, "--"]
        argv += [_tool("prlimit"), *self._rlimits(request, cgroup), "--"]
        if os.geteuid() == 0:
            # As root, bwrap's user namespace would map the sandbox's uid to host
            # root: a process that escaped it would be root. As the slot's uid,
            # which no other slot and no host user has, it is nobody's.
            argv += [_tool("setpriv"), f"--reuid={uid}", f"--regid={uid}"]
            argv += ["--clear-groups", "--"]
        argv += [_tool("bwrap"), *_bwrap_options(workspace, uid, status_fd, handed)]
        # The harness needs no site-packages of its own: -S keeps what they run at
        # start-up away from it (the program's children get them as usual).
        program = (
            ["-S", f"/sandbox/{HARNESS_NAME}"] if request.tests else [f"/sandbox/{PROGRAM_NAME}"]
        )
        argv += ["--", str(python), "-I", *program]
        return argv

    def _rlimits(self, request: ExecutionRequest, cgroup: RunCgroups) -> list[str]:
        # prlimit sets soft and hard limits alike, so the program cannot raise them,
        # and none of the executor's own (an unlimited stack, the host's NPROC) is inherited.
        options = [
            # CPU time is wall time at most, plus a second of slack for the wall
            # clock to win the race and report `timeout`.
            f"--cpu={request.timeout_seconds + 1}",
            f"--fsize={limits.SANDBOX_MAX_FILE_BYTES}",
            f"--nofile={limits.SANDBOX_MAX_OPEN_FILES}",
            f"--stack={limits.SANDBOX_STACK_BYTES}",
            "--core=0",
        ]
        if not cgroup.limits_memory:
            options.append(f"--as={request.memory_mb * limits.MIB}")
        if os.geteuid() == 0:
            # RLIMIT_NPROC counts a uid's processes host-wide: with a uid per slot
            # it bounds exactly this run's, cgroup or not.
            options.append(f"--nproc={limits.SANDBOX_MAX_PROCESSES}")
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


def _bwrap_options(
    workspace: Path, uid: int, status_fd: int | None, handed: "_HandedFds"
) -> list[str]:
    # No user namespace inside: each would draw on the slot uid's budgets on the
    # host, and a nested one would let the program mount (a tmpfs past the scratch).
    options = ["--unshare-all", "--unshare-user", "--disable-userns"]
    options += ["--die-with-parent", "--new-session", "--clearenv"]
    for name, value in _SANDBOX_ENV.items():
        options += ["--setenv", name, value]
    options += ["--uid", str(uid), "--gid", str(uid)]
    options += ["--ro-bind", "/usr", "/usr"]
    # /usr/local is what the host installed for itself: tools, their config, and
    # .pth hooks Python would run at start-up. Debian's Python needs none of it.
    options += ["--tmpfs", "/usr/local", "--remount-ro", "/usr/local"]
    for link in ("bin", "lib", "lib64"):
        options += ["--symlink", f"usr/{link}", f"/{link}"]
    options += ["--proc", "/proc"]
    # The host's boot parameters and memory pressure are none of the program's business.
    options += ["--ro-bind-data", str(handed.empty), "/proc/cmdline"]
    if _HOST_PRESSURE.is_dir():
        options += ["--tmpfs", "/proc/pressure", "--remount-ro", "/proc/pressure"]
    options += ["--dev", "/dev"]
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
    # Loaded last, on the program alone: bwrap's init is not under it.
    options += ["--seccomp", str(handed.seccomp)]
    return options


class _HandedFds:
    """What bwrap reads as it sets the sandbox up: the seccomp filter, and an
    empty file to show in place of /proc files."""

    def __init__(self) -> None:
        self.seccomp = filter_fd()
        try:
            self.empty = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            os.close(self.seccomp)
            raise

    def fds(self) -> tuple[int, int]:
        return (self.seccomp, self.empty)

    def close(self) -> None:
        os.close(self.seccomp)
        os.close(self.empty)


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
        self._init: int | None = None

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
        if self._init is not None:
            os.close(self._init)
            self._init = None

    async def sandbox_started(self, *, bwrap_pid: int) -> bool:
        async for line in self._reader:
            report = json.loads(line)
            if "child-pid" in report:
                self._hold_init(int(report["child-pid"]), bwrap_pid)
                return True
        return False

    def kill_sandbox(self) -> None:
        """SIGKILL to the sandbox's init, through a pidfd: never to a pid reused since."""
        if self._init is not None:
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._init, signal.SIGKILL)

    async def program_exit(self, *, timeout: float) -> int | None:
        """The program's exit status as bwrap saw it, or `None` if bwrap reported none.

        Reads to the end, which comes once bwrap has exited, or gives up after
        `timeout`; always closes the pipe.
        """
        try:
            async with asyncio.timeout(timeout):
                rest = await self._reader.read()
        except TimeoutError:
            rest = b""
        finally:
            self.close()
        for line in rest.splitlines():
            report = json.loads(line)
            if "exit-code" in report:
                return int(report["exit-code"])
        return None

    def _hold_init(self, pid: int, bwrap_pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        # Checked once the pidfd pins it: the pid is still bwrap's child.
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            status = ""
        if f"\nPPid:\t{bwrap_pid}\n" in status:
            self._init = fd
        else:
            os.close(fd)


def _tool(name: str) -> str:
    path = shutil.which(name, path=_TOOL_PATH)
    if path is None:
        raise SandboxUnavailable(
            f"{name} not found in {_TOOL_PATH} (Debian package {_TOOL_PACKAGES[name]})"
        )
    return path
