"""The platform as a client sees it: submissions through the front door, and their results.

Latency is taken from the platform's own record: from just before the POST
(this machine's clock) to the evaluation's `finished_at` (storage's clock, the
same machine's), so how often the client polls changes the load, not the number.
"""

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.workload import HELLO_CODE
from crucible_shared.lifecycle import EvaluationStatus, Outcome

# One list request answers for many evaluations; a few are cheaper to read one by one.
_READ_ONE_BY_ONE_BELOW = 4
# A list is heavier for the platform to serve: read less often, so that the
# benchmark's own polling does not take the cores it measures (at 0.1 s it was
# among the largest parts of storage's profile). Latency does not depend on it.
_POLL_ONE_BY_ONE_SECONDS = 0.05
_POLL_LIST_SECONDS = 0.5
_PAGE_SIZE = 200


class BenchError(Exception):
    """The platform answered something a benchmark cannot go on from."""


@dataclass(frozen=True)
class Submitted:
    id: str
    submitted_at: float  # wall clock, before the POST was sent
    post_seconds: float  # until the 202 arrived


@dataclass(frozen=True)
class Finished:
    submitted: Submitted
    status: EvaluationStatus
    outcome: Outcome | None
    created_at: float
    started_at: float | None
    finished_at: float

    @property
    def succeeded(self) -> bool:
        return self.status is EvaluationStatus.COMPLETED and self.outcome is Outcome.SUCCESS

    @property
    def latency_seconds(self) -> float:
        """Submission to terminal status."""
        return self.finished_at - self.submitted.submitted_at


class PlatformClient:
    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(60, connect=10),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )
        self._waiting: dict[str, tuple[Submitted, asyncio.Future[Finished]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "PlatformClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._poller is not None:
            self._poller.cancel()
        await self._http.aclose()

    async def submit(self, code: str = HELLO_CODE) -> Submitted:
        submitted_at = time.time()
        begin = time.perf_counter()
        response = await self._http.post("/api/evaluations", json={"code": code})
        post_seconds = time.perf_counter() - begin
        if response.status_code != 202:
            raise BenchError(f"submission answered {response.status_code}: {response.text}")
        return Submitted(response.json()["id"], submitted_at, post_seconds)

    async def events(self, evaluation_id: str) -> list[dict[str, Any]]:
        response = await self._http.get(f"/api/evaluations/{evaluation_id}/events")
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()
        return events

    async def wait(self, submitted: Submitted, timeout: float = 300) -> Finished:
        """Once the evaluation is terminal. One poller answers for all the waiters."""
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._waiting[submitted.id] = (submitted, future)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(submitted.id, None)

    async def run(self, code: str = HELLO_CODE) -> Finished:
        return await self.wait(await self.submit(code))

    async def _poll(self) -> None:
        while self._waiting:
            few = len(self._waiting) < _READ_ONE_BY_ONE_BELOW
            await asyncio.sleep(_POLL_ONE_BY_ONE_SECONDS if few else _POLL_LIST_SECONDS)
            try:
                records = await self._read()
            except (httpx.HTTPError, BenchError) as exc:
                for _, future in self._waiting.values():
                    if not future.done():
                        future.set_exception(BenchError(f"cannot read evaluations: {exc!r}"))
                return
            for record in records:
                entry = self._waiting.get(record["id"])
                if entry is None or not EvaluationStatus(record["status"]).is_terminal:
                    continue
                submitted, future = entry
                if not future.done():
                    future.set_result(_finished(submitted, record))

    async def _read(self) -> list[dict[str, Any]]:
        ids = list(self._waiting)
        if len(ids) < _READ_ONE_BY_ONE_BELOW:
            responses = await asyncio.gather(
                *(self._http.get(f"/api/evaluations/{i}") for i in ids)
            )
            return [_json(response) for response in responses]
        # Only this client's evaluations are in the window, and the oldest waiting bounds it.
        oldest = min(submitted.submitted_at for submitted, _ in self._waiting.values())
        since = datetime.fromtimestamp(oldest - 1, UTC).isoformat()
        records: list[dict[str, Any]] = []
        params: dict[str, str | int] = {"since": since, "limit": _PAGE_SIZE}
        while True:
            page = _json(await self._http.get("/api/evaluations", params=params))
            records += page["items"]
            if not page.get("next_cursor"):
                return records
            params["cursor"] = page["next_cursor"]


def _json(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise BenchError(f"{response.request.url} answered {response.status_code}")
    return response.json()


def _finished(submitted: Submitted, record: dict[str, Any]) -> Finished:
    return Finished(
        submitted=submitted,
        status=EvaluationStatus(record["status"]),
        outcome=Outcome(record["outcome"]) if record.get("outcome") else None,
        created_at=epoch_seconds(record["created_at"]),
        started_at=epoch_seconds(record["started_at"]) if record.get("started_at") else None,
        finished_at=epoch_seconds(record["finished_at"]),
    )


def epoch_seconds(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()
