"""Runs an evaluation on an executor and follows its event stream."""

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from crucible_shared import service_auth
from crucible_shared.schemas.execution import (
    ExecutionEvent,
    ExecutionRequest,
    execution_event_adapter,
)
from crucible_shared.settings import WorkerSettings


class ExecutorUnavailable(Exception):
    """The executor could not be reached, refused the run (503), or broke off the stream."""


class ExecutorUnreachable(ExecutorUnavailable):
    """Nothing listens at the executor's address: it is down, whatever the pool says."""


class ExecutorClient:
    def __init__(self, settings: WorkerSettings) -> None:
        self._connect_timeout = settings.executor_connect_timeout_seconds
        # The executor sends a line at least every third of a lease: silence
        # for a whole lease means it, or the way to it, is gone.
        self._read_timeout = settings.lease_ttl_seconds
        self._http = httpx.Client(headers=service_auth.headers(settings.service_token))

    @contextmanager
    def execute(
        self, executor_url: str, request: ExecutionRequest
    ) -> Iterator[Iterator[ExecutionEvent]]:
        """Enters once the executor has accepted the run (200); yields its events.

        Leaving early closes the stream, and the executor kills the sandbox.
        """
        timeout = httpx.Timeout(self._read_timeout, connect=self._connect_timeout)
        try:
            with self._http.stream(
                "POST",
                f"{executor_url}/execute",
                json=request.model_dump(mode="json"),
                timeout=timeout,
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise ExecutorUnavailable(
                        f"executor answered {response.status_code}: {response.text}"
                    )
                yield _events(response)
        except httpx.ConnectError as exc:
            raise ExecutorUnreachable(f"executor unreachable: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise ExecutorUnavailable(f"executor failed mid-run: {exc!r}") from exc


def _events(response: httpx.Response) -> Iterator[ExecutionEvent]:
    for line in response.iter_lines():
        if line:
            yield execution_event_adapter.validate_json(line)
