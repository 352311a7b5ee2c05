"""The evaluations this executor is running, by id, so that one can be cancelled."""

from crucible_executor.execution import Execution


class RunningEvaluations:
    def __init__(self) -> None:
        self._runs: dict[str, Execution] = {}

    def add(self, evaluation_id: str, execution: Execution) -> None:
        self._runs[evaluation_id] = execution

    def discard(self, evaluation_id: str) -> None:
        self._runs.pop(evaluation_id, None)

    def cancel(self, evaluation_id: str) -> bool:
        """Kills its sandbox; False when it does not run here."""
        execution = self._runs.get(evaluation_id)
        if execution is None:
            return False
        execution.cancel()
        return True
