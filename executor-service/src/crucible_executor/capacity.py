"""How many evaluations this executor runs at once, and which slot each one holds."""

from crucible_executor import metrics


class Capacity:
    """Slots for concurrent evaluations, numbered 0 to limit - 1.

    A slot's number gives its sandbox a uid of its own, so two runs at once
    never share one. Claiming is synchronous: on one event loop nothing can
    interleave between the check and the taking.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = set(range(limit))
        metrics.CAPACITY.set(limit)

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
