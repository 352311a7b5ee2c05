"""Field declarations that more than one schema uses."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from annotated_types import GroupedMetadata
from pydantic import BeforeValidator, Field

from crucible_shared.limits import Bound


def _json_integer(value: object) -> object:
    # pydantic's lax mode reads `true` as 1 and "30" as 30; a client that sent
    # those has a bug it should hear about. 30.0 stays an integer, as JSON
    # Schema (and so the API's document) counts it one.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a JSON number, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Bounded(GroupedMetadata):
    """`Annotated[int, Bounded(limits.X)]`: an integer as JSON Schema has it,
    within one of the bounds in `limits`."""

    bound: Bound
    description: str | None = None

    def __iter__(self) -> Iterator[Any]:
        # In this order: the bounds stay in the JSON schema only when they
        # come before the validator.
        yield Field(ge=self.bound.minimum, le=self.bound.maximum, description=self.description)
        yield BeforeValidator(_json_integer)


def within_bytes(value: str, field: str, maximum: int) -> str:
    """`value`, if its UTF-8 encoding fits in `maximum` bytes; a ValueError naming both if not."""
    size = len(value.encode("utf-8"))
    if size > maximum:
        raise ValueError(f"{field} is {size} bytes; the limit is {maximum} bytes")
    return value
