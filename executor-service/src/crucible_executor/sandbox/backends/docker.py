"""The `docker` backend: each program runs in a fresh container, through the Docker Engine API.

Any engine that speaks the API will do: Docker, or Podman's socket; it is
found at `DOCKER_HOST`. One run is one container, from the allow-listed image
the request names, with no network, a read-only root, the uid the caller
gives (one per executor slot), no capabilities, no new privileges, memory
without swap, one CPU, a pids limit, rlimits, a seccomp filter on top of the
engine's profile, and two small tmpfs mounts: `/tmp` (the scratch and
working directory) and `/sandbox` (where the program lands).

Warm containers. A container is created, attached and started before any
program is known: it waits in its bootstrap for one program on stdin. The
executor keeps one such container ready per slot (its image, memory limit
and uid), made again in the background as soon as one is taken, so that a
run pays only for handing its program over. Each container serves one
program and is removed after it, however the run ends: a timed-out or
cancelled run's container is killed and removed, never handed to another
evaluation. An idle one is named `crucible-warm-...`; taken, it is renamed
`crucible-run-...`.

How the program gets in. Nothing about it goes on the command line (1 MiB
would not fit, and `ps` on the host would show it), and the root is read-only
before and after start, so nothing can be copied in either. The container
starts a fixed bootstrap, `python3 -I -S -c _BOOTSTRAP`, with its stdin attached
to this executor over the API's hijacked `attach` connection; the executor
sends one frame on it:

    b"<len(code64)> <len(stdin64)> <len(harness64)> <cpu seconds>\\n"
    + code64 + stdin64 + harness64

(base64 all; with test cases the third part is `harness.py`, see `judging`, run
in the program's place with its job as stdin). The bootstrap makes itself
non-dumpable, installs the seccomp filter of `crucible_executor.sandbox.container_seccomp`
(its source is part of the bootstrap's), reads exactly that many bytes, writes
the code to `/sandbox/main.py` and the program's stdin to a file it opens as
fd 0 and unlinks, and starts `python3 -I /sandbox/main.py` under the frame's
CPU-time limit: the program runs as the process backend's does, with its own
stdin, whole, and a stdin that never blocks it. Just before, it writes one
byte on stdout, `_HANDED_OVER`, which the executor takes off the output: a
container that ends without it failed the platform, not the program (a
platform failure is retried and dead-lettered), and a program cannot unsay
it. Base64 keeps control bytes off the attach stream, where an engine may read
a detach sequence (ctrl-p ctrl-q) into them.

The same connection carries stdout and stderr back, multiplexed in frames
that say which stream each byte belongs to, so they are never mixed; they are
capped as the process backend caps them (the container is killed at the
first byte past the cap). Nothing goes through the engine's log driver.

Out of memory is decided on the host, never from an exit status: the kernel's
OOM notification for the container's memory cgroup (cgroup v1, where this
executor sees the engine's cgroups), or the engine's `OOMKilled` (Docker).
`memory_exceeded` means the program died of SIGKILL and the kernel had run
the container out of memory; a program that handles a child's OOM kill and
exits otherwise keeps its own outcome.

Every container carries the label `crucible.executor=<executor id>`; `sweep()`
removes what a previous life of this executor left behind, whatever killed it.
"""

import asyncio
import base64
import concurrent.futures
import logging
import os
import re
import resource
import signal
import socket
import struct
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import docker
import docker.errors
import docker.types
import docker.utils
import requests

from crucible_executor.sandbox import container_seccomp as seccomp
from crucible_executor.sandbox.base import OnStarted, SandboxUnavailable
from crucible_executor.sandbox.judging import (
    CHANNEL_LIMIT_BYTES,
    Judge,
    harness_source,
    run_result,
)
from crucible_executor.sandbox.streams import CappedOutput
from crucible_shared import limits
from crucible_shared.lifecycle import SandboxImage
from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult
from crucible_shared.settings import ExecutorSettings

logger = logging.getLogger(__name__)

