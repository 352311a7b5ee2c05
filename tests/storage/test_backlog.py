"""The backlog counter against a real Redis, in the interleavings that
concurrent submissions and finishes produce; `stored` stands for what the
database has committed, the count a recount reads."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import redis as redis_py

from crucible_shared import redis_keys
from crucible_shared.ids import new_id
from crucible_storage.backlog import Backlog, BacklogFull
from tests.support.servers import RedisServer


@pytest.fixture
def backlog(redis: RedisServer) -> Iterator[Backlog]:
    counter = Backlog(redis.url)
    yield counter
    counter.close()


class Database:
    def __init__(self) -> None:
        self.stored = 0

    def count(self) -> int:
        return self.stored


def _never() -> int:
    pytest.fail("the counter was recounted from the database")


def _admit(backlog: Backlog, owner: str, bound: int, count: Callable[[], int]) -> None:
    with backlog.admitted(owner, 1, bound, count):
        pass


def test_a_recount_counts_admissions_still_being_stored(backlog: Backlog) -> None:
    owner, database = new_id(), Database()
    with ExitStack() as storing:
        for _ in range(3):
            storing.enter_context(backlog.admitted(owner, 1, 3, database.count))
        # The database has none of the three yet; the recount it triggers must not forget them.
        with pytest.raises(BacklogFull, match="may have 3 .* it has 3"):
            _admit(backlog, owner, 3, database.count)


def test_a_finish_committed_before_a_recount_is_not_taken_off_after_it(backlog: Backlog) -> None:
    owner, database = new_id(), Database()
    for _ in range(2):
        with backlog.admitted(owner, 1, 2, database.count):
            database.stored += 1
    epoch = backlog.epoch(owner)
    database.stored -= 1  # one finishes: committed, its count not yet taken off
    with backlog.admitted(owner, 1, 2, database.count):  # recounted: 1, so it fits
        database.stored += 1
    backlog.release(owner, epoch)  # the recount already left it out

    with pytest.raises(BacklogFull):
        _admit(backlog, owner, 2, database.count)


def test_a_finish_frees_its_place_without_a_recount(backlog: Backlog) -> None:
    owner, database = new_id(), Database()
    with backlog.admitted(owner, 1, 1, database.count):
        database.stored += 1
    epoch = backlog.epoch(owner)
    database.stored -= 1
    backlog.release(owner, epoch)

    _admit(backlog, owner, 1, _never)


def test_a_store_that_fails_gives_its_place_back(backlog: Backlog) -> None:
    owner, database = new_id(), Database()
    _admit(backlog, owner, 5, database.count)  # the counter is known from here on
    with pytest.raises(RuntimeError), backlog.admitted(owner, 4, 5, _never):
        raise RuntimeError("the database refused")

    with backlog.admitted(owner, 4, 5, _never):
        pass


def test_a_counter_that_drifted_high_is_recounted_rather_than_refusing(
    backlog: Backlog, redis: RedisServer
) -> None:
    owner, database = new_id(), Database()
    with redis_py.Redis.from_url(redis.url) as direct:
        direct.set(redis_keys.key_active(owner), 7)  # a crash between commits and counts

    _admit(backlog, owner, 3, database.count)


def test_a_recount_that_fails_does_not_stop_finishes_being_taken_off(backlog: Backlog) -> None:
    owner, database = new_id(), Database()
    with backlog.admitted(owner, 1, 1, database.count):
        database.stored += 1

    def unavailable() -> int:
        raise RuntimeError("the database is away")

    with pytest.raises(RuntimeError), backlog.admitted(owner, 1, 1, unavailable):
        pass  # about to refuse: a recount, which fails
    epoch = backlog.epoch(owner)
    database.stored -= 1
    backlog.release(owner, epoch)

    _admit(backlog, owner, 1, _never)
