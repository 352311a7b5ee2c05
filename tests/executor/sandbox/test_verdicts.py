"""Test cases and their verdicts (issue 16), proved against each sandbox backend.

Every case runs in a child of its own inside the evaluation's one sandbox: what
one case does (crash, exit, time out, kill its parent) must not pass, fail or
hide another, and nothing the program prints may forge a verdict.
"""

from typing import Any

from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionResult
from crucible_shared.schemas.tests import Flag, Verdict
from tests.executor.support import run_program

ADD = "def add(a, b):\n    return a + b\n"
PASSES: dict[str, Any] = {"name": "passes", "code": "assert add(2, 2) == 4"}


def judged(
    backend: SandboxBackend, code: str, tests: list[dict[str, Any]], **fields: object
) -> ExecutionResult:
    result = run_program(backend, code, tests=tests, **({"timeout_seconds": 30} | fields))
    assert result.test_results is not None
    assert result.tests_total == len(tests)
    return result


def verdicts(result: ExecutionResult) -> list[Verdict]:
    assert result.test_results is not None
    return [case.verdict for case in result.test_results]


def test_every_case_passes_for_success(backend: SandboxBackend) -> None:
    tests = [
        {"code": "assert add(1, 2) == 3"},
        {"stdin": "5\n", "expected_stdout": "10\n"},
        PASSES,
    ]
    code = (
        ADD + "import sys\nif __name__ == '__main__':\n    print(int(sys.stdin.read() or 0) * 2)\n"
    )

    result = judged(backend, code, tests)

    assert verdicts(result) == [Verdict.PASSED] * 3
    assert result.outcome == Outcome.SUCCESS
    assert result.tests_passed == 3
    assert result.provenance is not None and result.provenance.harness_version
    assert result.provenance.python_version and result.flags == []


def test_each_verdict_kind(backend: SandboxBackend) -> None:
    tests: list[dict[str, Any]] = [
        {"name": "wrong", "code": "assert add(1, 2) == 4"},
        {"name": "message", "code": "assert add(1, 2) == 4, 'one and two'"},
        {"name": "raises", "code": "add(1, None)"},
        {"name": "spins", "code": "while True: pass", "timeout_seconds": 1},
        {"name": "hungry", "code": "block = bytearray(1 << 30)"},
        {"name": "printed", "expected_stdout": "hi\n"},
        {"name": "misprinted", "expected_stdout": "hi\nthere\n"},
        PASSES,
    ]

    result = judged(backend, ADD + "print('hi')\n", tests)

    assert verdicts(result) == [
        Verdict.FAILED,
        Verdict.FAILED,
        Verdict.ERROR,
        Verdict.TIMEOUT,
        Verdict.MEMORY_EXCEEDED,
        Verdict.PASSED,
        Verdict.FAILED,
        Verdict.PASSED,
    ]
    assert result.outcome == Outcome.TESTS_FAILED
    assert result.tests_passed == 2
    cases = result.test_results
    assert cases is not None
    assert cases[0].message == "line 1 failed: assert add(1, 2) == 4"
    assert cases[1].message == "one and two"
    assert cases[2].message and "TypeError" in cases[2].message
    assert "Traceback" in cases[2].message
    assert cases[3].message == "used its 1 s of CPU time"
    assert cases[3].cpu_ms >= 500
    assert cases[6].message == "line 2: expected 'there', got ''"
    assert [case.name for case in cases][:2] == ["wrong", "message"]
    assert cases[5].stdout == "hi\n"


def test_stdout_compare_modes(backend: SandboxBackend) -> None:
    tests = [
        {"expected_stdout": "1 2\n3", "compare": "exact"},
        {"expected_stdout": "1 2\n3", "compare": "trim"},
        {"expected_stdout": "1 2 3", "compare": "tokens"},
        {"expected_stdout": "1 2 4", "compare": "tokens"},
    ]

    result = judged(backend, "print('1 2  ')\nprint('3')\n", tests)

    assert verdicts(result) == [Verdict.FAILED, Verdict.PASSED, Verdict.PASSED, Verdict.FAILED]
    assert result.test_results is not None
    assert result.test_results[0].message == "line 1: expected '1 2', got '1 2  '"
    assert result.test_results[3].message == "word 3: expected '4', got '3'"


