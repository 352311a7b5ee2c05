"""The test harness: the program a sandbox runs when a submission carries test cases.

Shipped into the sandbox beside the program and run as `python3 -I -S harness.py`;
standard library only, for it runs on the sandbox's interpreter, not the
executor's. Three roles, one file:

    supervisor   reads the program and its cases (fd 0, to the end, before any
                 of the program's code runs), starts the zygote, judges each case
                 and alone writes the result channel (fd 1), every line of it
                 signed with the key the executor sent along with the cases.
    zygote       a fresh interpreter (exec'd: it holds nothing of the cases),
                 which forks one child per case and reports how each ended.
    child        runs the program's code, then, for a code case, asks for its
                 case and runs it in the same interpreter state.

The supervisor and the zygote make themselves non-dumpable, so that no other
process of the same uid can trace them or open their memory or descriptors: a
child cannot read a case it was not given, nor write the channel. A child
reaches its case over a pipe only after it said its code had run, and must
answer with the case's nonce. A stdout case's expected output never leaves the
supervisor: it compares. Between cases every process other than the harness
and its ancestors is killed, so that nothing one case left behind reaches the
next; a child that kills the zygote costs only its own case.
"""

import contextlib
import ctypes
import hashlib
import hmac
import json
import os
import resource
import secrets
import select
import signal
import socket
import sys
import time
import traceback
from typing import Any

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
# Exit status of a harness that failed on its own account: the platform's fault.
HARNESS_FAILED = 120
_CODE_PATH = "/sandbox/main.py"
_ZYGOTE_ARG = "--zygote"
_CHUNK = 65536
# Once a child is gone, how long what it (or something it forked) still
# writes is read before the pipes are closed on it.
_DRAIN_SECONDS = 0.2
_SPAWN_SECONDS = 10.0
_OOM_EVENT_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")

Message = dict[str, Any]


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _keep_to_itself() -> None:
    if not _prctl(_PR_SET_DUMPABLE, 0):
        raise RuntimeError("cannot make the harness non-dumpable")


def _oom_kills() -> int:
    for path in _OOM_EVENT_FILES:
        try:
            with open(path) as events:
                for line in events:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            pass
    return 0


def _send_line(fd: int, message: Message) -> None:
    _write_all(fd, (json.dumps(message) + "\n").encode())


# The child: runs in a fork of the zygote, with the program's code.


def _child(request: Message, fds: list[int], code: str) -> None:
    stdin, stdout, stderr, control, report = fds
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
        os.close(fd)
    cpu = int(request["cpu"])
    hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)[1]
    top = cpu + 1 if hard_cpu == resource.RLIM_INFINITY else min(cpu + 1, hard_cpu)
    resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, top), top))
    memory = int(request["memory"])
    hard_as = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard_as == resource.RLIM_INFINITY or memory < hard_as:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.setsid()

    def tell(message: Message) -> None:
        with contextlib.suppress(OSError):
            _send_line(report, message)

    flagged: set[str] = set()

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event in ("socket.connect", "socket.sendto", "socket.getaddrinfo") and (
            "tried_network" not in flagged
        ):
            flagged.add("tried_network")
            tell({"event": "flag", "flag": "tried_network"})

    sys.addaudithook(audit)

    import builtins
    import types

    before = dict(vars(builtins))
    module = types.ModuleType("__main__")
    module.__file__ = _CODE_PATH
    sys.modules["__main__"] = module
    sys.argv = [_CODE_PATH]
    namespace = module.__dict__
    is_code_case = request["kind"] == "code"

    def finish(status: int) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)

    try:
        exec(compile(code, _CODE_PATH, "exec"), namespace)
    except SystemExit as exc:
        # The program is over: what it did to the builtins must not break the report.
        _set_builtins(before)
        status = _exit_status(exc)
        tell({"event": "exited", "status": status})
        finish(status)
    except MemoryError:
        _set_builtins(before)
        tell({"event": "memory"})
        finish(1)
    except BaseException as exc:
        _set_builtins(before)
        trace = _trace(exc)
        sys.stderr.write(trace)
        tell({"event": "raised", "message": trace})
        finish(1)
    if not is_code_case:
        import atexit

        atexit._run_exitfuncs()
        finish(0)

    programs = dict(vars(builtins))
    replaced = sorted(
        name for name, value in before.items() if programs.get(name, _MISSING) is not value
    )
    if replaced:
        tell({"event": "flag", "flag": "replaced_builtins", "names": replaced})
    # The harness's own steps run on the builtins it started with; the test
    # runs on the program's, as it would after the program in one interpreter.
    _set_builtins(before)
    tell({"event": "ready"})
    case = json.loads(_read_all(control))
    verdict, message = "passed", None
    test_name = f"<test {request['index']}>"
    test = compile(case["code"], test_name, "exec")
    try:
        _set_builtins(programs)
        try:
            exec(test, namespace)
        finally:
            _set_builtins(before)
    except AssertionError as exc:
        verdict, message = "failed", _assertion(exc, test_name, case["code"])
    except SystemExit as exc:
        verdict, message = "error", f"the test called sys.exit({exc.code!r})"
    except MemoryError:
        verdict = "memory_exceeded"
    except BaseException as exc:
        verdict, message = "error", _trace(exc)
    tell({"event": "verdict", "nonce": case["nonce"], "verdict": verdict, "message": message})
    finish(0)


