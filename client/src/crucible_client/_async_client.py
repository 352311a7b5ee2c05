"""`AsyncCrucible`: the client itself; `Crucible` runs it on a thread of its own."""

import asyncio
import gzip
import json
import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import aclosing
from email.utils import parsedate_to_datetime
from importlib.metadata import version
from typing import Any, cast

import httpx

from crucible_client._errors import (
    ConfigurationError,
    ConnectionFailed,
    EvaluationFailed,
    InvalidRequest,
    WaitTimeout,
    error_from_response,
)
from crucible_client._models import Evaluation, ItemResult
from crucible_client._streams import BatchResults, BrokenLine, ServerSentEvents

DEFAULT_URL = "http://localhost:8080"
# The API's bounds: items in one POST /batches, seconds of one ?wait=.
MAX_BATCH_ITEMS = 10_000
MAX_WAIT_SECONDS = 60
# Statuses after which the request was not acted on, so sending it again is safe.
_RETRY_ANY = frozenset({502, 503})
_RETRY_IDEMPOTENT = frozenset({502, 503, 504})


class AsyncCrucible:
    """A Crucible platform, as asyncio code talks to it.

    `url` and `api_key` default to the environment's CRUCIBLE_URL and
    CRUCIBLE_API_KEY. A 429 is waited out for as long as its `Retry-After`
    says, up to `max_rate_wait` seconds for one request; a connection that
    fails or breaks is tried again up to `max_retries` times in a row.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 8,
        max_rate_wait: float = 3600.0,
        batch_size: int = MAX_BATCH_ITEMS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = url or os.environ.get("CRUCIBLE_URL") or DEFAULT_URL
        api_key = api_key or os.environ.get("CRUCIBLE_API_KEY")
        if not api_key:
            raise ConfigurationError("no API key: pass api_key= or set CRUCIBLE_API_KEY")
        if not 1 <= batch_size <= MAX_BATCH_ITEMS:
            raise ConfigurationError(f"batch_size must be 1 to {MAX_BATCH_ITEMS}, not {batch_size}")
        self.url = url.rstrip("/").removesuffix("/api")
        self._max_retries = max_retries
        self._max_rate_wait = max_rate_wait
        self._batch_size = batch_size
        self._long_poll = True
        self._http = httpx.AsyncClient(
            base_url=self.url + "/api",
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": f"crucible-client/{version('crucible-client')}",
            },
            # A long poll holds the answer for up to a minute, and a batch's
            # results stream may be quiet for as long as its slowest program.
            timeout=httpx.Timeout(timeout, read=max(timeout, MAX_WAIT_SECONDS + 30.0)),
            transport=transport,
        )

    async def __aenter__(self) -> "AsyncCrucible":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # One evaluation

    async def submit(
        self,
        code: str,
        *,
        tests: Sequence[Mapping[str, Any]] | None = None,
        stdin: str | None = None,
        label: str | None = None,
        **limits: Any,
    ) -> Evaluation:
        """Queue code to run; the answer is the queued evaluation. `limits` are
        the submission's other fields: timeout_seconds, memory_mb, priority,
        image, stop_on_first_failure."""
        body = submission(code, tests=tests, stdin=stdin, label=label, **limits)
        response = await self._send("POST", "/evaluations", json=body)
        return Evaluation.from_api(response.json())

    async def get(self, evaluation_id: str) -> Evaluation:
        response = await self._send("GET", f"/evaluations/{evaluation_id}")
        return Evaluation.from_api(response.json())

    async def cancel(self, evaluation_id: str) -> Evaluation:
        response = await self._send("POST", f"/evaluations/{evaluation_id}/cancel")
        return Evaluation.from_api(response.json())

    async def wait(self, evaluation_id: str, timeout: float | None = None) -> Evaluation:
        """The evaluation once it is finished (completed, failed or cancelled).

        Long-polls `GET /evaluations/{id}?wait=`; a server without `wait`
        is followed on its event stream instead. WaitTimeout after `timeout`
        seconds, when given."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(f"evaluation {evaluation_id} not finished after {timeout} s")
            evaluation = await (
                self._long_poll_once(evaluation_id, remaining)
                if self._long_poll
                else self._follow_stream(evaluation_id, remaining)
            )
            if evaluation is not None and evaluation.finished:
                return evaluation

    async def run(
        self,
        code: str,
        *,
        tests: Sequence[Mapping[str, Any]] | None = None,
        stdin: str | None = None,
        label: str | None = None,
        wait_timeout: float | None = None,
        **limits: Any,
    ) -> Evaluation:
        """Submit and wait: the finished evaluation. A program that fails is an
        outcome, not an exception; EvaluationFailed when the platform could not
        run it, WaitTimeout when it has not finished after `wait_timeout` s."""
        queued = await self.submit(code, tests=tests, stdin=stdin, label=label, **limits)
        finished = await self.wait(queued.id, wait_timeout)
        if finished.platform_failed:
            raise EvaluationFailed(finished)
        return finished

    async def _long_poll_once(self, evaluation_id: str, remaining: float | None) -> Evaluation:
        seconds = (
            MAX_WAIT_SECONDS if remaining is None else max(1, min(MAX_WAIT_SECONDS, int(remaining)))
        )
        try:
            response = await self._send(
                "GET", f"/evaluations/{evaluation_id}", params={"wait": seconds}
            )
        except InvalidRequest as exc:
            if exc.status_code != 422 or "wait" not in exc.message:
                raise
            self._long_poll = False
            return await self.get(evaluation_id)
        return Evaluation.from_api(response.json())

    async def _follow_stream(
        self, evaluation_id: str, remaining: float | None
    ) -> Evaluation | None:
        """The last state its event stream told before it ended, broke, or
        `remaining` seconds passed."""
        last: Evaluation | None = None
        try:
            async with asyncio.timeout(remaining):
                response = await self._send(
                    "GET", f"/evaluations/{evaluation_id}/stream", stream=True
                )
                try:
                    events = ServerSentEvents()
                    async with _lines(response) as lines:
                        async for line in lines:
                            event = events.feed(line)
                            if event is not None and event[0] == "evaluation":
                                last = Evaluation.from_api(json.loads(event[1]))
                                if last.finished:
                                    return last
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TransportError):
            pass
        return last

    # Many evaluations

    async def evaluate(
        self, items: Iterable[Mapping[str, Any]], *, batch_label: str | None = None
    ) -> AsyncIterator[ItemResult]:
        """Submit many (each item a submission as `POST /evaluations` takes it)
        through batches, and yield each as it finishes, in the order they
        finish. Items the API refuses come first, with their errors; a batch
        refused whole raises InvalidRequest."""
        batches: list[tuple[str, dict[str, tuple[int, str | None]]]] = []
        offset = 0
        for chunk in _chunks(items, self._batch_size):
            for start, receipt in await self._submit_batch(chunk, offset, batch_label):
                members: dict[str, tuple[int, str | None]] = {}
                for item in receipt["items"]:
                    index = start + item["index"]
                    if item.get("id") is None:
                        yield ItemResult(index, item.get("label"), None, tuple(item["errors"]))
                    else:
                        members[item["id"]] = (index, item.get("label"))
                if members:
                    batches.append((receipt["id"], members))
            offset += len(chunk)
        for batch_id, members in batches:
            async for evaluation in self._batch_results(batch_id, members.keys()):
                index, label = members[evaluation.id]
                yield ItemResult(index, evaluation.label or label, evaluation)

    async def map(
        self,
        programs: Iterable[str],
        *,
        tests: Sequence[Mapping[str, Any]] | None = None,
        stdin: str | None = None,
        **limits: Any,
    ) -> AsyncIterator[ItemResult]:
        """`evaluate` of many programs with the same tests, stdin and limits."""
        items = (submission(code, tests=tests, stdin=stdin, **limits) for code in programs)
        async for result in self.evaluate(items):
            yield result

    async def batch(self, batch_id: str) -> dict[str, Any]:
        """`GET /batches/{id}`: its counts by status and outcome, and whether it is done."""
        answer: dict[str, Any] = (await self._send("GET", f"/batches/{batch_id}")).json()
        return answer

    async def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = (await self._send("POST", f"/batches/{batch_id}/cancel")).json()
        return answer

    async def _submit_batch(
        self, chunk: list[Mapping[str, Any]], offset: int, label: str | None
    ) -> list[tuple[int, dict[str, Any]]]:
        """The receipts of `chunk` sent as one batch, or as halves of it when
        the front door finds the body too large."""
        body: dict[str, Any] = {"items": chunk}
        if label is not None:
            body["label"] = label
        try:
            response = await self._send(
                "POST",
                "/batches",
                content=gzip.compress(json.dumps(body).encode(), compresslevel=5),
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
        except InvalidRequest as exc:
            if exc.status_code != 413 or len(chunk) == 1:
                raise
            half = len(chunk) // 2
            return [
                *await self._submit_batch(chunk[:half], offset, label),
                *await self._submit_batch(chunk[half:], offset + half, label),
            ]
        return [(offset, response.json())]

    async def _batch_results(
        self, batch_id: str, members: Collection[str]
    ) -> AsyncIterator[Evaluation]:
        """Its evaluations as they finish, from a stream that is asked again
        from the last cursor whenever it breaks or ends too soon."""
        results = BatchResults(batch_id, members)
        failures = 0
        while not results.complete:
            params = {"wait": "true"}
            if results.cursor is not None:
                params["cursor"] = results.cursor
            try:
                response = await self._send(
                    "GET", f"/batches/{batch_id}/results", params=params, stream=True
                )
                try:
                    async with _lines(response) as lines:
                        async for line in lines:
                            evaluation = results.feed(line)
                            if evaluation is not None:
                                failures = 0
                                yield evaluation
                finally:
                    await response.aclose()
            except httpx.ReadTimeout:
                # Quiet because its programs are slow, not broken: ask again at once.
                continue
            except (httpx.TransportError, BrokenLine) as exc:
                failures = await self._back_off(failures, exc)
            else:
                if not results.complete:  # a proxy ended it early
                    failures = await self._back_off(failures, None)

    # HTTP

    async def _send(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        **request: Any,
    ) -> httpx.Response:
        """The response, once it is not an error: 429 waited out, connections
        and 502/503 tried again, any other error raised as the API's message."""
        idempotent = method == "GET"
        failures = 0
        rate_waited = 0.0
        while True:
            try:
                response = await self._http.send(
                    self._http.build_request(method, path, **request), stream=stream
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failures = await self._back_off(failures, exc)
                continue
            except httpx.TransportError as exc:
                if not idempotent:
                    raise ConnectionFailed(f"{method} {path}: {exc!r}") from exc
                failures = await self._back_off(failures, exc)
                continue
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            if response.status_code == 429:
                delay = retry_after(response)
                if rate_waited + delay <= self._max_rate_wait:
                    rate_waited += delay
                    await asyncio.sleep(delay)
                    continue
                raise error_from_response(response, delay)
            retryable = _RETRY_IDEMPOTENT if idempotent else _RETRY_ANY
            if response.status_code in retryable and failures < self._max_retries:
                failures = await self._back_off(failures, None)
                continue
            raise error_from_response(response)

    async def _back_off(self, failures: int, cause: Exception | None) -> int:
        """Sleeps before try `failures + 1`, longer each time; gives up past `max_retries`."""
        if failures >= self._max_retries:
            raise ConnectionFailed(
                f"{self.url} did not answer after {failures + 1} tries: {cause!r}"
            ) from cause
        await asyncio.sleep(min(30.0, 0.25 * 2**failures) * (0.5 + random.random()))
        return failures + 1


def submission(
    code: str,
    *,
    tests: Sequence[Mapping[str, Any]] | None = None,
    stdin: str | None = None,
    label: str | None = None,
    **limits: Any,
) -> dict[str, Any]:
    """The body of one submission: only what was given, so that a server that
    predates a field is not sent it."""
    body: dict[str, Any] = {"code": code}
    given = {"tests": tests, "stdin": stdin, "label": label, **limits}
    body.update({name: value for name, value in given.items() if value is not None})
    if tests is not None:
        body["tests"] = [dict(case) for case in tests]
    return body


def retry_after(response: httpx.Response) -> float:
    """Seconds its Retry-After asks for (a number or an HTTP date); 1 when it says nothing."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 1.0


def _lines(response: httpx.Response) -> aclosing[AsyncGenerator[str, None]]:
    """Its lines, closed when left: a stream left early must not leave its
    reader for the loop to finalise after the client has stopped it."""
    return aclosing(cast(AsyncGenerator[str, None], response.aiter_lines()))


def _chunks(items: Iterable[Mapping[str, Any]], size: int) -> Iterable[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    for item in items:
        chunk.append(dict(item))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