def test_a_printed_verdict_marker_forges_nothing(backend: SandboxBackend) -> None:
    # A program that writes what the harness's channel carries, on every
    # descriptor and every other process's stdout it can reach.
    forger = """
import glob, json, os
lines = []
for seq, message in enumerate([
    {"type": "hello", "python": "3"},
    {"type": "start", "index": 0},
    {"type": "case", "index": 0, "verdict": "passed"},
    {"type": "done"},
]):
    lines.append("0" * 64 + " " + json.dumps({"seq": seq, **message}))
text = "\\n".join(lines) + "\\n"
print(text)
verdict = json.dumps({"event": "verdict", "nonce": None, "verdict": "passed"}) + "\\n"
for fd in range(3, 64):
    try:
        os.write(fd, verdict.encode())
    except OSError:
        pass
for path in glob.glob("/proc/[0-9]*/fd/1"):
    try:
        with open(path, "w") as out:
            out.write(text)
    except OSError:
        pass
"""
    tests = [{"code": "assert False, 'must fail'"}, {"expected_stdout": "never"}]

    result = judged(backend, forger, tests)

    assert verdicts(result) == [Verdict.FAILED, Verdict.FAILED]
    assert result.outcome == Outcome.TESTS_FAILED
    assert result.tests_passed == 0


def test_a_case_calling_os_exit_hides_nothing(backend: SandboxBackend) -> None:
    tests = [
        {"code": "assert add(1, 1) == 3"},
        {"code": "import os; os._exit(0)"},
        {"code": "import sys; sys.exit(0)"},
        PASSES,
    ]

    result = judged(backend, ADD, tests)

    assert verdicts(result) == [Verdict.FAILED, Verdict.ERROR, Verdict.ERROR, Verdict.PASSED]
    assert result.test_results is not None
    assert "ended before its test finished" in (result.test_results[1].message or "")
    assert result.test_results[2].message == "the test called sys.exit(0)"


def test_a_case_that_kills_its_parent_costs_only_itself(backend: SandboxBackend) -> None:
    tests = [
        {"code": "import os, signal; os.kill(os.getppid(), signal.SIGKILL); os._exit(0)"},
        {"code": "assert add(1, 1) == 3"},
        PASSES,
        {
            "code": "import os, signal; os.kill(os.getppid(), signal.SIGKILL)\nwhile True: pass",
            "timeout_seconds": 1,
        },
        PASSES,
    ]

    result = judged(backend, ADD, tests)

    assert verdicts(result) == [
        Verdict.ERROR,
        Verdict.FAILED,
        Verdict.PASSED,
        Verdict.TIMEOUT,
        Verdict.PASSED,
    ]


def test_a_case_sleeping_past_its_timeout_while_the_others_pass(backend: SandboxBackend) -> None:
    tests = [PASSES, {"code": "import time; time.sleep(60)", "timeout_seconds": 1}, PASSES]

    result = judged(backend, ADD, tests)

    assert verdicts(result) == [Verdict.PASSED, Verdict.TIMEOUT, Verdict.PASSED]
    assert result.test_results is not None
    sleeper = result.test_results[1]
    assert sleeper.message and "wall-clock backstop" in sleeper.message
    assert sleeper.cpu_ms < 1000


def test_a_program_exiting_before_its_tests_is_flagged(backend: SandboxBackend) -> None:
    tests = [PASSES, {"expected_stdout": "bye\n"}]

    result = judged(backend, ADD + "print('bye')\nimport sys\nsys.exit(0)\n", tests)

    assert verdicts(result) == [Verdict.ERROR, Verdict.PASSED]
    assert result.test_results is not None
    assert result.test_results[0].message == "the program exited before its test ran"
    assert Flag.EXITED_BEFORE_TESTS in result.flags


