"""The executor pool's Lua scripts, against a real Redis."""

import threading
import time

from redis import Redis

from crucible_shared import redis_keys
from crucible_shared.executor_registry import deregister_executor, pool_status
from crucible_worker.pool.leases import ExecutorPool
from tests.support.servers import RedisServer
from tests.worker.conftest import add_executor


def _double_releases(redis: Redis) -> int:
    return int(redis.get(redis_keys.LEASE_DOUBLE_RELEASES) or 0)


def test_an_empty_pool_has_no_slot(pool_redis: Redis) -> None:
    assert ExecutorPool(pool_redis, 30).claim_slot("e1") is None


def test_claims_stop_at_capacity(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=2)
    pool = ExecutorPool(pool_redis, 30)

    first, second = pool.claim_slot("e1"), pool.claim_slot("e2")

    assert first is not None and second is not None
    assert (first.executor_id, first.executor_url) == ("x1", "http://x1.test")
    assert first.token != second.token
    assert pool.claim_slot("e3") is None
    assert pool_status(pool_redis)[0].slots_in_use == 2


def test_the_executor_with_most_free_slots_is_chosen(pool_redis: Redis) -> None:
    add_executor(pool_redis, "small", capacity=1)
    add_executor(pool_redis, "large", capacity=3)
    pool = ExecutorPool(pool_redis, 30)

    chosen = [pool.claim_slot(f"e{n}") for n in range(4)]

    assert [lease.executor_id for lease in chosen if lease] == ["large", "large", "large", "small"]


def test_an_executor_that_stopped_beating_gets_no_work(pool_redis: Redis) -> None:
    add_executor(pool_redis, "gone", capacity=4, ttl=0.1)
    time.sleep(0.2)

    assert ExecutorPool(pool_redis, 30).claim_slot("e1") is None
    assert pool_status(pool_redis)[0].alive is False


def test_a_deregistered_executor_leaves_the_pool(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    deregister_executor(pool_redis, executor_id="x1")

    assert pool_status(pool_redis) == []
    assert ExecutorPool(pool_redis, 30).claim_slot("e1") is None


def test_release_gives_the_slot_back_once(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    pool = ExecutorPool(pool_redis, 30)
    lease = pool.claim_slot("e1")
    assert lease is not None
    assert pool.is_held("e1")

    assert pool.release_lease(lease) is True
    assert not pool.is_held("e1")
    assert _double_releases(pool_redis) == 0
    # The seeds' double callback: link and link_error both releasing.
    assert pool.release_lease(lease) is False
    assert _double_releases(pool_redis) == 1
    assert pool.claim_slot("e2") is not None
    assert pool_status(pool_redis)[0].slots_in_use == 1


def test_an_expired_lease_gives_its_slot_back_and_its_release_is_a_no_op(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    pool = ExecutorPool(pool_redis, 0.1)
    stale = pool.claim_slot("e1")
    assert stale is not None
    time.sleep(0.2)

    fresh = pool.claim_slot("e2")
    assert fresh is not None

    assert pool.release_lease(stale) is False
    assert _double_releases(pool_redis) == 1
    assert pool.renew_lease(stale) is False
    # The stale release did not free the fresh lease's slot.
    assert pool.claim_slot("e3") is None


def test_renewing_keeps_a_lease_past_its_ttl(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    pool = ExecutorPool(pool_redis, 0.3)
    lease = pool.claim_slot("e1")
    assert lease is not None

    for _ in range(4):
        time.sleep(0.15)
        assert pool.renew_lease(lease) is True

    assert pool.claim_slot("e2") is None
    assert pool.is_held("e1")


def test_two_workers_racing_for_the_last_slot_exactly_one_wins(
    pool_redis: Redis, redis: RedisServer
) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    pools = [ExecutorPool(Redis.from_url(redis.url), 30) for _ in range(2)]

    for round_number in range(200):
        barrier = threading.Barrier(2)
        won: list[object] = []

        def race(
            pool: ExecutorPool,
            n: int = round_number,
            barrier: threading.Barrier = barrier,
            won: list[object] = won,
        ) -> None:
            barrier.wait()
            won.append(pool.claim_slot(f"e{n}"))

        threads = [threading.Thread(target=race, args=(pool,)) for pool in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        winners = [lease for lease in won if lease is not None]
        assert len(winners) == 1, f"round {round_number}: {won}"
        assert pools[0].release_lease(winners[0])  # type: ignore[arg-type]


def test_an_evicted_executor_gets_no_work_until_it_beats_again(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    pool = ExecutorPool(pool_redis, 30)

    pool.evict("x1")
    assert pool.claim_slot("e1") is None

    add_executor(pool_redis, "x1", capacity=1)  # its next heartbeat
    assert pool.claim_slot("e1") is not None