EXECUTOR_LABEL = "crucible.executor"
WARM_PREFIX = "crucible-warm-"
RUN_PREFIX = "crucible-run-"
# Old enough for Podman 4's compatibility API and every Docker in support.
_API_VERSION = "1.41"
_API_TIMEOUT_SECONDS = 30
_CHECK_SECONDS = 20
# The bootstrap's own failure, believed only before it said _HANDED_OVER.
BOOTSTRAP_EXIT = 121
_BOOTSTRAP_MARK = "crucible-bootstrap:"
# The bootstrap's first byte on stdout, written once the program is in place
# and before it runs; not part of the program's output.
_HANDED_OVER = b"\x06"
_BOOTSTRAP = (
    Path(seccomp.__file__).read_text()
    + f"""
import base64, ctypes, os, resource, signal, sys
# What it reads may hold test cases, which the program must never see: no
# process of the sandbox may read its memory (PR_SET_DUMPABLE 0).
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
def fail(why):
    sys.stderr.write({_BOOTSTRAP_MARK!r} + ' ' + why + '\\n')
    os._exit({BOOTSTRAP_EXIT})
try:
    install_for_this_machine()
except Exception as exc:
    fail('no seccomp filter: ' + repr(exc))
def take(n):
    parts = []
    while n:
        part = os.read(0, min(n, 1 << 16))
        if not part:
            fail('the program did not arrive whole')
        parts.append(part)
        n -= len(part)
    return b''.join(parts)
head = b''
while not head.endswith(b'\\n'):
    byte = os.read(0, 1)
    if not byte:
        fail('no program arrived')
    head += byte
code_size, stdin_size, harness_size, cpu_seconds = map(int, head.split())
code = base64.b64decode(take(code_size))
data = base64.b64decode(take(stdin_size))
harness = base64.b64decode(take(harness_size))
with open('/sandbox/main.py', 'wb') as f:
    f.write(code)
argv = [sys.executable, '-I', '/sandbox/main.py']
if harness:
    with open('/sandbox/harness.py', 'wb') as f:
        f.write(harness)
    argv = [sys.executable, '-I', '-S', '/sandbox/harness.py']
with open('/sandbox/stdin', 'wb') as f:
    f.write(data)
del code, data, harness
fd = os.open('/sandbox/stdin', os.O_RDONLY)
os.unlink('/sandbox/stdin')
os.dup2(fd, 0)
os.close(fd)
os.write(1, {_HANDED_OVER!r})
pid = os.fork()
if pid == 0:
    # Dumpable again (as exec would make it), or /proc/self is root's and the
    # program's OOM score could not be raised; nothing else runs here yet.
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)
    try:
        with open('/proc/self/oom_score_adj', 'w') as f:
            f.write('1000')
    except OSError:
        pass
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    os.execv(sys.executable, argv)
os.close(0)
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except InterruptedError:
        pass
if os.WIFSIGNALED(status):
    if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
"""
)
_SANDBOX_ENV = {
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}
# The largest code and stdin, or a harness's job (cases are bounded by the
# request's size, JSON's escapes by six bytes a character), with room to spare.
_SANDBOX_DIR_BYTES = 2 * (limits.MAX_CODE_BYTES + 6 * limits.MAX_REQUEST_BYTES)
# RLIMIT_NPROC counts a uid's processes across the whole host: a ceiling,
# never the limit (pids_limit is). Podman needs it set explicitly, within the
# host's hard limit, once any ulimit is.
_NPROC_CEILING = 4096
_STDOUT, _STDERR = 1, 2
# The SDK lets a refused connection through as requests' own error.
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
# What of a failed bootstrap's stderr a platform error may quote.
_ERROR_TEXT_CHARS = 500
_CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class _Profile:
    """What a container is made with before its program is known."""

    image: SandboxImage
    memory_mb: int
    uid: int


