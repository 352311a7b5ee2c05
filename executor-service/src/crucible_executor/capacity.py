"""How many evaluations this executor runs at once."""

from crucible_executor import metrics


class Capacity:
    """Slots for concurrent evaluations.

    Claiming is synchronous: on one event loop nothing can interleave between
    the check and the increment.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        metrics.CAPACITY.set(limit)

    def claim(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        metrics.SLOTS_IN_USE.set(self.in_use)
        return True

    def release(self) -> None:
        self.in_use -= 1
        metrics.SLOTS_IN_USE.set(self.in_use)