_MISSING = object()


def _set_builtins(values: dict[str, Any]) -> None:
    import builtins

    table = vars(builtins)
    table.clear()
    table.update(values)


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    sys.stderr.write(f"{exc.code}\n")
    return 1


def _trace(exc: BaseException) -> str:
    # The first frame is the harness's own `exec`: not the program's business.
    frames = exc.__traceback__.tb_next if exc.__traceback__ else None
    return "".join(traceback.format_exception(type(exc), exc, frames))


def _assertion(exc: AssertionError, test_name: str, test_code: str) -> str:
    """The assertion's message, or else the line of the test that failed."""
    if str(exc):
        return str(exc)
    lines = test_code.splitlines()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == test_name and frame.lineno and frame.lineno <= len(lines):
            return f"line {frame.lineno} failed: {lines[frame.lineno - 1].strip()}"
    return _trace(exc).rstrip().splitlines()[-1]


def _read_all(fd: int) -> bytes:
    parts = []
    while part := os.read(fd, _CHUNK):
        parts.append(part)
    return b"".join(parts)


# The zygote: a pristine interpreter that forks the children.


def _zygote() -> None:
    # Inherited by every child: the kernel's OOM killer takes a case, never
    # the harness. Set before the zygote is non-dumpable, when /proc still lets it.
    try:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
    except OSError:
        pass
    _keep_to_itself()
    link = socket.socket(fileno=3)
    code = _read_all(0).decode("utf-8", errors="surrogateescape")
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(link, _CHUNK, 5)
        except OSError:
            return
        if not data:
            return
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            link.close()
            _child(request, fds, code)
        for fd in fds:
            os.close(fd)
        link.send(json.dumps({"pid": pid}).encode())
        _, status, usage = os.wait4(pid, 0)
        cpu_ms = round((usage.ru_utime + usage.ru_stime) * 1000)
        link.send(json.dumps({"status": status, "cpu_ms": cpu_ms}).encode())


# The supervisor.