class _OomWatch:
    """The kernel's OOM notifications for one container's memory cgroup (v1), read on the host.

    An eventfd registered through `cgroup.event_control` is signalled when the
    cgroup runs out of memory, and once more when the cgroup is removed; a
    signal is taken for an OOM only while the cgroup can still be read, which
    a removed one cannot. A late reading can miss an OOM, never invent one.
    """

    def __init__(self, directory: Path) -> None:
        self.seen = False
        self._event = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._control = os.open(directory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            (directory / "cgroup.event_control").write_text(f"{self._event} {self._control}")
        except OSError:
            self.close()
            raise

    @classmethod
    def of(cls, pid: int, container_id: str) -> "_OomWatch | None":
        """The watch of the container's memory cgroup, where this host shows it (v1).

        `pid` is the engine's, of the container's init: in another pid
        namespace (an executor in a container) it names some other process,
        whose cgroup does not bear the container's id.
        """
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
            path = next(
                line.split(":", 2)[2]
                for line in lines
                if "memory" in line.split(":", 2)[1].split(",")
            )
            if container_id not in path:
                return None
            return cls(_CGROUP_ROOT / "memory" / path.lstrip("/"))
        except (OSError, StopIteration, IndexError):
            return None

    def follow(self) -> None:
        """Read notifications on the running loop from now on."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._event, self._notified)

    def _notified(self) -> None:
        try:
            os.eventfd_read(self._event)
        except BlockingIOError:
            return
        try:
            os.pread(self._control, 4096, 0)
        except OSError:
            # Removed: the signal was its removal's.
            self.unfollow()
            return
        self.seen = True

    def unfollow(self) -> None:
        """On the loop that follows: stop reading notifications."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._event)
        self._loop = None

    def close(self) -> None:
        """Any thread, once no loop follows."""
        for fd in (self._event, self._control):
            with suppress(OSError):
                os.close(fd)


@dataclass
class _Idle:
    """A started container waiting for its program: bound to no event loop."""

    container: Any
    attach: socket.socket
    oom: _OomWatch | None

    def discard(self) -> None:
        """Blocking; for any thread."""
        with suppress(OSError):
            self.attach.close()
        if self.oom is not None:
            self.oom.close()
        _remove(self.container)


class DockerBackend:
    def __init__(self, settings: ExecutorSettings) -> None:
        self._settings = settings
        self._base_url = docker.utils.parse_host(os.environ.get("DOCKER_HOST"))
        self._client = docker.DockerClient(
            base_url=self._base_url, version=_API_VERSION, timeout=_API_TIMEOUT_SECONDS
        )
        self._images = {
            SandboxImage.PYTHON: settings.sandbox_image_python,
            SandboxImage.ML: settings.sandbox_image_ml,
        }
        self._warm_size = settings.executor_capacity
        # Warm containers are made in these threads, off any event loop, so
        # that one made for a loop that has since closed still serves.
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=2 * settings.executor_capacity + 1, thread_name_prefix="crucible-docker"
        )
        # Oldest first: the one to give up when another profile needs room.
        self._warm: list[tuple[_Profile, concurrent.futures.Future[_Idle]]] = []

    def sweep(self) -> None:
        """Remove every container a previous life of this executor left behind."""
        try:
            self._require_socket()
            orphans = self._containers()
        except (*_ENGINE_ERRORS, SandboxUnavailable) as exc:
            # The engine may come up after us; /ready says so meanwhile.
            logger.warning("cannot sweep containers, the engine does not answer: %s", exc)
            return
        for container in orphans:
            logger.warning("removing orphaned container %s", container.name)
            _remove(container)

    def close(self) -> None:
        """Remove the warm containers; blocking."""
        warm, self._warm = self._warm, []
        self._warm_size = 0
        for _, future in warm:
            _discard_when_made(future)
        self._threads.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def check(self) -> None:
        self._require_socket()
        try:
            self._client.ping()
            for image in self._images.values():
                self._client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailable(
                f"sandbox image missing: {exc.explanation or exc} "
                "(build it: scripts/container-engine.sh executor-images)"
            ) from exc
        except _ENGINE_ERRORS as exc:
            raise SandboxUnavailable(f"the container engine does not answer: {exc}") from exc

        async def trial() -> ExecutionResult:
            async def started() -> None:
                pass

            probe = ExecutionRequest(evaluation_id="ready-check", code="pass", timeout_seconds=10)
            async with asyncio.timeout(_CHECK_SECONDS):
                # Cold: a probe must not take a slot's warm container, nor keep one.
                idle = await _claim(
                    self._threads.submit(
                        self._prepare, self._profile(probe, self._settings.sandbox_uid_base)
                    )
                )
                return await self._run_in(idle, probe, started)

        try:
            result = asyncio.run(trial())
        except TimeoutError as exc:
            raise SandboxUnavailable("a trial container did not finish") from exc
        if result.exit_code != 0:
            raise SandboxUnavailable(f"a trial container failed: {result.stderr.strip()}")

    # The engine's cgroups, of whichever version the host has, enforce the limits.
    cgroup = "engine"

    async def run(
        self, request: ExecutionRequest, on_started: OnStarted, *, uid: int
    ) -> ExecutionResult:
        profile = self._profile(request, uid)
        warm = self._take_warm(profile)
        idle = None
        if warm is not None:
            try:
                idle = await _claim(warm)
            except SandboxUnavailable as exc:
                logger.warning("a warm container failed, making another: %s", exc)
        if idle is None:
            idle = await _claim(self._threads.submit(self._prepare, profile))
        # Once this run's container is there: the next one's making must not
        # compete with it.
        self._refill(profile)
        return await self._run_in(idle, request, on_started)

    def warm_containers(self) -> int:
        """How many containers wait, made and started, for programs to come."""
        return sum(
            1
            for _, future in self._warm
            if future.done() and not future.cancelled() and future.exception() is None
        )

    def _profile(self, request: ExecutionRequest, uid: int) -> _Profile:
        return _Profile(request.image, request.memory_mb, uid)

    def _take_warm(self, profile: _Profile) -> "concurrent.futures.Future[_Idle] | None":
        """A ready container of `profile` if there is one, else one being made, else None."""
        matching = [entry for entry in self._warm if entry[0] == profile]
        if not matching:
            return None
        entry = next((entry for entry in matching if entry[1].done()), matching[0])
        self._warm.remove(entry)
        return entry[1]

    def _refill(self, profile: _Profile) -> None:
        if self._warm_size == 0:
            return
        if len(self._warm) >= self._warm_size:
            other = next((entry for entry in self._warm if entry[0] != profile), None)
            if other is None:
                # Full of this profile's already.
                return
            self._warm.remove(other)
            _discard_when_made(other[1])
        self._warm.append((profile, self._threads.submit(self._prepare, profile)))

    async def _run_in(
        self, idle: _Idle, request: ExecutionRequest, on_started: OnStarted
    ) -> ExecutionResult:
        name = f"{RUN_PREFIX}{_name_part(request.evaluation_id)}-{uuid.uuid4().hex[:8]}"
        renamed = self._threads.submit(idle.container.rename, name)
        try:
            reader, writer = await asyncio.open_connection(sock=idle.attach)
        except OSError as exc:
            self._threads.submit(_discard_used, idle, renamed)
            raise SandboxUnavailable(f"cannot use the attach connection: {exc!r}") from exc
        try:
            if idle.oom is not None:
                idle.oom.follow()
            await on_started()
            return await self._watch(idle, request, reader, writer)
        finally:
            # Runs on cancellation too. The container has ended or been killed by
            # now: nothing runs in it, and nobody else can be given it, so its
            # removal need not hold up the result.
            if idle.oom is not None:
                idle.oom.unfollow()
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()
            self._threads.submit(_discard_used, idle, renamed)

    def _containers(self) -> list[Any]:
        label = f"{EXECUTOR_LABEL}={self._settings.executor_id}"
        containers: list[Any] = self._client.containers.list(all=True, filters={"label": label})
        return containers

    def _require_socket(self) -> None:
        # Checked before the SDK tries: it leaves the socket of a failed connect
        # unclosed, which warns when collected.
        url = urlsplit(self._base_url)
        if url.scheme == "http+unix" and not os.path.exists(url.path):
            raise SandboxUnavailable(
                f"the container engine does not answer: no socket at {url.path} "
                "(start one: scripts/container-engine.sh engine)"
            )

    def _prepare(self, profile: _Profile) -> _Idle:
        """A container created, attached and started, waiting for a program; blocking."""
        container = self._create(profile)
        try:
            attach = self._attach(container.id)
            try:
                container.start()
                container.reload()
                pid = int(container.attrs["State"].get("Pid") or 0)
            except _ENGINE_ERRORS as exc:
                attach.close()
                raise SandboxUnavailable(f"the container could not be started: {exc}") from exc
            return _Idle(container, attach, _OomWatch.of(pid, container.id) if pid else None)
        except BaseException:
            _remove(container)
            raise

    def _create(self, profile: _Profile) -> Any:
        self._require_socket()
        image = self._images[profile.image]
        memory = profile.memory_mb * limits.MIB
        try:
            return self._client.containers.create(
                image,
                command=["python3", "-I", "-S", "-c", _BOOTSTRAP],
                name=f"{WARM_PREFIX}{self._settings.executor_id}-{uuid.uuid4().hex[:12]}",
                labels={EXECUTOR_LABEL: self._settings.executor_id},
                environment=_SANDBOX_ENV,
                hostname="sandbox",
                user=f"{profile.uid}:{profile.uid}",
                working_dir="/tmp",
                stdin_open=True,
                tty=False,
                init=True,
                network_mode="none",
                read_only=True,
                tmpfs={
                    "/tmp": f"rw,nosuid,nodev,size={limits.SANDBOX_SCRATCH_BYTES},mode=1777",
                    "/sandbox": f"rw,nosuid,nodev,noexec,size={_SANDBOX_DIR_BYTES},mode=1777",
                    # Podman would mount writable ones here of its own accord.
                    "/run": "ro,nosuid,nodev,noexec,size=65536",
                    "/var/tmp": "ro,nosuid,nodev,noexec,size=65536",
                },
                # The engine's default (64 MiB in Docker and Podman) made explicit:
                # no writable place is bigger than the scratch.
                shm_size=limits.SANDBOX_SCRATCH_BYTES,
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=1_000_000_000,
                pids_limit=limits.SANDBOX_MAX_PROCESSES,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                ulimits=_ulimits(),
                log_config=docker.types.LogConfig(type="none"),
            )
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailable(
                f"sandbox image {image} ({profile.image}) is missing on this engine"
            ) from exc
        except _ENGINE_ERRORS as exc:
            raise SandboxUnavailable(f"the container could not be created: {exc}") from exc

    async def _watch(
        self,
        idle: _Idle,
        request: ExecutionRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> ExecutionResult:
        container = idle.container
        started_at = time.monotonic()
        kill = _Killer(container)
        limit = self._settings.output_limit_bytes
        judge = Judge.of(request, limit)
        # Under a harness stdout is its result channel, not the program's output.
        stdout = CappedOutput(CHANNEL_LIMIT_BYTES if judge else limit)
        stderr = CappedOutput(limit)
        streams = {_STDOUT: asyncio.StreamReader(), _STDERR: asyncio.StreamReader()}
        handed_over = False

        async def read_stdout() -> None:
            nonlocal handed_over
            with suppress(asyncio.IncompleteReadError):
                handed_over = await streams[_STDOUT].readexactly(1) == _HANDED_OVER
            await stdout.read_from(streams[_STDOUT], on_overflow=kill)

        tasks = [
            asyncio.create_task(_demultiplex(reader, streams)),
            asyncio.create_task(read_stdout()),
            asyncio.create_task(stderr.read_from(streams[_STDERR], on_overflow=kill)),
        ]
        feeder = asyncio.create_task(_send_program(writer, request, judge))
        timed_out = False
        status: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(request.timeout_seconds):
                # The attached streams end when the container does.
                await asyncio.gather(*tasks)
                status = await asyncio.to_thread(_wait, container)
        except TimeoutError:
            timed_out = True
        finally:
            if status is None:
                kill()
            feeder.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.wait([feeder, *tasks, *kill.pending])
        duration_ms = round((time.monotonic() - started_at) * 1000)

        if status is None:
            # Killed by us (time or output): waiting for the engine to say so
            # would only delay the result.
            status = {"StatusCode": 128 + signal.SIGKILL, "Error": None}
        exit_code = int(status["StatusCode"])
        error = status.get("Error")
        error_message = error.get("Message") if isinstance(error, dict) else error
        if not handed_over:
            # Nothing of the program's ran: whatever happened is the platform's.
            raise SandboxUnavailable(
                f"the program could not be handed over (exit {exit_code}): "
                f"{stderr.text()[:_ERROR_TEXT_CHARS]!r}"
            )
        killed_by_us = timed_out or stdout.truncated or stderr.truncated
        if not killed_by_us and error_message:
            raise SandboxUnavailable(f"the container failed: {error_message}")
        memory_exceeded = (
            not killed_by_us and exit_code == 128 + signal.SIGKILL and await _out_of_memory(idle)
        )
        return run_result(
            judge,
            stdout=stdout,
            stderr=stderr,
            exit_code=exit_code,
            timed_out=timed_out,
            memory_exceeded=memory_exceeded,
            duration_ms=duration_ms,
            image=self._images[request.image],
            image_digest=_digest(container.attrs.get("Image", "")),
        )

    def _attach(self, container_id: str) -> socket.socket:
        """The hijacked `attach` connection: stdin in, multiplexed stdout and stderr out; blocking.

        Opened before the container starts, so that no byte of output is missed.
        Spoken here rather than through the SDK, so that an event loop can own
        the socket outright once a program arrives.
        """
        url = urlsplit(self._base_url)
        try:
            if url.scheme == "http+unix":
                attach = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                address: Any = url.path
            elif url.scheme == "http" and url.hostname:
                attach = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                address = (url.hostname, url.port or 2375)
            else:
                raise SandboxUnavailable(f"DOCKER_HOST {self._base_url} is not unix:// or tcp://")
        except OSError as exc:
            raise SandboxUnavailable(f"cannot attach to the container: {exc!r}") from exc
        try:
            attach.settimeout(_API_TIMEOUT_SECONDS)
            attach.connect(address)
            path = f"/v{_API_VERSION}/containers/{quote(container_id)}/attach"
            query = "stream=1&stdin=1&stdout=1&stderr=1"
            attach.sendall(
                f"POST {path}?{query} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                # One byte at a time: what follows the head is the container's.
                byte = attach.recv(1)
                if not byte:
                    raise ConnectionResetError("the engine closed the connection")
                head += byte
            status = head.split(b"\r\n", 1)[0]
            if status.split()[1:2] not in ([b"101"], [b"200"]):
                raise SandboxUnavailable(f"the engine refused to attach: {status.decode()}")
            attach.settimeout(None)
            return attach
        except OSError as exc:
            attach.close()
            raise SandboxUnavailable(f"cannot attach to the container: {exc!r}") from exc
        except BaseException:
            attach.close()
            raise


async def _claim(future: "concurrent.futures.Future[_Idle]") -> _Idle:
    """The container `future` makes; if we are cancelled first, it is removed once made."""
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        _discard_when_made(future)
        raise


def _discard_when_made(future: "concurrent.futures.Future[_Idle]") -> None:
    def discard(done: "concurrent.futures.Future[_Idle]") -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().discard()

    if not future.cancel():
        future.add_done_callback(discard)


def _name_part(evaluation_id: str) -> str:
    """`evaluation_id` as a container name allows it (letters, digits, `_.-`)."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", evaluation_id)[:64]


class _Killer:
    """Kills the container once, from a callback or a `finally`, without blocking the loop."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self.pending: list[asyncio.Future[None]] = []

    def __call__(self) -> None:
        if not self.pending:
            self.pending.append(asyncio.ensure_future(asyncio.to_thread(self._kill)))

    def _kill(self) -> None:
        # Already gone is fine: this is called whether or not it still runs.
        with suppress(docker.errors.APIError):
            self._container.kill()


async def _send_program(
    writer: asyncio.StreamWriter, request: ExecutionRequest, judge: Judge | None
) -> None:
    code = base64.b64encode(request.code.encode("utf-8", errors="surrogatepass"))
    raw_stdin = judge.job() if judge else request.stdin.encode("utf-8", errors="surrogatepass")
    stdin = base64.b64encode(raw_stdin)
    harness = base64.b64encode(harness_source()) if judge else b""
    # Wall time wins the race for `timeout`: CPU time gets a second more.
    cpu_seconds = request.timeout_seconds + 1
    try:
        writer.write(b"%d %d %d %d\n" % (len(code), len(stdin), len(harness), cpu_seconds))
        writer.write(code)
        writer.write(stdin)
        writer.write(harness)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (BrokenPipeError, ConnectionResetError):
        # The container is gone already; how it ended is read from its state.
        pass


async def _demultiplex(
    reader: asyncio.StreamReader, streams: dict[int, asyncio.StreamReader]
) -> None:
    """Split the attach stream's frames (`stream id, 0, 0, 0, big-endian size`) by stream."""
    try:
        while True:
            try:
                header = await reader.readexactly(8)
            except asyncio.IncompleteReadError:
                return
            stream_id, size = struct.unpack(">BxxxL", header)
            payload = await reader.readexactly(size)
            target = streams.get(stream_id)
            if target is not None:
                target.feed_data(payload)
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return
    finally:
        for stream in streams.values():
            stream.feed_eof()


def _ulimits() -> list[docker.types.Ulimit]:
    hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = (
        _NPROC_CEILING if hard_nproc == resource.RLIM_INFINITY else min(_NPROC_CEILING, hard_nproc)
    )
    # The longest run's; the bootstrap lowers it to the program's own.
    cpu = limits.TIMEOUT_SECONDS.maximum + 1
    values = {
        "cpu": cpu,
        "fsize": limits.SANDBOX_MAX_FILE_BYTES,
        "nofile": limits.SANDBOX_MAX_OPEN_FILES,
        "nproc": nproc,
        "core": 0,
    }
    return [docker.types.Ulimit(name=name, soft=v, hard=v) for name, v in values.items()]


def _wait(container: Any) -> dict[str, Any]:
    """The engine's `{"StatusCode": ..., "Error": ...}` once the container has ended."""
    status: dict[str, Any] = container.wait(timeout=_API_TIMEOUT_SECONDS)
    return status


async def _out_of_memory(idle: _Idle) -> bool:
    """The host's word: the kernel's notification, else the engine's (Docker)."""
    if idle.oom is not None:
        return idle.oom.seen
    state = (await asyncio.to_thread(_inspect, idle.container))["State"]
    return bool(state.get("OOMKilled"))


def _inspect(container: Any) -> dict[str, Any]:
    container.reload()
    attrs: dict[str, Any] = container.attrs
    return attrs


def _discard_used(idle: _Idle, renamed: "concurrent.futures.Future[None]") -> None:
    # Named as used before it goes, so that a removal that fails leaves it
    # for the sweep under a name that says so.
    with suppress(*_ENGINE_ERRORS):
        renamed.result()
    idle.discard()


# Podman refuses to remove a container caught between running and stopped
# ("could not be stopped ... container state improper: stopped"); a moment
# later the same call removes it.
_REMOVE_ATTEMPTS = 3
_REMOVE_RETRY_SECONDS = 0.5


def _remove(container: Any) -> None:
    for attempt in range(1, _REMOVE_ATTEMPTS + 1):
        try:
            container.remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except _ENGINE_ERRORS as exc:
            if attempt == _REMOVE_ATTEMPTS:
                # Labelled: the next start-up's sweep removes it.
                logger.error("cannot remove container %s: %s", container.id, exc)
                return
            logger.warning("removing container %s, attempt %d: %s", container.id, attempt, exc)
            time.sleep(_REMOVE_RETRY_SECONDS)


def _digest(image_id: str) -> str | None:
    if not image_id:
        return None
    return image_id if ":" in image_id else f"sha256:{image_id}"
