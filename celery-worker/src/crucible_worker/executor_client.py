"""Runs an evaluation on an executor and follows its event stream."""

from collections.abc import Iterator

import httpx

from crucible_shared.schemas.execution import (
    ExecutionEvent,
    ExecutionRequest,
    execution_event_adapter,
)
from crucible_shared.settings import WorkerSettings

# Time beyond the evaluation's own timeout that the executor may take to
# start the sandbox and report.
_STREAM_GRACE_SECONDS = 30.0


class ExecutorUnavailable(Exception):
    """The executor could not be reached, was full, or broke off the stream."""


class ExecutorClient:
    def __init__(self, settings: WorkerSettings) -> None:
        self._connect_timeout = settings.executor_connect_timeout_seconds
        self._http = httpx.Client(base_url=settings.executor_url)

    def execute(self, request: ExecutionRequest) -> Iterator[ExecutionEvent]:
        timeout = httpx.Timeout(
            request.timeout_seconds + _STREAM_GRACE_SECONDS, connect=self._connect_timeout
        )
        try:
            with self._http.stream(
                "POST", "/execute", json=request.model_dump(mode="json"), timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise ExecutorUnavailable(
                        f"executor answered {response.status_code}: {response.text}"
                    )
                for line in response.iter_lines():
                    if line:
                        yield execution_event_adapter.validate_json(line)
        except httpx.HTTPError as exc:
            raise ExecutorUnavailable(f"executor unreachable: {exc!r}") from exc
