"""The package as a researcher gets it: installed alone, its public names, its command's help."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import crucible_client
from crucible_client.cli import ExitCode, main
from tests.client.benchmark import problem, samples, write_jsonl
from tests.support.ports import free_port

CLIENT = Path(__file__).resolve().parents[2] / "client"


def test_public_names() -> None:
    assert sorted(crucible_client.__all__) == [
        "APIError",
        "AsyncCrucible",
        "AuthenticationError",
        "ConfigurationError",
        "ConnectionFailed",
        "Crucible",
        "CrucibleError",
        "Evaluation",
        "EvaluationFailed",
        "InvalidRequest",
        "ItemResult",
        "NotFound",
        "RateLimited",
        "TestResult",
        "WaitTimeout",
        "pass_at_k",
    ]


def test_installs_alone_with_its_command_and_nothing_of_the_servers(tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(CLIENT)],
        check=True,
        timeout=300,
    )

    helped = subprocess.run([venv / "bin" / "crucible", "--help"], capture_output=True, text=True)
    frozen = subprocess.run(
        [uv, "pip", "freeze", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert helped.returncode == 0
    assert "crucible eval samples.jsonl --problems HumanEval.jsonl.gz" in helped.stdout
    installed = {re.split(r"[ =@]", line)[0].lower() for line in frozen.splitlines()}
    assert {name for name in installed if name.startswith("crucible")} == {"crucible-client"}
    assert {"httpx", "rich"} <= installed
    assert list(venv.glob("lib/python3*/site-packages/crucible_client/py.typed"))


def test_help_of_each_command_shows_an_example_and_the_exit_codes() -> None:
    for command in ("run", "eval"):
        helped = subprocess.run(
            [Path(sys.executable).parent / "crucible", command, "--help"],
            capture_output=True,
            text=True,
        )
        assert helped.returncode == 0
        assert f"example:\n  crucible {command} " in helped.stdout
        assert "  6  eval: some samples were refused or not run" in helped.stdout


def test_eval_with_every_sample_judged_prints_pass_at_k_without_asking_the_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = write_jsonl(tmp_path / "problems.jsonl", [problem(0), problem(1)])
    sample_file = write_jsonl(tmp_path / "samples.jsonl", samples([1, 2], per_task=2))
    out = tmp_path / "results.jsonl"
    judged = [(0, "Test/0", True), (1, "Test/0", False), (2, "Test/1", True), (3, "Test/1", True)]
    out.write_text(
        "".join(
            json.dumps({"sample_index": i, "task_id": task, "passed": passed}) + "\n"
            for i, task, passed in judged
        )
    )
    nothing_listens = f"http://127.0.0.1:{free_port()}"

    code = main(
        ["eval", str(sample_file), "--problems", str(problems), "--out", str(out)]
        + ["--url", nothing_listens, "--api-key", "unused"]
    )

    assert code == ExitCode.OK
    printed = capsys.readouterr().out
    assert printed.splitlines() == [
        "task          n       c    pass@1",
        "Test/0        2       1    0.5000",
        "Test/1        2       2    1.0000",
        "overall       4       3    0.7500",
    ]
