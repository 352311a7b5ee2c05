"""A batch on a document backend (file, S3) is all or none, like a transaction."""

from datetime import UTC, datetime

import pytest

from crucible_shared.schemas.evaluations import EvaluationFilter, OwnedSubmission
from crucible_storage import rules
from crucible_storage.backends.documents import DocumentBackend
from crucible_storage.objects.memory import MemoryObjects


class _FailingAfter(MemoryObjects):
    """A store that refuses writes after the first few, as S3 or a full disk can."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes_left = writes

    def put(self, key: str, data: bytes) -> None:
        if self.writes_left == 0:
            raise OSError("no space left on device")
        self.writes_left -= 1
        super().put(key, data)


def test_a_batch_that_fails_midway_leaves_nothing() -> None:
    objects = _FailingAfter(writes=3)
    backend = DocumentBackend("file", objects)
    now = datetime.now(UTC)
    batch = [rules.new_evaluation(OwnedSubmission(code=f"print({n})"), now) for n in range(5)]

    with pytest.raises(OSError, match="no space left"):
        backend.insert(batch)

    assert backend.count(EvaluationFilter()) == 0
    assert list(objects.keys("")) == []
    # And the backend still works once the store does.
    objects.writes_left = 5
    backend.insert(batch)
    assert backend.count(EvaluationFilter()) == 5
