"""How many evaluations this executor runs at once, which slot each one holds,
and the host uid each slot's sandbox runs as."""

import fcntl
import os
from pathlib import Path

from crucible_executor import metrics
from crucible_executor.sandbox.base import SandboxUnavailable

# Several executors may share a host (a multi-host test, or two Compose
# services on one machine): each takes a block of uids of its own, held by a
# lock on a file for as long as it lives, so that no two sandboxes of the
# host ever share a uid and its per-uid budgets. A block holds this many.
UID_BLOCK = 1000
_BLOCKS = 1000


class Capacity:
    """Slots for concurrent evaluations, numbered 0 to limit - 1.

    A slot's number gives its sandbox a uid of its own, so two runs at once
    never share one. Claiming is synchronous: on one event loop nothing can
    interleave between the check and the taking.
    """

    def __init__(self, limit: int, first_uid: int) -> None:
        self.limit = limit
        self.first_uid = first_uid
        self._free = set(range(limit))
        metrics.CAPACITY.set(limit)

    def uid(self, slot: int) -> int:
        return self.first_uid + slot

    @property
    def in_use(self) -> int:
        return self.limit - len(self._free)

    def claim(self) -> int | None:
        """The lowest free slot, now taken; `None` when every slot is."""
        if not self._free:
            return None
        slot = min(self._free)
        self._free.remove(slot)
        metrics.SLOTS_IN_USE.set(self.in_use)
        return slot

    def release(self, slot: int) -> None:
        self._free.add(slot)
        metrics.SLOTS_IN_USE.set(self.in_use)


class UidBlock:
    """The first uid of a block no other executor of this host holds, until `close()`."""

    def __init__(self, base: int, locks: Path) -> None:
        locks.mkdir(parents=True, exist_ok=True)
        for index in range(_BLOCKS):
            fd = os.open(locks / str(index), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd = fd
            self.first_uid = base + index * UID_BLOCK
            return
        raise SandboxUnavailable(f"every one of {_BLOCKS} uid blocks is held on this host")

    def close(self) -> None:
        os.close(self._fd)
