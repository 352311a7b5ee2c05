"""Ids of evaluations and dead letters: canonical UUID4 strings."""

import re
from uuid import uuid4

# The canonical form: lower-case hex in 8-4-4-4-12 groups, as `new_id` writes it.
ID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ID = re.compile(ID_PATTERN)


def new_id() -> str:
    return str(uuid4())


def is_canonical_id(text: str) -> bool:
    """Whether `text` could be an id; anything else is not worth a query."""
    return _ID.fullmatch(text) is not None
