"""The object-store interface: keys to immutable bytes, replaced whole."""

from collections.abc import Iterator
from typing import Protocol

# Chunk size of streamed reads.
CHUNK_BYTES = 64 * 1024


class ObjectMissing(KeyError):
    pass


class ObjectStore(Protocol):
    """Keys are `/`-separated paths of safe characters (ids, fixed names).

    `put` replaces an object atomically: a reader sees the old bytes or the
    new ones, never a mixture, and a crash leaves one of the two.
    """

    location: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes; `ObjectMissing` if there is none."""
        ...

    def stream(self, key: str) -> Iterator[bytes]:
        """The object in chunks; `ObjectMissing` (raised before the first chunk) if none."""
        ...

    def delete(self, key: str) -> None:
        """Removes the object if it exists."""
        ...

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key that starts with `prefix`, in no particular order."""
        ...

    def usage(self, prefix: str) -> tuple[int, int]:
        """How many objects start with `prefix`, and their total size in bytes."""
        ...

    def ready(self) -> bool: ...
