"""Opaque cursors for keyset pagination, newest first.

A cursor names the last evaluation of a page by (created_at, id); the next
page holds what comes strictly after it in that order. Evaluations created
meanwhile sort before every cursor already handed out, so they neither shift
a later page nor repeat an item.
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

from crucible_shared.ids import is_canonical_id
from crucible_storage.errors import RequestRejected

_SEPARATOR = "|"


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    evaluation_id: str

    def encode(self) -> str:
        text = f"{self.created_at.isoformat()}{_SEPARATOR}{self.evaluation_id}"
        return base64.urlsafe_b64encode(text.encode()).decode()

    @classmethod
    def decode(cls, token: str) -> Self:
        try:
            text = base64.urlsafe_b64decode(token.encode("ascii")).decode()
            created_at, evaluation_id = text.split(_SEPARATOR)
            moment = datetime.fromisoformat(created_at)
            if moment.tzinfo is not None and is_canonical_id(evaluation_id):
                return cls(moment.astimezone(UTC), evaluation_id)
        # binascii.Error and the Unicode errors are ValueErrors too.
        except (ValueError, OverflowError):
            pass
        raise RequestRejected("cursor is malformed: pass a next_cursor back unchanged")
