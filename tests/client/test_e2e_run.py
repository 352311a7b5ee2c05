"""Crucible.run, AsyncCrucible and `crucible run` against a real platform, on
the routes today's server has."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crucible_client import (
    AsyncCrucible,
    AuthenticationError,
    Crucible,
    InvalidRequest,
    WaitTimeout,
)
from crucible_client.cli import ExitCode
from tests.support.platform import Platform

CRUCIBLE = Path(sys.executable).parent / "crucible"


@pytest.fixture
def crucible(platform: Platform, researcher_key: str) -> Iterator[Crucible]:
    with Crucible(platform.front_door_url, researcher_key) as client:
        yield client


def test_run_gives_the_finished_evaluation(crucible: Crucible) -> None:
    evaluation = crucible.run("import sys\nprint(sys.stdin.read() * 2)", stdin="ab")

    assert (evaluation.status, evaluation.outcome, evaluation.exit_code) == (
        "completed", "success", 0
    )  # fmt: skip
    assert evaluation.stdout == "abab\n"
    assert evaluation.passed and evaluation.finished and not evaluation.platform_failed
    assert evaluation.raw["code_sha256"]


def test_a_failing_program_is_an_outcome_not_an_exception(crucible: Crucible) -> None:
    evaluation = crucible.run("raise SystemExit('no')", timeout_seconds=5)

    assert (evaluation.status, evaluation.outcome, evaluation.exit_code) == (
        "completed", "error", 1
    )  # fmt: skip
    assert evaluation.stderr == "no\n"
    assert not evaluation.passed and not evaluation.platform_failed


def test_bad_input_raises_the_apis_message_naming_the_field(crucible: Crucible) -> None:
    with pytest.raises(InvalidRequest) as refused:
        crucible.run("print(1)", timeout_seconds=5000)

    assert refused.value.status_code == 422
    assert "timeout_seconds" in refused.value.message and "900" in refused.value.message


def test_a_wrong_key_is_an_authentication_error(platform: Platform) -> None:
    with (
        Crucible(platform.front_door_url, "not-a-key") as client,
        pytest.raises(AuthenticationError) as refused,
    ):
        client.run("print(1)")

    assert refused.value.status_code == 401


def test_wait_follows_a_running_program_to_its_end(crucible: Crucible) -> None:
    queued = crucible.submit("import time\ntime.sleep(1)\nprint('late')")

    assert queued.status == "queued"
    assert crucible.wait(queued.id).stdout == "late\n"


def test_wait_gives_up_after_its_timeout(crucible: Crucible) -> None:
    queued = crucible.submit("import time\ntime.sleep(20)", timeout_seconds=30)
    started = time.monotonic()

    with pytest.raises(WaitTimeout, match=queued.id):
        crucible.wait(queued.id, timeout=2)

    assert time.monotonic() - started < 10
    assert crucible.cancel(queued.id).status == "cancelled"


def test_a_429_is_waited_out_as_retry_after_says(platform: Platform) -> None:
    key = platform.new_key("researcher", "one-at-a-time", "--max-queued", "1")
    with Crucible(platform.front_door_url, key) as client:
        busy = client.submit("import time\ntime.sleep(2)")
        started = time.monotonic()

        evaluation = client.run("print('after')")

    # The key's backlog is full until the first has finished: the API answers
    # 429 with a Retry-After of at least a second, which the client waits out.
    assert time.monotonic() - started >= 1
    assert evaluation.stdout == "after\n"
    assert client_status(platform, busy.id) == "completed"


def client_status(platform: Platform, evaluation_id: str) -> str:
    status: str = platform.client.get(f"/api/evaluations/{evaluation_id}").json()["status"]
    return status


def test_the_async_client_runs_many_at_once(platform: Platform, researcher_key: str) -> None:
    async def run_all() -> list[str]:
        async with AsyncCrucible(platform.front_door_url, researcher_key) as client:
            done = await asyncio.gather(*(client.run(f"print({n} ** 2)") for n in range(5)))
        return [evaluation.stdout for evaluation in done]

    assert asyncio.run(run_all()) == [f"{n**2}\n" for n in range(5)]


def _cli(platform: Platform, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRUCIBLE_")}
    env["CRUCIBLE_URL"] = platform.front_door_url
    if key is not None:
        env["CRUCIBLE_API_KEY"] = key
    return subprocess.run(
        [str(CRUCIBLE), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_crucible_run_prints_the_output_and_exits_zero(
    platform: Platform, researcher_key: str, tmp_path: Path
) -> None:
    program = tmp_path / "prog.py"
    program.write_text(
        "import sys\nprint(sys.stdin.read().upper())\nprint('warn', file=sys.stderr)"
    )
    given = tmp_path / "in.txt"
    given.write_text("shout")

    ran = _cli(platform, researcher_key, "run", str(program), "--stdin", str(given))

    assert ran.returncode == ExitCode.OK
    assert ran.stdout == "SHOUT\n"
    assert ran.stderr.startswith("warn\n")
    assert "success, exit 0" in ran.stderr


@pytest.mark.parametrize(
    ("code", "options", "exit_code"),
    [
        ("raise ValueError('x')", (), ExitCode.PROGRAM_FAILED),
        ("while True:\n    pass", ("--timeout", "1"), ExitCode.TIMEOUT),
        ("b = bytearray(1024**3)", ("--memory", "64"), ExitCode.MEMORY_EXCEEDED),
        ("print(1)", ("--timeout", "5000"), ExitCode.REFUSED),
    ],
)
def test_crucible_runs_exit_code_mirrors_the_outcome(
    platform: Platform,
    researcher_key: str,
    tmp_path: Path,
    code: str,
    options: tuple[str, ...],
    exit_code: ExitCode,
) -> None:
    program = tmp_path / "prog.py"
    program.write_text(code)

    ran = _cli(platform, researcher_key, "run", str(program), *options)

    assert ran.returncode == exit_code, ran.stderr
    if exit_code is ExitCode.REFUSED:
        assert "timeout_seconds" in ran.stderr and "900" in ran.stderr


def test_crucible_without_a_key_says_so(platform: Platform, tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text("print(1)")

    ran = _cli(platform, None, "run", str(program))

    assert ran.returncode == ExitCode.USAGE
    assert "CRUCIBLE_API_KEY" in ran.stderr


def test_a_script_that_runs_and_closes_leaves_nothing_behind(
    platform: Platform, researcher_key: str
) -> None:
    script = (
        "from crucible_client import Crucible\n"
        "crucible = Crucible()\n"
        "for n in range(30):\n"
        "    assert crucible.run(f'print({n})').stdout == f'{n}\\n'\n"
        "crucible.close()\n"
    )
    env = {
        **os.environ,
        "CRUCIBLE_URL": platform.front_door_url,
        "CRUCIBLE_API_KEY": researcher_key,
    }

    ran = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)

    # Not even asyncio's "Task was destroyed but it is pending".
    assert (ran.returncode, ran.stderr) == (0, "")
