"""Reading the API's streams, independent of how the bytes arrive.

A batch's results come as NDJSON lines, each an evaluation with a `cursor`;
after a broken connection the stream is asked again from the last cursor
seen, and `BatchResults` makes sure nothing is yielded twice or missed.
"""

import json
from collections.abc import Collection
from typing import Any

from crucible_client._errors import CrucibleError
from crucible_client._models import Evaluation


class BrokenLine(CrucibleError):
    """A line that is not a whole JSON document: the connection was cut in it."""


class BatchResults:
    """The results of one batch so far: which arrived, and where to resume."""

    def __init__(self, batch_id: str, expected: Collection[str]) -> None:
        self.batch_id = batch_id
        self._expected = frozenset(expected)
        self._seen: set[str] = set()
        self.cursor: str | None = None

    @property
    def complete(self) -> bool:
        return self._seen >= self._expected

    def feed(self, line: str) -> Evaluation | None:
        """The evaluation a line carries, or None when it carries nothing new."""
        if not line.strip():
            return None
        try:
            data: Any = json.loads(line)
        except ValueError as exc:
            raise BrokenLine(f"an incomplete line in batch {self.batch_id}'s results") from exc
        if not isinstance(data, dict) or "id" not in data:
            raise BrokenLine(f"a line of batch {self.batch_id}'s results is not an evaluation")
        cursor = data.pop("cursor", None)
        if data["id"] not in self._expected:
            raise CrucibleError(
                f"batch {self.batch_id}'s results named evaluation {data['id']}, "
                "which is not one of its items"
            )
        if cursor is not None:
            self.cursor = str(cursor)
        if data["id"] in self._seen:
            return None
        self._seen.add(data["id"])
        return Evaluation.from_api(data)


class ServerSentEvents:
    """Assembles a Server-Sent Events stream, a line at a time, into (event, data) pairs."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        """The event that a blank line completes, else None."""
        if not line:
            event, data = self._event, self._data
            self._event, self._data = "message", []
            return (event, "\n".join(data)) if data else None
        if not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
        return None
