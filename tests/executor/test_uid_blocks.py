"""Executors sharing a host take uid blocks of their own, held for as long as they live."""

from pathlib import Path

from crucible_executor.capacity import UID_BLOCK, Capacity, UidBlock


def test_two_executors_on_one_host_never_share_a_uid(tmp_path: Path) -> None:
    first, second = UidBlock(1_000_000, tmp_path), UidBlock(1_000_000, tmp_path)
    assert (first.first_uid, second.first_uid) == (1_000_000, 1_000_000 + UID_BLOCK)
    slots = [Capacity(2, block.first_uid) for block in (first, second)]
    uids = {capacity.uid(slot) for capacity in slots for slot in range(2)}
    assert len(uids) == 4

    # A block given back (its executor gone, as a crash would) is taken again.
    first.close()
    again = UidBlock(1_000_000, tmp_path)
    assert again.first_uid == 1_000_000
    again.close()
    second.close()