def test_tests_are_hidden_from_the_program(backend: SandboxBackend) -> None:
    # The program looks everywhere it can for its tests before its code ends:
    # files, other processes' memory, descriptors, command lines, environments.
    searcher = """
import glob, os
secret = ("crucible" + "-secret-7f3a").encode()
def holds(path, start=0, size=1 << 24):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.lseek(fd, start, 0) if start else None
        return secret in os.read(fd, size)
    except (OSError, OverflowError):
        return False
    finally:
        os.close(fd)
found = []
for pattern in ("/sandbox/*", "/tmp/*", "/proc/[0-9]*/cmdline", "/proc/[0-9]*/environ",
                "/proc/[0-9]*/fd/*"):
    found += [path for path in glob.glob(pattern) if holds(path)]
for maps in glob.glob("/proc/[0-9]*/maps"):
    if maps == f"/proc/{os.getpid()}/maps":
        continue  # its own memory holds the secret it searches for
    try:
        with open(maps) as regions:
            spans = [line.split()[0].split("-") for line in regions]
    except OSError:
        continue
    mem = maps[: -len("maps")] + "mem"
    for start, end in spans:
        if holds(mem, int(start, 16), min(int(end, 16) - int(start, 16), 1 << 24)):
            found.append(mem)
print("found:", sorted(set(found)))
"""
    tests = [
        {"code": "assert 'crucible-secret-7f3a'"},
        {"stdin": "crucible-secret-7f3a? no, the stdin is the program's", "expected_stdout": "x"},
        {"code": "assert True  # crucible-secret-7f3a"},
    ]

    result = judged(backend, searcher, tests)

    assert result.test_results is not None
    assert verdicts(result)[0] == Verdict.PASSED
    for case in (result.test_results[0], result.test_results[2]):
        assert "found: []" in case.stdout, case.stdout


def test_stop_on_first_failure_skips_the_rest(backend: SandboxBackend) -> None:
    tests = [PASSES, {"code": "assert add(1, 1) == 3"}, PASSES, PASSES]

    result = judged(backend, ADD, tests, stop_on_first_failure=True)

    assert verdicts(result) == [Verdict.PASSED, Verdict.FAILED, Verdict.SKIPPED, Verdict.SKIPPED]
    assert result.outcome == Outcome.TESTS_FAILED


def test_network_and_replaced_builtins_are_flagged_not_failed(backend: SandboxBackend) -> None:
    code = (
        ADD
        + "import builtins, socket\n"
        + "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        + "except OSError:\n    pass\n"
        # The harness must still report, whatever the program did to the builtins.
        + "builtins.len = lambda thing: 0\n"
    )

    result = judged(backend, code, [PASSES])

    assert verdicts(result) == [Verdict.PASSED]
    assert result.outcome == Outcome.SUCCESS
    assert result.flags == [Flag.REPLACED_BUILTINS, Flag.TRIED_NETWORK]


def test_what_one_case_leaves_running_cannot_touch_the_next(backend: SandboxBackend) -> None:
    # The first case leaves a process behind that would kill every later case.
    leaver = (
        "import os, signal, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(0.5)\n"
        "    while True:\n"
        "        for pid in os.listdir('/proc'):\n"
        "            if pid.isdigit() and int(pid) != os.getpid():\n"
        "                try: os.kill(int(pid), signal.SIGKILL)\n"
        "                except OSError: pass\n"
        "        time.sleep(0.01)\n"
    )
    tests = [{"code": leaver}, {"code": "import time; time.sleep(1.5)\n" + PASSES["code"]}]

    result = judged(backend, ADD, tests)

    assert verdicts(result) == [Verdict.PASSED, Verdict.PASSED]


def test_the_evaluations_own_timeout_still_holds(backend: SandboxBackend) -> None:
    tests = [PASSES, {"code": "import time; time.sleep(60)"}, PASSES]

    result = judged(backend, ADD, tests, timeout_seconds=3)

    assert verdicts(result) == [Verdict.PASSED, Verdict.TIMEOUT, Verdict.SKIPPED]
    assert result.outcome == Outcome.TIMEOUT


def test_a_case_that_kills_the_harness_fails_the_program_not_the_platform(
    backend: SandboxBackend,
) -> None:
    tests = [PASSES, {"code": "import os, signal; os.kill(-1, signal.SIGKILL)"}, PASSES]

    result = judged(backend, ADD, tests)

    assert verdicts(result) == [Verdict.PASSED, Verdict.ERROR, Verdict.SKIPPED]
    assert result.outcome == Outcome.TESTS_FAILED
    assert result.tests_passed == 1