class _Channel:
    """The result channel: numbered lines, each signed, that only the supervisor writes."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._sequence = 0

    def send(self, message: Message) -> None:
        message = {"seq": self._sequence, **message}
        self._sequence += 1
        body = json.dumps(message, ensure_ascii=True)
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        _write_all(1, f"{mac} {body}\n".encode())


class _Zygote:
    def __init__(self, source: str, code: bytes) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code_read, code_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(theirs.fileno(), 3)
                os.dup2(code_read, 0)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.set_inheritable(3, True)
                os.execv(sys.executable, [sys.executable, "-I", "-c", source, _ZYGOTE_ARG])
            finally:
                os._exit(HARNESS_FAILED)
        theirs.close()
        os.close(code_read)
        with os.fdopen(code_write, "wb") as pipe:
            pipe.write(code)
        self.pid = pid
        self.link = ours

    def close(self) -> None:
        self.link.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


class _Supervisor:
    def __init__(self, source: str, job: Message) -> None:
        self.source = source
        self.job = job
        self.channel = _Channel(bytes.fromhex(job["key"]))
        with open(_CODE_PATH, "rb") as program:
            self.code = program.read()
        self.zygote: _Zygote | None = None
        self.protected = _ancestors() | {os.getpid()}

    def run(self) -> None:
        self.channel.send({"type": "hello", "python": sys.version.split()[0]})
        failed = False
        for index, case in enumerate(self.job["tests"]):
            if failed and self.job["stop_on_first_failure"]:
                break
            self.channel.send({"type": "start", "index": index})
            result = self._judge(index, case)
            self.channel.send({"type": "case", **result})
            failed = failed or result["verdict"] != "passed"
        self.channel.send({"type": "done"})

    def _zygote(self) -> _Zygote:
        if self.zygote is None:
            self.zygote = _Zygote(self.source, self.code)
            self.protected.add(self.zygote.pid)
        return self.zygote

    def _spawn(self, request: Message, fds: list[int]) -> tuple[_Zygote, int]:
        # A zygote the last case killed is replaced, once.
        for attempt in (1, 2):
            zygote = self._zygote()
            try:
                socket.send_fds(zygote.link, [json.dumps(request).encode()], fds)
                ready, _, _ = select.select([zygote.link], [], [], _SPAWN_SECONDS)
                answer = zygote.link.recv(_CHUNK) if ready else b""
                if answer:
                    return zygote, int(json.loads(answer)["pid"])
            except OSError:
                pass
            self._forget_zygote()
            if attempt == 2:
                raise RuntimeError("the zygote did not fork a case")
        raise AssertionError("unreachable")

    def _forget_zygote(self) -> None:
        if self.zygote is not None:
            self.protected.discard(self.zygote.pid)
            self.zygote.close()
            self.zygote = None

    def _judge(self, index: int, case: Message) -> Message:
        is_code_case = "code" in case
        cpu = int(case["timeout_seconds"])
        request = {
            "index": index,
            "kind": "code" if is_code_case else "stdout",
            "cpu": cpu,
            "memory": int(self.job["memory_bytes"]),
        }
        stdin_text = self.job["stdin"] if is_code_case else case.get("stdin", "")
        pipes = [os.pipe() for _ in range(5)]
        (stdin_r, stdin_w), (out_r, out_w), (err_r, err_w), (ctl_r, ctl_w), (rep_r, rep_w) = pipes
        oom_before = _oom_kills()
        started = time.monotonic()
        try:
            zygote, pid = self._spawn(request, [stdin_r, out_w, err_w, ctl_r, rep_w])
        finally:
            for fd in (stdin_r, out_w, err_w, ctl_r, rep_w):
                os.close(fd)
        run = _CaseRun(
            pid=pid,
            stdin=stdin_text.encode("utf-8", errors="surrogatepass"),
            fds=(stdin_w, out_r, err_r, ctl_w, rep_r),
            limit=int(self.job["output_limit"]),
        )
        nonce = secrets.token_hex(16)
        backstop = cpu * int(self.job["wall_factor"]) + int(self.job["wall_slack"])
        deadline = started + backstop
        status, run.cpu_ms, zygote_lost = run.watch(
            zygote, deadline, lambda: _case_message(case, nonce)
        )
        duration_ms = round((time.monotonic() - started) * 1000)
        if zygote_lost:
            self._forget_zygote()
        self._sweep()
        verdict, message = self._verdict(
            case, run, nonce, status, backstop=backstop, oom=_oom_kills() > oom_before
        )
        kept = int(self.job["kept"])
        return {
            "index": index,
            "name": case.get("name"),
            "verdict": verdict,
            "message": _cap(message, int(self.job["message_limit"])),
            "duration_ms": duration_ms,
            "cpu_ms": run.cpu_ms,
            "stdout": _cap(run.stdout.decode("utf-8", errors="replace"), kept),
            "stderr": _cap(run.stderr.decode("utf-8", errors="replace"), kept),
            "flags": sorted(run.flags),
        }

    def _verdict(
        self, case: Message, run: "_CaseRun", nonce: str, status: int, backstop: int, oom: bool
    ) -> tuple[str, str | None]:
        cpu = int(case["timeout_seconds"])
        signalled = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        if signalled == signal.SIGXCPU or (
            signalled == signal.SIGKILL and not run.wall_timeout and run.cpu_ms >= cpu * 1000
        ):
            return "timeout", f"used its {cpu} s of CPU time"
        if run.wall_timeout:
            return (
                "timeout",
                f"still running after {backstop} s, the wall-clock backstop of "
                f"its {cpu} s CPU limit",
            )
        memory = f"exceeded its memory limit of {int(self.job['memory_bytes']) >> 20} MiB"
        if "memory" in run.events or (signalled == signal.SIGKILL and oom):
            return "memory_exceeded", memory
        if run.output_exceeded:
            return "failed", f"wrote more than {run.limit} bytes on stdout or stderr"
        if "code" in case:
            verdict = run.verdict_for(nonce)
            if verdict is not None:
                return verdict if verdict[0] != "memory_exceeded" else (verdict[0], memory)
            if "exited" in run.events:
                return "error", "the program exited before its test ran"
            if "ready" not in run.events:
                return "error", "the program ended before its test ran" + _ending(status, run)
            return "error", "the case ended before its test finished" + _ending(status, run)
        exit_status = os.waitstatus_to_exitcode(status)
        if exit_status != 0:
            return "error", run.last_words() or f"exit status {_shell_status(status)}"
        return _compare(case["expected_stdout"], run.stdout.decode("utf-8", "replace"), case)

    def _kill_strays(self) -> None:
        for _ in range(3):
            strays = [pid for pid in _pids() if pid not in self.protected]
            if not strays:
                return
            for pid in strays:
                _kill(pid)
            time.sleep(0.01)

    def _sweep(self) -> None:
        """Kill whatever a case left running, so that it cannot touch the next."""
        self._kill_strays()
        while True:
            try:
                child, _, _ = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if child == 0:
                return


def _case_message(case: Message, nonce: str) -> bytes:
    return json.dumps({"code": case["code"], "nonce": nonce}).encode()


class _CaseRun:
    """One child's pipes, read until it ends, its deadline passes or it writes too much."""

    def __init__(self, pid: int, stdin: bytes, fds: tuple[int, int, int, int, int], limit: int):
        self.pid = pid
        self.limit = limit
        self.stdin_w, self.out_r, self.err_r, self.ctl_w, self.rep_r = fds
        self.pending_stdin = stdin
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.report = bytearray()
        self.events: set[str] = set()
        self.flags: set[str] = set()
        self.verdicts: list[Message] = []
        self.wall_timeout = False
        self.cpu_ms = 0
        self.output_exceeded = False
        os.set_blocking(self.stdin_w, False)

    def watch(self, zygote: _Zygote, deadline: float, case: Any) -> tuple[int, int, bool]:
        """Returns the child's wait status, its CPU time, and whether its zygote died.

        A child whose zygote died is the supervisor's (its subreaper) to wait for.
        """
        readers = {self.out_r: self.stdout, self.err_r: self.stderr, self.rep_r: self.report}
        status: int | None = None
        cpu_ms = 0
        zygote_lost = False
        ended_at: float | None = None
        if not self.pending_stdin:
            self._close_stdin()
        while True:
            now = time.monotonic()
            if ended_at is not None and (not readers or now - ended_at > _DRAIN_SECONDS):
                break
            if now >= deadline and not self.wall_timeout:
                self.wall_timeout = True
                _kill(self.pid)
            if status is None and zygote_lost:
                status, cpu_ms = self._reap_orphan()
                if status is not None:
                    ended_at = now
            watched: list[Any] = list(readers)
            if status is None and not zygote_lost:
                watched.append(zygote.link)
            writers = [self.stdin_w] if self.pending_stdin else []
            wait = min(deadline, (ended_at or now) + _DRAIN_SECONDS) - now
            if zygote_lost:
                wait = min(wait, 0.02)
            ready, writable, _ = select.select(watched, writers, [], max(wait, 0.01))
            if writable:
                self._feed()
            for source in ready:
                if source is zygote.link:
                    answer = b""
                    with contextlib.suppress(OSError):
                        answer = zygote.link.recv(_CHUNK)
                    if answer:
                        done = json.loads(answer)
                        status, cpu_ms = int(done["status"]), int(done["cpu_ms"])
                        ended_at = time.monotonic()
                    else:
                        zygote_lost = True
                    continue
                chunk = os.read(source, _CHUNK)
                if not chunk:
                    os.close(source)
                    del readers[source]
                    continue
                buffer = readers[source]
                buffer += chunk
                if source == self.rep_r:
                    self._read_reports(case)
                elif len(buffer) > self.limit and not self.output_exceeded:
                    self.output_exceeded = True
                    _kill(self.pid)
                if len(buffer) > self.limit:
                    del buffer[self.limit :]
        for fd in readers:
            os.close(fd)
        self._close_stdin()
        if self.ctl_w >= 0:
            os.close(self.ctl_w)
        assert status is not None
        return status, cpu_ms, zygote_lost

    def _reap_orphan(self) -> tuple[int | None, int]:
        try:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            if os.path.exists(f"/proc/{self.pid}"):
                return None, 0  # not reparented to the supervisor yet
            # Reaped by the zygote just before it died: how it ended died too.
            return signal.SIGKILL, 0
        if pid == 0:
            return None, 0
        return status, round((usage.ru_utime + usage.ru_stime) * 1000)

    def _feed(self) -> None:
        try:
            written = os.write(self.stdin_w, self.pending_stdin[:_CHUNK])
        except BlockingIOError:
            return
        except BrokenPipeError:
            # The program left its stdin unread: its business.
            self._close_stdin()
            return
        self.pending_stdin = self.pending_stdin[written:]
        if not self.pending_stdin:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_w >= 0:
            os.close(self.stdin_w)
            self.stdin_w = -1
            self.pending_stdin = b""

    def _read_reports(self, case: Any) -> None:
        while b"\n" in self.report:
            line, _, rest = bytes(self.report).partition(b"\n")
            self.report[:] = rest
            try:
                message = json.loads(line)
                event = str(message["event"])
            except (ValueError, KeyError, TypeError):
                continue
            self.events.add(event)
            if event == "flag":
                self.flags.add(str(message.get("flag")))
            elif event == "ready" and self.ctl_w >= 0:
                # The case goes to the child only now, after its code has run.
                with contextlib.suppress(OSError):
                    _write_all(self.ctl_w, case())
                os.close(self.ctl_w)
                self.ctl_w = -1
            elif event == "verdict":
                self.verdicts.append(message)
            elif event == "exited":
                self.flags.add("exited_before_tests")

    def verdict_for(self, nonce: str) -> tuple[str, str | None] | None:
        allowed = {"passed", "failed", "error", "memory_exceeded"}
        for message in self.verdicts:
            if message.get("nonce") == nonce and message.get("verdict") in allowed:
                text = message.get("message")
                return str(message["verdict"]), None if text is None else str(text)
        return None

    def last_words(self) -> str:
        return self.stderr.decode("utf-8", errors="replace").strip()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _ending(status: int, run: _CaseRun) -> str:
    words = run.last_words()
    tail = f": {words}" if words else ""
    return f" (exit status {_shell_status(status)}, os._exit or a kill){tail}"


