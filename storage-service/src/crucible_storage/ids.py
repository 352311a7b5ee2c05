"""Ids of evaluations and dead letters: canonical UUID4 strings."""

from uuid import UUID, uuid4


def new_id() -> str:
    return str(uuid4())


def is_canonical_id(text: str) -> bool:
    """Whether `text` could be an id; anything else is not worth a query."""
    try:
        return str(UUID(text)) == text
    except ValueError:
        return False
