"""The `docker` backend: each program runs in a fresh container, through the Docker Engine API.

Any engine that speaks the API will do: Docker, or Podman's socket; it is
found at `DOCKER_HOST`. One run is one container, from the allow-listed image
the request names, with no network, a read-only root, uid 65534, no
capabilities, no new privileges, memory without swap, one CPU, a pids limit,
rlimits, and two small tmpfs mounts: `/tmp` (the scratch and working
directory) and `/sandbox` (where the program lands).

How the program gets in. Nothing about it goes on the command line (1 MiB
would not fit, and `ps` on the host would show it), and the root is read-only
before and after start, so nothing can be copied in either. The container
starts a fixed bootstrap, `python3 -I -S -c _BOOTSTRAP`, with its stdin attached
to this executor over the API's hijacked `attach` connection; the executor
sends one frame on it:

    b"<len(code64)> <len(stdin64)> <len(harness64)>\\n" + code64 + stdin64 + harness64

(base64 all). The bootstrap reads exactly that many bytes, writes the code to
`/sandbox/main.py` and the program's stdin to a file it opens as fd 0 and
unlinks, and execs `python3 -I /sandbox/main.py`: the program runs as the
process backend's does, with its own stdin, whole, and a stdin that never
blocks it (it is a file, however much of it the program leaves unread).
Just before, it writes one byte on stdout, `_HANDED_OVER`, which the
executor takes off the output: a bootstrap failure (exit 121) is believed
only from a bootstrap that never wrote it, so a program cannot pass its own
exit off as the platform's (a platform failure is retried and dead-lettered).
Base64 keeps control bytes off the attach stream, where an engine may read a
detach sequence (ctrl-p ctrl-q) into them. With test cases, the third part is
`harness.py` (see `judging`), run in the program's place with its job as stdin.

The same connection carries stdout and stderr back, multiplexed in frames
that say which stream each byte belongs to, so they are never mixed; they are
capped as the process backend caps them (the container is killed at the
first byte past the cap). Nothing goes through the engine's log driver.

Every container carries the label `crucible.executor=<executor id>`; `sweep()`
removes what a previous life of this executor left behind, whatever killed it.
"""

import asyncio
import base64
import logging
import os
import resource
import signal
import struct
import time
from contextlib import suppress
from typing import Any
from urllib.parse import quote, urlsplit