def _shell_status(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _compare(expected: str, actual: str, case: Message) -> tuple[str, str | None]:
    how = case.get("compare", "exact")
    if how == "tokens":
        want, got = expected.split(), actual.split()
        unit = "word"
    elif how == "trim":
        want = [line.rstrip() for line in expected.rstrip().split("\n")]
        got = [line.rstrip() for line in actual.rstrip().split("\n")]
        unit = "line"
    else:
        if expected == actual:
            return "passed", None
        want, got = expected.split("\n"), actual.split("\n")
        unit = "line"
        if want == got:
            return "failed", "the output differs in its line endings"
    if want == got:
        return "passed", None
    for number, (wanted, seen) in enumerate(zip(want, got, strict=False), start=1):
        if wanted != seen:
            return "failed", f"{unit} {number}: expected {wanted!r}, got {seen!r}"
    if len(got) < len(want):
        return "failed", f"{unit} {len(got) + 1}: expected {want[len(got)]!r}, got the end"
    return "failed", f"{unit} {len(want) + 1}: expected the end, got {got[len(want)]!r}"


def _cap(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore") + "…"


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _ancestors() -> set[int]:
    found: set[int] = set()
    pid = os.getppid()
    while pid > 0 and pid not in found:
        found.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # The command name may hold spaces and parentheses: parse after the last ")".
                pid = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _supervise() -> None:
    _keep_to_itself()
    # Orphans of a case (and a case whose zygote died) become ours to reap.
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    with open(__file__) as own:
        source = own.read()
    job = json.loads(_read_all(0))
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)
    supervisor = _Supervisor(source, job)
    try:
        supervisor.run()
    finally:
        supervisor._forget_zygote()


if __name__ == "__main__":
    if sys.argv[1:] == [_ZYGOTE_ARG]:
        _zygote()
    else:
        try:
            _supervise()
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(HARNESS_FAILED)
