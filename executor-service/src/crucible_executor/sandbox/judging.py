"""A submission's test cases on the executor's side: what goes into the sandbox, what comes out.

Both backends run `harness.py` (see its docstring) instead of the program when
a request carries tests: the harness gets its job on stdin, and answers on
stdout with lines that only it can sign, with a key made here for this run.
Whatever else reaches stdout (a program that found a way to write there) is
not believed: a line that does not verify, or comes out of order, is dropped,
and a case without a verified verdict did not pass.
"""

import hashlib
import hmac
import json
import secrets
from importlib import resources
from typing import Any

from crucible_executor.sandbox.base import SandboxUnavailable
from crucible_executor.sandbox.harness import HARNESS_FAILED
from crucible_executor.sandbox.outcome import classify, execution_result
from crucible_executor.sandbox.streams import CappedOutput
from crucible_shared import limits
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult
from crucible_shared.schemas.tests import (
    HARNESS_VERSION,
    CaseResult,
    Flag,
    Provenance,
    Verdict,
)

HARNESS_NAME = "harness.py"
# Room on the channel for every case's result at its caps, and then some.
CHANNEL_LIMIT_BYTES = limits.MAX_TEST_CASES * (
    2 * limits.TEST_OUTPUT_KEPT_BYTES + limits.TEST_MESSAGE_BYTES + 1024
)


def harness_source() -> bytes:
    return (resources.files("crucible_executor.sandbox") / HARNESS_NAME).read_bytes()


class Judge:
    """One run of a request's cases: its job for the harness, and the result from its channel."""

    def __init__(self, request: ExecutionRequest, output_limit_bytes: int) -> None:
        self._request = request
        self._key = secrets.token_bytes(32)
        self._output_limit = output_limit_bytes

    @staticmethod
    def of(request: ExecutionRequest, output_limit_bytes: int) -> "Judge | None":
        return Judge(request, output_limit_bytes) if request.tests else None

    def job(self) -> bytes:
        request = self._request
        tests = []
        for case in request.tests:
            entry = case.model_dump()
            entry["timeout_seconds"] = case.timeout_seconds or request.timeout_seconds
            tests.append(entry)
        job = {
            "key": self._key.hex(),
            "stdin": request.stdin,
            "tests": tests,
            "stop_on_first_failure": request.stop_on_first_failure,
            "memory_bytes": request.memory_mb * limits.MIB,
            "output_limit": self._output_limit,
            "kept": limits.TEST_OUTPUT_KEPT_BYTES,
            "message_limit": limits.TEST_MESSAGE_BYTES,
            "wall_factor": limits.TEST_WALL_FACTOR,
            "wall_slack": limits.TEST_WALL_SLACK_SECONDS,
        }
        return json.dumps(job).encode("utf-8", errors="surrogatepass")

    def result(
        self,
        *,
        channel: CappedOutput,
        stderr: CappedOutput,
        exit_code: int,
        timed_out: bool,
        memory_exceeded: bool,
        duration_ms: int,
        image: str | None = None,
        image_digest: str | None = None,
    ) -> ExecutionResult:
        messages = self._verified(channel.text())
        done = any(message["type"] == "done" for message in messages)
        killed_by_us = timed_out or channel.truncated or stderr.truncated
        if not done and not killed_by_us and exit_code == HARNESS_FAILED:
            raise SandboxUnavailable(f"the test harness failed: {stderr.text().strip()}")
        results = self._results(messages, done=done, timed_out=timed_out)
        flags = sorted(
            {Flag(flag) for m in messages if m["type"] == "case" for flag in m.get("flags", [])}
        )
        passed = sum(result.verdict is Verdict.PASSED for result in results)
        if done:
            # Every case was judged: a case's own memory or output is its verdict.
            outcome = Outcome.SUCCESS if passed == len(results) else Outcome.TESTS_FAILED
        else:
            outcome = classify(
                timed_out=timed_out,
                memory_exceeded=memory_exceeded,
                output_exceeded=channel.truncated or stderr.truncated,
                exit_code=1,
            )
            if outcome is Outcome.ERROR:
                outcome = Outcome.TESTS_FAILED
        python = next((m.get("python") for m in messages if m["type"] == "hello"), None)
        return ExecutionResult(
            outcome=outcome,
            exit_code=exit_code,
            stdout="",
            stderr=stderr.text(),
            stdout_truncated=False,
            stderr_truncated=stderr.truncated,
            duration_ms=duration_ms,
            image_digest=image_digest,
            tests_passed=passed,
            tests_total=len(results),
            test_results=results,
            flags=flags,
            provenance=Provenance(
                harness_version=HARNESS_VERSION,
                python_version=python,
                image=image,
                image_digest=image_digest,
                timeout_seconds=self._request.timeout_seconds,
                memory_mb=self._request.memory_mb,
            ),
        )

    def _verified(self, text: str) -> list[dict[str, Any]]:
        """The channel's lines that the harness signed, in its order; nothing else."""
        messages: list[dict[str, Any]] = []
        for line in text.splitlines():
            mac, _, body = line.partition(" ")
            expected = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(mac, expected):
                continue
            message = json.loads(body)
            if message.get("seq") != len(messages):
                continue
            messages.append(message)
        return messages

    def _results(
        self, messages: list[dict[str, Any]], *, done: bool, timed_out: bool
    ) -> list[CaseResult]:
        judged = {m["index"]: m for m in messages if m["type"] == "case"}
        started = {m["index"] for m in messages if m["type"] == "start"}
        results = []
        for index, case in enumerate(self._request.tests):
            if index in judged:
                fields = {k: v for k, v in judged[index].items() if k in CaseResult.model_fields}
                result = CaseResult.model_validate(fields)
            elif done:
                result = CaseResult(
                    index=index,
                    name=case.name,
                    verdict=Verdict.SKIPPED,
                    message="not run: an earlier case did not pass (stop_on_first_failure)",
                )
            elif index in started:
                verdict = Verdict.TIMEOUT if timed_out else Verdict.ERROR
                why = (
                    f"the evaluation's time limit of {self._request.timeout_seconds} s ran out "
                    "during this case"
                    if timed_out
                    else "the harness was stopped during this case"
                )
                result = CaseResult(index=index, name=case.name, verdict=verdict, message=why)
            else:
                why = (
                    "not run: the evaluation's time limit ran out first"
                    if timed_out
                    else "not run: the harness was stopped first"
                )
                result = CaseResult(
                    index=index, name=case.name, verdict=Verdict.SKIPPED, message=why
                )
            results.append(result)
        return results


def run_result(
    judge: Judge | None,
    *,
    stdout: CappedOutput,
    stderr: CappedOutput,
    exit_code: int,
    timed_out: bool,
    memory_exceeded: bool,
    duration_ms: int,
    image: str | None = None,
    image_digest: str | None = None,
) -> ExecutionResult:
    """What a backend observed, as a result: judged by the harness's channel if it ran one."""
    if judge:
        return judge.result(
            channel=stdout,
            stderr=stderr,
            exit_code=exit_code,
            timed_out=timed_out,
            memory_exceeded=memory_exceeded,
            duration_ms=duration_ms,
            image=image,
            image_digest=image_digest,
        )
    result = execution_result(
        stdout=stdout,
        stderr=stderr,
        exit_code=exit_code,
        timed_out=timed_out,
        memory_exceeded=memory_exceeded,
        duration_ms=duration_ms,
    )
    result.image_digest = image_digest
    return result
