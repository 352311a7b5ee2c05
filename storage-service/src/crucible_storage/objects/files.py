"""Objects as files under a directory, each written atomically."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from crucible_storage.objects.base import CHUNK_BYTES, ObjectMissing


class FileObjects:
    """`put` writes a temporary file beside the target, fsyncs it, renames it
    over the target and fsyncs the directory: after a crash the key holds the
    old bytes or the new, and a rename that returned survives a power cut."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        self.location = str(self._root)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def stream(self, key: str) -> Iterator[bytes]:
        try:
            file = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return _chunks(file)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_directory(path.parent)
        if path.parent != self._root:
            # An evaluation's blob directory goes with its last blob.
            with suppress(OSError):
                path.parent.rmdir()

    def keys(self, prefix: str) -> Iterator[str]:
        # Only the prefix's own directory is walked: the blobs' count must not
        # read every evaluation document too.
        for path in (self._root / prefix.rpartition("/")[0]).rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self._root).as_posix()
                if key.startswith(prefix):
                    yield key

    def usage(self, prefix: str) -> tuple[int, int]:
        sizes = [self._path(key).stat().st_size for key in self.keys(prefix)]
        return len(sizes), sum(sizes)

    def ready(self) -> bool:
        return self._root.is_dir() and os.access(self._root, os.W_OK)

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        # Keys are built from validated ids, so this only guards against a bug.
        if not path.is_relative_to(self._root):
            raise ValueError(f"object key {key!r} leaves {self._root}")
        return path


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
