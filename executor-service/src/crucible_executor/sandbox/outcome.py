"""How a run ended, from what a backend observed: the rules every backend shares."""

from crucible_executor.sandbox.streams import CappedOutput
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionResult


def exit_status(returncode: int) -> int:
    """The shell's convention: a signal N is reported as 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def classify(
    *, timed_out: bool, memory_exceeded: bool, output_exceeded: bool, exit_code: int
) -> Outcome:
    # A limit explains the exit status it caused, so limits are checked first.
    if timed_out:
        return Outcome.TIMEOUT
    if memory_exceeded:
        return Outcome.MEMORY_EXCEEDED
    if output_exceeded:
        return Outcome.OUTPUT_LIMIT_EXCEEDED
    return Outcome.SUCCESS if exit_code == 0 else Outcome.ERROR


def execution_result(
    *,
    stdout: CappedOutput,
    stderr: CappedOutput,
    exit_code: int,
    timed_out: bool,
    memory_exceeded: bool,
    duration_ms: int,
) -> ExecutionResult:
    return ExecutionResult(
        outcome=classify(
            timed_out=timed_out,
            memory_exceeded=memory_exceeded,
            output_exceeded=stdout.truncated or stderr.truncated,
            exit_code=exit_code,
        ),
        exit_code=exit_code,
        stdout=stdout.text(),
        stderr=stderr.text(),
        stdout_truncated=stdout.truncated,
        stderr_truncated=stderr.truncated,
        duration_ms=duration_ms,
    )


_DETAIL_CHARS = 400


def platform_detail(text: str) -> str:
    """The tail of what a sandbox's tooling said, fit to go into a platform error.

    A program's own output may precede it, so it is capped and every character
    that is not printable (NUL, control codes, newlines) is escaped: an error
    travels into events and storage, which refuse some of them.
    """
    tail = text.strip()[-_DETAIL_CHARS:]
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in tail)
