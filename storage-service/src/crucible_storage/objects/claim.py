"""One storage process per data directory, for the backends that index in memory."""

import fcntl
import os
from pathlib import Path


class DirectoryTaken(RuntimeError):
    pass


def claim_directory(directory: Path) -> int:
    """Holds an exclusive lock on `directory` until the returned descriptor is closed."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise DirectoryTaken(
            f"{directory} is in use by another storage process; the file backend allows one"
        ) from None
    return descriptor
