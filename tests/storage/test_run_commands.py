"""Storage's commands keep the run invariants under any interleaving.

A hypothesis state machine plays claims, starts, finishes, requeues,
cancellations, failures and reaper sweeps, by workers that may hold stale
attempts, against the real rules and a real (in-memory) backend, and checks
after every step what docs/architecture.md promises:

- at most one run is stored as completed, and only by the current attempt;
- attempts never exceed the budget;
- a terminal status never changes;
- nothing is claimed after it was cancelled.
"""

from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from crucible_shared.lifecycle import EvaluationStatus, Outcome
from crucible_shared.schemas.commands import (
    ClaimCommand,
    FailCommand,
    FinishCommand,
    RequeueCommand,
    StartCommand,
)
from crucible_shared.schemas.evaluations import EvaluationUpdate, OwnedSubmission
from crucible_shared.schemas.execution import ExecutionResult
from crucible_storage.backends.documents import DocumentBackend
from crucible_storage.errors import Conflict
from crucible_storage.objects.memory import MemoryObjects
from crucible_storage.service import Storage

_S = EvaluationStatus
MAX_ATTEMPTS = 3
_RESULT = ExecutionResult(
    outcome=Outcome.SUCCESS,
    exit_code=0,
    stdout="ok\n",
    stderr="",
    stdout_truncated=False,
    stderr_truncated=False,
    duration_ms=5,
)


class RunLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.storage = Storage(
            DocumentBackend("memory", MemoryObjects()),
            blobs=MemoryObjects(),
            blob_backend="memory",
            blob_threshold_bytes=100_000,
            retention=timedelta(days=1),
        )
        (evaluation,) = self.storage.create([OwnedSubmission(code="print('ok')", owner=None)])
        self.id = evaluation.id
        self.attempts_held: list[int] = []  # what workers believe they run
        self.completions = 0
        self.cancelled = False
        self.terminal: _S | None = None

    @property
    def current(self) -> _S:
        return self.storage.get(self.id).status

    def _try(self, command: object) -> bool:
        try:
            command()  # type: ignore[operator]
        except Conflict:
            return False
        return True

    @rule()
    def claim(self) -> None:
        before = self.current
        granted = self._try(
            lambda: self.attempts_held.append(
                self.storage.claim(
                    self.id, ClaimCommand(executor="x", max_attempts=MAX_ATTEMPTS)
                ).attempt
            )
        )
        assert granted == (before is _S.QUEUED)
        if self.cancelled:
            assert not granted

    @precondition(lambda self: self.attempts_held)
    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        attempt = data.draw(st.sampled_from(self.attempts_held))
        self._try(lambda: self.storage.start(self.id, StartCommand(attempt=attempt, executor="x")))

    @precondition(lambda self: self.attempts_held)
    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        attempt = data.draw(st.sampled_from(self.attempts_held))
        current = self.storage.get(self.id)
        done = self._try(
            lambda: self.storage.finish(self.id, FinishCommand(attempt=attempt, result=_RESULT))
        )
        # Only the current attempt, and only while it is in flight, stores a result.
        assert done == (
            current.status in (_S.PROVISIONING, _S.RUNNING) and current.attempts == attempt
        )
        self.completions += done

    @precondition(lambda self: self.attempts_held)
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        attempt = data.draw(st.sampled_from(self.attempts_held))
        command = RequeueCommand(attempt=attempt, reason="fault", max_attempts=MAX_ATTEMPTS)
        self._try(lambda: self.storage.requeue(self.id, command))

    @rule()
    def reaper_sweep(self) -> None:
        """The reaper requeues an in-flight run whose lease is gone, at its current attempt."""
        current = self.storage.get(self.id)
        if current.status in (_S.PROVISIONING, _S.RUNNING):
            command = RequeueCommand(
                attempt=current.attempts, reason="lost", max_attempts=MAX_ATTEMPTS
            )
            assert self._try(lambda: self.storage.requeue(self.id, command))

    @rule()
    def cancel(self) -> None:
        before = self.current
        done = self._try(
            lambda: self.storage.update(self.id, EvaluationUpdate(status=_S.CANCELLED))
        )
        assert done == (not before.is_terminal)
        self.cancelled = self.cancelled or done

    @rule()
    def fail(self) -> None:
        before = self.current
        done = self._try(lambda: self.storage.fail(self.id, FailCommand(reason="given up")))
        assert done == (not before.is_terminal)

    @invariant()
    def keeps_its_promises(self) -> None:
        evaluation = self.storage.get(self.id)
        assert self.completions <= 1
        assert evaluation.attempts <= MAX_ATTEMPTS
        assert (evaluation.status is _S.COMPLETED) == (self.completions == 1)
        if self.terminal is not None:
            assert evaluation.status is self.terminal
        elif evaluation.status.is_terminal:
            self.terminal = evaluation.status


@pytest.mark.timeout(600)
def test_any_interleaving_keeps_the_run_invariants() -> None:
    machine = RunLifecycle.TestCase
    machine.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
    machine().runTest()
