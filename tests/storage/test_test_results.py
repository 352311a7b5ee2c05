"""Test cases and their verdicts, stored and read back the same on every backend."""

from typing import Any

from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from tests.storage.factories import move, submit_in

_S = EvaluationStatus

CASES: list[dict[str, Any]] = [
    {"name": "adds", "code": "assert add(1, 2) == 3", "timeout_seconds": 5},
    {"stdin": "2\n", "expected_stdout": "4\n", "compare": "trim"},
]
RESULTS = [
    {
        "index": 0,
        "name": "adds",
        "verdict": "passed",
        "message": None,
        "duration_ms": 3,
        "cpu_ms": 2,
        "stdout": "",
        "stderr": "",
    },
    {
        "index": 1,
        "name": None,
        "verdict": "failed",
        "message": "line 1: expected '4', got '5'",
        "duration_ms": 4,
        "cpu_ms": 3,
        "stdout": "5\n\u00e9 \u2603",
        "stderr": "nul \x00 kept",
    },
]
PROVENANCE = {
    "harness_version": "1",
    "python_version": "3.11.2",
    "image": "crucible/executor-python:latest",
    "image_digest": "sha256:" + "a" * 64,
    "timeout_seconds": 30,
    "memory_mb": 256,
}


def test_cases_verdicts_and_provenance_are_kept(client: TestClient) -> None:
    running = submit_in(client, _S.RUNNING, tests=CASES, stop_on_first_failure=True)
    assert running.tests_total is None and running.test_results is None

    move(
        client,
        running.id,
        _S.COMPLETED,
        outcome="tests_failed",
        tests_passed=1,
        tests_total=2,
        test_results=RESULTS,
        flags=["replaced_builtins"],
        provenance=PROVENANCE,
    )
    stored = client.get(f"/evaluations/{running.id}").json()

    assert stored["outcome"] == "tests_failed"
    assert stored["stop_on_first_failure"] is True
    assert [case.get("name") for case in stored["tests"]] == ["adds", None]
    assert stored["tests"][0]["code"] == CASES[0]["code"]
    assert stored["tests"][1]["expected_stdout"] == "4\n"
    assert (stored["tests_passed"], stored["tests_total"]) == (1, 2)
    assert stored["test_results"] == RESULTS
    assert stored["flags"] == ["replaced_builtins"]
    assert stored["provenance"] == PROVENANCE
    listed = client.get("/evaluations", params={"limit": 5}).json()["items"][0]
    assert (listed["tests_passed"], listed["tests_total"]) == (1, 2)


def test_an_evaluation_without_tests_has_none(client: TestClient) -> None:
    done = submit_in(client, _S.COMPLETED)

    stored = client.get(f"/evaluations/{done.id}").json()

    assert stored["tests"] == [] and stored["flags"] == []
    assert stored["tests_total"] is None and stored["test_results"] is None
