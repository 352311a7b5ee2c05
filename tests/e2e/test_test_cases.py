"""Test cases through the whole platform: submitted, judged in the sandbox, stored, served."""

import pytest

from crucible_shared import limits
from tests.support.platform import Platform

PROGRAM = "def add(a, b):\n    return a + b\nprint(add(2, 3))\n"


def test_verdicts_and_provenance_come_back_with_the_evaluation(platform: Platform) -> None:
    tests = [
        {"name": "adds", "code": "assert add(1, 2) == 3"},
        {"name": "prints", "expected_stdout": "5\n"},
        {"name": "wrong", "code": "assert add(1, 2) == 4", "timeout_seconds": 5},
    ]
    accepted = platform.submit(code=PROGRAM, tests=tests)
    assert accepted["tests"][2]["timeout_seconds"] == 5

    done = platform.wait_terminal(accepted["id"])

    assert done["status"] == "completed", done
    assert done["outcome"] == "tests_failed"
    assert (done["tests_passed"], done["tests_total"]) == (2, 3)
    assert [case["verdict"] for case in done["test_results"]] == ["passed", "passed", "failed"]
    assert done["test_results"][2]["message"] == "line 1 failed: assert add(1, 2) == 4"
    assert [case["name"] for case in done["test_results"]] == ["adds", "prints", "wrong"]
    assert done["provenance"]["harness_version"]
    assert done["provenance"]["timeout_seconds"] == 30
    assert done["flags"] == []
    listed = platform.client.get("/api/evaluations", params={"limit": 50}).json()["items"]
    mine = next(item for item in listed if item["id"] == done["id"])
    assert (mine["tests_passed"], mine["tests_total"]) == (2, 3)


def test_every_case_passing_is_success(platform: Platform) -> None:
    done = platform.run(code=PROGRAM, tests=[{"code": "assert add(0, 0) == 0"}])

    assert done["outcome"] == "success"
    assert (done["tests_passed"], done["tests_total"]) == (1, 1)


def test_without_tests_nothing_changes(platform: Platform) -> None:
    done = platform.run(code=PROGRAM)

    assert done["outcome"] == "success"
    assert done["tests_total"] is None and done["test_results"] is None


def _errors(platform: Platform, body: dict[str, object]) -> list[dict[str, object]]:
    response = platform.client.post("/api/evaluations", json={"code": PROGRAM, **body})
    assert response.status_code == 422, response.text
    errors: list[dict[str, object]] = response.json()["detail"]
    return errors


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ({"name": "neither"}, "expected_stdout"),
        ({"name": "neither"}, "code"),
        ({"code": ""}, "code"),
        ({"expected_stdout": "x", "compare": "fuzzy"}, "compare"),
        ({"code": "pass", "timeout_seconds": 0}, "timeout_seconds"),
        ({"code": "pass", "surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_case_names_its_index_and_field(
    platform: Platform, case: dict[str, object], field: str
) -> None:
    errors = _errors(platform, {"tests": [{"code": "pass"}, case]})

    assert any(e["loc"][:3] == ["body", "tests", 1] and e["loc"][-1] == field for e in errors), (  # type: ignore[index]
        errors
    )


def test_expected_stdout_over_a_mebibyte_names_the_bound(platform: Platform) -> None:
    big = "x" * (limits.MAX_EXPECTED_STDOUT_BYTES + 1)

    errors = _errors(platform, {"tests": [{"expected_stdout": big}]})

    assert any(
        e["loc"][-1] == "expected_stdout"  # type: ignore[index]
        and str(limits.MAX_EXPECTED_STDOUT_BYTES) in str(e["msg"])
        for e in errors
    ), errors


def test_more_than_a_thousand_cases_names_the_bound(platform: Platform) -> None:
    errors = _errors(platform, {"tests": [{"code": "pass"}] * (limits.MAX_TEST_CASES + 1)})

    assert any(
        e["loc"] == ["body", "tests"] and str(limits.MAX_TEST_CASES) in str(e["msg"])
        for e in errors
    ), errors


def test_a_case_timeout_above_the_submissions_names_both(platform: Platform) -> None:
    errors = _errors(
        platform,
        {
            "timeout_seconds": 10,
            "tests": [{"code": "pass"}, {"code": "pass", "timeout_seconds": 11}],
        },
    )

    assert any(
        "tests[1].timeout_seconds is 11" in str(e["msg"]) and "10" in str(e["msg"]) for e in errors
    ), errors
