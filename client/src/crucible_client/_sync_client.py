"""`Crucible`: `AsyncCrucible` for code that does not use asyncio.

Each call runs the asynchronous client on an event loop in a daemon thread of
the client's own, so that both behave the same by construction, and so that the
client works where a loop is already running (a notebook). A daemon thread does
not keep a script alive that forgot `close()`.
"""

import asyncio
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future
from typing import Any, TypeVar

from crucible_client._async_client import AsyncCrucible
from crucible_client._models import Evaluation, ItemResult

T = TypeVar("T")


class Crucible:
    """A Crucible platform: `run`, `submit`, `wait`, `evaluate`, `map`.

    Takes the same arguments as AsyncCrucible; its methods are the same, blocking."""

    def __init__(self, url: str | None = None, api_key: str | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="crucible-client", daemon=True
        )
        self._thread.start()
        try:
            self._client = self._call(_make_client, url, api_key, options)
        except BaseException:
            self._stop()
            raise
        self.url = self._client.url

    def __enter__(self) -> "Crucible":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._client.aclose)
            self._call(_finalise_generators, self._loop)
        finally:
            self._stop()

    def submit(
        self,
        code: str,
        *,
        tests: Sequence[Mapping[str, Any]] | None = None,
        stdin: str | None = None,
        label: str | None = None,
        **limits: Any,
    ) -> Evaluation:
        return self._call(
            self._client.submit, code, tests=tests, stdin=stdin, label=label, **limits
        )

    def get(self, evaluation_id: str) -> Evaluation:
        return self._call(self._client.get, evaluation_id)

    def cancel(self, evaluation_id: str) -> Evaluation:
        return self._call(self._client.cancel, evaluation_id)

    def wait(self, evaluation_id: str, timeout: float | None = None) -> Evaluation:
        return self._call(self._client.wait, evaluation_id, timeout)

    def run(
        self,
        code: str,
        *,
        tests: Sequence[Mapping[str, Any]] | None = None,
        stdin: str | None = None,
        label: str | None = None,
        wait_timeout: float | None = None,
        **limits: Any,
    ) -> Evaluation:
        return self._call(
            self._client.run,
            code,
            tests=tests,
            stdin=stdin,
            label=label,
            wait_timeout=wait_timeout,
            **limits,
        )

    def evaluate(
        self, items: Iterable[Mapping[str, Any]], *, batch_label: str | None = None
    ) -> Iterator[ItemResult]:
        return self._iterate(self._client.evaluate(items, batch_label=batch_label))

    def map(
        self,
        programs: Iterable[str],
        *,
        tests: Sequence[Mapping[str, Any]] | None = None,
        stdin: str | None = None,
        **limits: Any,
    ) -> Iterator[ItemResult]:
        return self._iterate(self._client.map(programs, tests=tests, stdin=stdin, **limits))

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self._call(self._client.batch, batch_id)

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        return self._call(self._client.cancel_batch, batch_id)

    def _call(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(
            _awaited(function(*args, **kwargs)), self._loop
        )
        try:
            return future.result()
        except BaseException:
            # Ctrl-C while waiting: the request is abandoned, not left running.
            future.cancel()
            raise

    def _iterate(self, results: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._call(results.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(results, "aclose", None)
            if aclose is not None and not self._loop.is_closed():
                self._call(aclose)

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _make_client(
    url: str | None, api_key: str | None, options: dict[str, Any]
) -> AsyncCrucible:
    return AsyncCrucible(url, api_key, **options)


async def _finalise_generators(loop: asyncio.AbstractEventLoop) -> None:
    """Closes what httpx's stream readers left suspended, and lets the closing
    run, before the loop stops: else asyncio reports their tasks as destroyed."""
    await loop.shutdown_asyncgens()
    await asyncio.sleep(0)


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