import docker
import docker.errors
import docker.types
import docker.utils
import requests

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
EVALUATION_LABEL = "crucible.evaluation"
# Old enough for Podman 4's compatibility API and every Docker in support.
_API_VERSION = "1.41"
_API_TIMEOUT_SECONDS = 30
_CHECK_SECONDS = 20
# Exit statuses of the bootstrap's own: it failed, or it saw the kernel's OOM
# killer take the program. A program that exits with one of them itself only
# misreports its own outcome: the first is believed only from a bootstrap
# that never said _HANDED_OVER, which the program cannot unsay.
BOOTSTRAP_EXIT = 121
OOM_EXIT = 122
_BOOTSTRAP_MARK = "crucible-bootstrap:"
# The bootstrap's first byte on stdout, written once the program is in place
# and before it runs; not part of the program's output.
_HANDED_OVER = b"\x06"
_BOOTSTRAP = f"""\
import base64, ctypes, os, signal, sys
# What it reads may hold test cases, which the program must never see: no
# process of the sandbox may read its memory (PR_SET_DUMPABLE 0).
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
def fail(why):
    sys.stderr.write({_BOOTSTRAP_MARK!r} + ' ' + why + '\\n')
    os._exit({BOOTSTRAP_EXIT})
def take(n):
    parts = []
    while n:
        part = os.read(0, min(n, 1 << 16))
        if not part:
            fail('the program did not arrive whole')
        parts.append(part)
        n -= len(part)
    return b''.join(parts)
def oom_kills():
    for path in ('/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control'):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith('oom_kill '):
                        return int(line.split()[1])
        except OSError:
            pass
    return 0
head = b''
while not head.endswith(b'\\n'):
    byte = os.read(0, 1)
    if not byte:
        fail('no program arrived')
    head += byte
code_size, stdin_size, harness_size = map(int, head.split())
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
before = oom_kills()
pid = os.fork()
if pid == 0:
    try:
        with open('/proc/self/oom_score_adj', 'w') as f:
            f.write('1000')
    except OSError:
        pass
    os.execv(sys.executable, argv)
os.close(0)
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except InterruptedError:
        pass
if os.WIFSIGNALED(status):
    if os.WTERMSIG(status) == signal.SIGKILL and oom_kills() > before:
        os._exit({OOM_EXIT})
    if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
"""
_SANDBOX_ENV = {
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}
# The largest code and stdin, or a harness's job (cases are bounded by the
# request's size, JSON's escapes by six bytes a character), with room to spare.
_SANDBOX_DIR_BYTES = 2 * (limits.MAX_CODE_BYTES + 6 * limits.MAX_REQUEST_BYTES)
# RLIMIT_NPROC counts the processes of uid 65534 across the whole host, which
# every sandbox shares: a ceiling, never the limit (pids_limit is). Podman
# needs it set explicitly, within the host's hard limit, once any ulimit is.
_NPROC_CEILING = 4096
_STDOUT, _STDERR = 1, 2
# The SDK lets a refused connection through as requests' own error.
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


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
                return await self.run(probe, started, uid=self._settings.sandbox_uid_base)

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
        container = await asyncio.to_thread(self._create, request, uid)
        try:
            return await self._supervise(container, request, on_started)
        finally:
            # Runs on cancellation too; a second cancellation cannot stop the
            # thread, only our waiting for it.
            await asyncio.to_thread(_remove, container)

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

    def _create(self, request: ExecutionRequest, uid: int) -> Any:
        self._require_socket()
        image = self._images[request.image]
        memory = request.memory_mb * limits.MIB
        try:
            return self._client.containers.create(
                image,
                command=["python3", "-I", "-S", "-c", _BOOTSTRAP],
                labels={
                    EXECUTOR_LABEL: self._settings.executor_id,
                    EVALUATION_LABEL: request.evaluation_id,
                },
                environment=_SANDBOX_ENV,
                hostname="sandbox",
                user=f"{uid}:{uid}",
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
                ulimits=_ulimits(request),
                log_config=docker.types.LogConfig(type="none"),
            )
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailable(
                f"sandbox image {image} ({request.image}) is missing on this engine"
            ) from exc
        except _ENGINE_ERRORS as exc:
            raise SandboxUnavailable(f"the container could not be created: {exc}") from exc

    async def _supervise(
        self, container: Any, request: ExecutionRequest, on_started: OnStarted
    ) -> ExecutionResult:
        reader, writer = await self._attach(container.id)
        try:
            try:
                await asyncio.to_thread(container.start)
            except _ENGINE_ERRORS as exc:
                raise SandboxUnavailable(f"the container could not be started: {exc}") from exc
            started_at = time.monotonic()
            await on_started()
            return await self._watch(container, request, reader, writer, started_at)
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def _watch(
        self,
        container: Any,
        request: ExecutionRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        started_at: float,
    ) -> ExecutionResult:
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
        timed_out = exited = False
        try:
            async with asyncio.timeout(request.timeout_seconds):
                # The attached streams end when the container does.
                await asyncio.gather(*tasks)
                await asyncio.to_thread(container.wait)
                exited = True
        except TimeoutError:
            timed_out = True
        finally:
            if not exited:
                kill()
            feeder.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.wait([feeder, *tasks, *kill.pending])
        duration_ms = round((time.monotonic() - started_at) * 1000)

        state = (await asyncio.to_thread(_inspect, container))["State"]
        exit_code = int(state["ExitCode"])
        killed_by_us = timed_out or stdout.truncated or stderr.truncated
        if exit_code == BOOTSTRAP_EXIT and not handed_over:
            raise SandboxUnavailable(f"the program could not be handed over: {stderr.text()}")
        if not killed_by_us and state.get("Error"):
            raise SandboxUnavailable(f"the container failed: {state['Error']}")
        # The engine's word where it has one (Docker); else the bootstrap's, which
        # read the kernel's OOM-kill count of the container's memory cgroup.
        memory_exceeded = bool(state.get("OOMKilled")) or exit_code == OOM_EXIT
        if memory_exceeded:
            exit_code = 128 + signal.SIGKILL
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

    async def _attach(self, container_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The hijacked `attach` connection: stdin in, multiplexed stdout and stderr out.

        Opened before the container starts, so that no byte of output is missed.
        Spoken here rather than through the SDK's blocking socket, so that the
        event loop owns it outright.
        """
        url = urlsplit(self._base_url)
        try:
            if url.scheme == "http+unix":
                reader, writer = await asyncio.open_unix_connection(url.path)
            elif url.scheme == "http" and url.hostname:
                reader, writer = await asyncio.open_connection(url.hostname, url.port or 2375)
            else:
                raise SandboxUnavailable(f"DOCKER_HOST {self._base_url} is not unix:// or tcp://")
            path = f"/v{_API_VERSION}/containers/{quote(container_id)}/attach"
            query = "stream=1&stdin=1&stdout=1&stderr=1"
            writer.write(
                f"POST {path}?{query} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _API_TIMEOUT_SECONDS)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            raise SandboxUnavailable(f"cannot attach to the container: {exc!r}") from exc
        status = head.split(b"\r\n", 1)[0]
        if status.split()[1:2] not in ([b"101"], [b"200"]):
            writer.close()
            raise SandboxUnavailable(f"the engine refused to attach: {status.decode()}")
        return reader, writer


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
    try:
        writer.write(b"%d %d %d\n" % (len(code), len(stdin), len(harness)))
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


def _ulimits(request: ExecutionRequest) -> list[docker.types.Ulimit]:
    hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = (
        _NPROC_CEILING if hard_nproc == resource.RLIM_INFINITY else min(_NPROC_CEILING, hard_nproc)
    )
    values = {
        # Wall time wins the race for `timeout`: CPU time gets a second more.
        "cpu": request.timeout_seconds + 1,
        "fsize": limits.SANDBOX_MAX_FILE_BYTES,
        "nofile": limits.SANDBOX_MAX_OPEN_FILES,
        "nproc": nproc,
        "core": 0,
    }
    return [docker.types.Ulimit(name=name, soft=v, hard=v) for name, v in values.items()]


def _inspect(container: Any) -> dict[str, Any]:
    container.reload()
    attrs: dict[str, Any] = container.attrs
    return attrs


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
