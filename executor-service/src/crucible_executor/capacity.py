"""How many evaluations this executor runs at once."""


class Capacity:
    """Slots for concurrent evaluations.

    Claiming is synchronous: on one event loop nothing can interleave between
    the check and the increment.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def claim(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1
