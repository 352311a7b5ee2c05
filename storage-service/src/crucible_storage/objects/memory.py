"""Objects in a dict: for tests, gone when the process ends."""

from collections.abc import Iterator
from threading import Lock

from crucible_storage.objects.base import CHUNK_BYTES, ObjectMissing


class MemoryObjects:
    location = "memory"

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = Lock()

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._objects[key] = bytes(data)

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._objects[key]
            except KeyError:
                raise ObjectMissing(key) from None

    def stream(self, key: str) -> Iterator[bytes]:
        data = self.get(key)
        return (data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES))

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def keys(self, prefix: str) -> Iterator[str]:
        with self._lock:
            return iter([key for key in self._objects if key.startswith(prefix)])

    def usage(self, prefix: str) -> tuple[int, int]:
        with self._lock:
            sizes = [len(data) for key, data in self._objects.items() if key.startswith(prefix)]
        return len(sizes), sum(sizes)

    def ready(self) -> bool:
        return True
